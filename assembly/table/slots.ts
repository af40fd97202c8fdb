// Handle tables: an id is (generation << 24) | (slot + 1), so 0 is never a
// valid id and a deleted object's id is rejected once its slot is reused.
// Generations run 1..127 so every id stays positive as an i32 return value
// (exports return ids and negative status codes through the same i32).
// Slots, generations and the free-slot stack are arrays from the one
// allocator (alloc.ts); T is an unmanaged record type (a pointer).
import { alloc, free } from "./alloc";

export const SLOT_BITS: u32 = 24;
const SLOT_MASK: u32 = (1 << SLOT_BITS) - 1;
const MAX_GEN: u32 = 127;

@unmanaged export class Slots<T> {
  /** Record pointer per slot (0 = free). */
  items: usize = 0;
  /** Generation per slot (u32). */
  gens: usize = 0;
  /** Stack of free slot numbers (i32). */
  freeSlots: usize = 0;
  len: i32 = 0;
  cap: i32 = 0;
  nfree: i32 = 0;
  count: i32 = 0;

  /** Slots ever used (live or free): iterate 0..slotCount() with at(). */
  @inline slotCount(): i32 { return this.len; }

  /** The record in slot i, or null. */
  @inline at(i: i32): T | null {
    return changetype<T | null>(load<usize>(this.items + (<usize>i << 2)));
  }

  private grow(): bool {
    const cap = this.cap == 0 ? 16 : this.cap << 1;
    const items = alloc(<usize>cap << 2);
    const gens = alloc(<usize>cap << 2);
    const fs = alloc(<usize>cap << 2);
    if (items == 0 || gens == 0 || fs == 0) {
      free(items, <usize>cap << 2);
      free(gens, <usize>cap << 2);
      free(fs, <usize>cap << 2);
      return false;
    }
    const old = <usize>this.cap << 2;
    memory.copy(items, this.items, old);
    memory.copy(gens, this.gens, old);
    memory.copy(fs, this.freeSlots, <usize>this.nfree << 2);
    free(this.items, old);
    free(this.gens, old);
    free(this.freeSlots, old);
    this.items = items;
    this.gens = gens;
    this.freeSlots = fs;
    this.cap = cap;
    return true;
  }

  /** Room for one more put() without allocating; false when memory cannot grow. */
  reserve(): bool {
    return this.nfree > 0 || this.len < this.cap || this.grow();
  }

  /** Reserve a slot for `item`; returns its id, or 0 when memory cannot grow. */
  put(item: T): u32 {
    let slot: i32;
    if (this.nfree > 0) {
      slot = load<i32>(this.freeSlots + (<usize>(--this.nfree) << 2));
    } else {
      if (this.len == this.cap && !this.grow()) return 0;
      slot = this.len++;
      store<u32>(this.gens + (<usize>slot << 2), 1);
    }
    store<usize>(this.items + (<usize>slot << 2), changetype<usize>(item));
    this.count++;
    return (load<u32>(this.gens + (<usize>slot << 2)) << SLOT_BITS) | (<u32>slot + 1);
  }

  /** The live item with this id, or null (unknown or stale). */
  @inline get(id: u32): T | null {
    const slot = <i32>(id & SLOT_MASK) - 1;
    if (slot < 0 || slot >= this.len) return null;
    if (load<u32>(this.gens + (<usize>slot << 2)) != id >> SLOT_BITS) return null;
    return changetype<T | null>(load<usize>(this.items + (<usize>slot << 2)));
  }

  /** True when id has the right shape but names a deleted object. */
  isStale(id: u32): bool {
    const slot = <i32>(id & SLOT_MASK) - 1;
    return slot >= 0 && slot < this.len && load<u32>(this.gens + (<usize>slot << 2)) != id >> SLOT_BITS;
  }

  drop(id: u32): void {
    const slot = <i32>(id & SLOT_MASK) - 1;
    if (slot < 0 || slot >= this.len) return;
    store<usize>(this.items + (<usize>slot << 2), 0);
    let g = load<u32>(this.gens + (<usize>slot << 2)) + 1;
    if (g > MAX_GEN) g = 1;
    store<u32>(this.gens + (<usize>slot << 2), g);
    // The stack has a cell per slot, so this never needs to grow.
    store<i32>(this.freeSlots + (<usize>(this.nfree++) << 2), slot);
    this.count--;
  }
}
