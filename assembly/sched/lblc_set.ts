// Destination sets of lblcr (struct ip_vs_dest_set): per cache entry a list
// of dests, newest first, and the time it last changed. Elements come from a
// pool with a free list; sets are threaded through `next` by element index.
// A member holds its dest (holdDest/putDest), as the kernel's sets do.
import { Dest, holdDest, putDest } from "../service/dest";
import { Ptrs, Nums, allocArray, freeArray } from "../mem/vec";

const NIL: i32 = -1;
const INITIAL_POOL: i32 = 16;

/** Unmanaged; a fresh block needs freeHead = NIL (LocalityCache.setup). */
@unmanaged export class DestSetPool {
  next: Nums<i32> = changetype<Nums<i32>>(0);
  dest: Ptrs<Dest | null> = changetype<Ptrs<Dest | null>>(0);
  cap: i32 = 0;
  used: i32 = 0;
  freeHead: i32 = NIL;

  /** Double the pool; false when memory cannot grow (nothing changed). */
  grow(): bool {
    const old = this.cap;
    const cap = old == 0 ? INITIAL_POOL : old << 1;
    const next = allocArray<Nums<i32>>(cap, 4);
    const dest = allocArray<Ptrs<Dest | null>>(cap, 4);
    if (changetype<usize>(next) == 0 || changetype<usize>(dest) == 0) {
      freeArray(next, cap, 4);
      freeArray(dest, cap, 4);
      return false;
    }
    memory.copy(changetype<usize>(next), changetype<usize>(this.next), <usize>old << 2);
    memory.copy(changetype<usize>(dest), changetype<usize>(this.dest), <usize>old << 2);
    for (let i = cap - 1; i >= old; i--) {
      unchecked((next[i] = this.freeHead));
      this.freeHead = i;
    }
    if (old != 0) {
      freeArray(this.next, old, 4);
      freeArray(this.dest, old, 4);
    }
    this.next = next;
    this.dest = dest;
    this.cap = cap;
    return true;
  }

  /** Grow while less than a quarter of the pool is free (off the pick path). */
  reserve(): void {
    while ((this.cap - this.used) * 4 < this.cap || this.cap == 0) {
      if (!this.grow()) break;
    }
  }

  /** A fresh element holding d, linked before `head`; its index, or NIL without memory. */
  alloc(d: Dest, head: i32): i32 {
    if (this.freeHead == NIL && !this.grow()) return NIL;
    const x = this.freeHead;
    this.freeHead = unchecked(this.next[x]);
    holdDest(d);
    unchecked((this.dest[x] = d));
    unchecked((this.next[x] = head));
    this.used++;
    return x;
  }

  /** Return element x to the pool; returns the element that followed it. */
  free(x: i32): i32 {
    const nx = unchecked(this.next[x]);
    const d = unchecked(this.dest[x]);
    unchecked((this.dest[x] = null));
    unchecked((this.next[x] = this.freeHead));
    this.freeHead = x;
    this.used--;
    if (d !== null) putDest(d);
    return nx;
  }

  /** Give back the arrays (every element already freed). */
  dispose(): void {
    if (this.cap == 0) return;
    freeArray(this.next, this.cap, 4);
    freeArray(this.dest, this.cap, 4);
    this.cap = 0;
  }
}
