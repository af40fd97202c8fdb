// Handle tables: an id is (generation << 24) | (slot + 1), so 0 is never a
// valid id and a deleted object's id is rejected once its slot is reused.
// Generations run 1..127 so every id stays positive as an i32 return value
// (exports return ids and negative status codes through the same i32).
//
// One u32 per slot, from the one allocator (alloc.ts). T is an unmanaged
// record type with an `id: u32` field holding the id put() gave it:
//   live slot   the record's address (16-byte aligned, so bit 0 is 0); the
//               record's own id carries the generation the lookup checks;
//   free slot   ((next free slot + 1) << 8) | (generation << 1) | 1: the free
//               slots form a stack (last freed, first reused) threaded through
//               the table, and each keeps the generation its next id gets.
const SLOT_BITS: u32 = 24;
const SLOT_MASK: u32 = (1 << SLOT_BITS) - 1;
const MAX_GEN: u32 = 127;
import { alloc, free } from "./alloc";

@unmanaged export class Slots<T> {
  /** Entry per slot (see the file comment). */
  items: usize = 0;
  len: i32 = 0;
  cap: i32 = 0;
  /** Top of the free-slot stack; -1 when empty. */
  freeTop: i32 = -1;
  count: i32 = 0;

  /** Slots ever used (live or free): iterate 0..slotCount() with at(). */
  @inline slotCount(): i32 { return this.len; }

  /** The record in slot i, or null. */
  @inline at(i: i32): T | null {
    const e = load<usize>(this.items + (<usize>i << 2));
    return changetype<T | null>((e & 1) != 0 ? 0 : e);
  }

  private grow(): bool {
    const cap = this.cap == 0 ? 16 : this.cap << 1;
    const items = alloc(<usize>cap << 2);
    if (items == 0) return false;
    const old = <usize>this.cap << 2;
    memory.copy(items, this.items, old);
    free(this.items, old);
    this.items = items;
    this.cap = cap;
    return true;
  }

  /** Room for one more put() without allocating; false when memory cannot grow. */
  reserve(): bool {
    return this.freeTop >= 0 || this.len < this.cap || this.grow();
  }

  /** Reserve a slot for `item`; returns its id, or 0 when memory cannot grow. */
  put(item: T): u32 {
    let slot: i32;
    let gen: u32 = 1;
    if (this.freeTop >= 0) {
      slot = this.freeTop;
      const e = load<u32>(this.items + (<usize>slot << 2));
      this.freeTop = <i32>(e >> 8) - 1;
      gen = (e >> 1) & MAX_GEN;
    } else {
      if (this.len == this.cap && !this.grow()) return 0;
      slot = this.len++;
    }
    store<usize>(this.items + (<usize>slot << 2), changetype<usize>(item));
    this.count++;
    return (gen << SLOT_BITS) | (<u32>slot + 1);
  }

  /** The live item with this id, or null (unknown or stale). */
  @inline get(id: u32): T | null {
    const slot = <i32>(id & SLOT_MASK) - 1;
    if (slot < 0 || slot >= this.len) return null;
    const e = load<usize>(this.items + (<usize>slot << 2));
    if ((e & 1) != 0 || load<u32>(e + offsetof<T>("id")) != id) return null;
    return changetype<T | null>(e);
  }

  /** True when id has the right shape but names a deleted object. */
  isStale(id: u32): bool {
    const slot = <i32>(id & SLOT_MASK) - 1;
    if (slot < 0 || slot >= this.len) return false;
    const e = load<u32>(this.items + (<usize>slot << 2));
    const gen = (e & 1) != 0 ? (e >> 1) & MAX_GEN : load<u32>(e + offsetof<T>("id")) >> SLOT_BITS;
    return gen != id >> SLOT_BITS;
  }

  drop(id: u32): void {
    const slot = <i32>(id & SLOT_MASK) - 1;
    if (slot < 0 || slot >= this.len) return;
    const at = this.items + (<usize>slot << 2);
    const e = load<u32>(at);
    if ((e & 1) != 0) return;
    let g = (load<u32>(e + offsetof<T>("id")) >> SLOT_BITS) + 1;
    if (g > MAX_GEN) g = 1;
    // The stack lives in the freed entries, so this never allocates.
    store<u32>(at, (<u32>(this.freeTop + 1) << 8) | (g << 1) | 1);
    this.freeTop = slot;
    this.count--;
  }
}
