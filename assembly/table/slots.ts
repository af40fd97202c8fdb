// Handle tables: an id is (generation << 24) | (slot + 1), so 0 is never a
// valid id and a deleted object's id is rejected once its slot is reused.
// Generations run 1..127 so every id stays positive as an i32 return value
// (exports return ids and negative status codes through the same i32).
export const SLOT_BITS: u32 = 24;
const SLOT_MASK: u32 = (1 << SLOT_BITS) - 1;
const MAX_GEN: u32 = 127;

export class Slots<T> {
  items: Array<T | null> = new Array<T | null>();
  gens: Array<u32> = new Array<u32>();
  free: Array<i32> = new Array<i32>();
  count: i32 = 0;

  /** Reserve a slot for `item`; returns its id. */
  put(item: T): u32 {
    let slot: i32;
    if (this.free.length > 0) {
      slot = this.free.pop();
      this.items[slot] = item;
    } else {
      slot = this.items.length;
      this.items.push(item);
      this.gens.push(1);
    }
    this.count++;
    return (this.gens[slot] << SLOT_BITS) | (<u32>slot + 1);
  }

  /** The live item with this id, or null (unknown or stale). */
  get(id: u32): T | null {
    const slot = <i32>(id & SLOT_MASK) - 1;
    if (slot < 0 || slot >= this.items.length) return null;
    if (this.gens[slot] != id >> SLOT_BITS) return null;
    return this.items[slot];
  }

  /** True when id has the right shape but names a deleted object. */
  isStale(id: u32): bool {
    const slot = <i32>(id & SLOT_MASK) - 1;
    return slot >= 0 && slot < this.items.length && this.gens[slot] != id >> SLOT_BITS;
  }

  drop(id: u32): void {
    const slot = <i32>(id & SLOT_MASK) - 1;
    if (slot < 0 || slot >= this.items.length) return;
    this.items[slot] = null;
    let g = this.gens[slot] + 1;
    if (g > MAX_GEN) g = 1;
    this.gens[slot] = g;
    this.free.push(slot);
    this.count--;
  }
}
