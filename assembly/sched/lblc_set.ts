// Destination sets of lblcr (struct ip_vs_dest_set): per cache entry a list
// of dests, newest first, and the time it last changed. Elements come from a
// pool with a free list; sets are threaded through `next` by element index.
import { Dest } from "../table/dest";
import { NIL } from "./lblc_cache";

const INITIAL_POOL: i32 = 16;

export class DestSetPool {
  next: StaticArray<i32> = new StaticArray<i32>(0);
  dest: StaticArray<Dest | null> = new StaticArray<Dest | null>(0);
  cap: i32 = 0;
  used: i32 = 0;
  freeHead: i32 = NIL;

  grow(): void {
    const old = this.cap;
    const cap = old == 0 ? INITIAL_POOL : old << 1;
    const next = new StaticArray<i32>(cap);
    const dest = new StaticArray<Dest | null>(cap);
    for (let i = 0; i < old; i++) {
      unchecked((next[i] = this.next[i]));
      unchecked((dest[i] = this.dest[i]));
    }
    for (let i = cap - 1; i >= old; i--) {
      unchecked((next[i] = this.freeHead));
      this.freeHead = i;
    }
    this.next = next;
    this.dest = dest;
    this.cap = cap;
  }

  /** Grow while less than a quarter of the pool is free (off the pick path). */
  reserve(): void {
    while ((this.cap - this.used) * 4 < this.cap || this.cap == 0) this.grow();
  }

  /** A fresh element holding d, linked before `head`; returns its index. */
  alloc(d: Dest, head: i32): i32 {
    if (this.freeHead == NIL) this.grow();
    const x = this.freeHead;
    this.freeHead = unchecked(this.next[x]);
    unchecked((this.dest[x] = d));
    unchecked((this.next[x] = head));
    this.used++;
    return x;
  }

  /** Return element x to the pool; returns the element that followed it. */
  free(x: i32): i32 {
    const nx = unchecked(this.next[x]);
    unchecked((this.dest[x] = null));
    unchecked((this.next[x] = this.freeHead));
    this.freeHead = x;
    this.used--;
    return nx;
  }
}
