// An indexed binary min-heap of a service's eligible dests, ordered so that
// the root is exactly what the IPVS list scan of lc/wlc/sed/nq would return.
//
// Why the orders below equal the scans: each scan keeps the first eligible
// dest and replaces it only on a STRICT improvement, so it returns the
// earliest-in-list dest among those with the minimal key. With weights > 0
// the cross-multiplied comparison is a total preorder (h1*w2 < h2*w1 ⇔
// h1/w1 < h2/w2), so "minimal key, then smallest Dest.order" (order is
// smaller nearer the list head) is a strict total order whose minimum is the
// scan's choice. Weight-0 and OVERLOADed dests can never be chosen, so they
// are simply kept out of the heap.
//
// Invariants: heapPos(d) = i ⇔ items[i] === d for i < n; every other dest of
// the service has heapPos -1; items has room for every dest of the service
// (grown in reserve() before a dest is linked), so update/remove never allocate.
// The heap is the whole state block of lc, wlc, sed and nq (heapsched.ts).
import { Dest } from "../table/dest";
import { Service } from "../table/service";
import { Ptrs, allocArray, freeArray } from "../table/vec";

/** lc: overhead = active×256 + inactive (u32), eligible when weight != 0. */
export const ORDER_LC: i32 = 0;
/** wlc: overhead / weight, cross-multiplied in 64 bits. */
export const ORDER_WLC: i32 = 1;
/** sed: (active + 1) / weight. */
export const ORDER_SED: i32 = 2;
/** nq: idle dests (active == 0) first in list order, then the sed order. */
export const ORDER_NQ: i32 = 3;

/** a/wa < b/wb for non-negative weights, without dividing; 0 when equal. */
@inline function cmpRatio(a: i64, wa: i64, b: i64, wb: i64): i32 {
  const l = a * wb;
  const r = b * wa;
  return l < r ? -1 : l > r ? 1 : 0;
}

@unmanaged export class LoadHeap {
  items: Ptrs<Dest | null> = changetype<Ptrs<Dest | null>>(0);
  cap: i32 = 0;
  n: i32 = 0;
  kind: i32 = 0;

  /** The scan's choice, or null when no dest is eligible. */
  @inline top(): Dest | null {
    return this.n > 0 ? unchecked(this.items[0]) : null;
  }

  eligible(d: Dest): bool {
    if (d.overloaded) return false;
    return this.kind == ORDER_LC ? d.weight != 0 : d.weight > 0;
  }

  /** True when a must come before b (strict total order). */
  before(a: Dest, b: Dest): bool {
    let c: i32 = 0;
    switch (this.kind) {
      case ORDER_LC: {
        const oa = a.overhead();
        const ob = b.overhead();
        c = oa < ob ? -1 : oa > ob ? 1 : 0;
        break;
      }
      case ORDER_WLC: {
        c = cmpRatio(<i64>a.overhead(), <i64>a.weight, <i64>b.overhead(), <i64>b.weight);
        break;
      }
      default: {
        if (this.kind == ORDER_NQ) {
          const ia = a.activeconns == 0;
          const ib = b.activeconns == 0;
          if (ia != ib) return ia;
          if (ia) break;
        }
        c = cmpRatio(<i64>a.activeconns + 1, <i64>a.weight, <i64>b.activeconns + 1, <i64>b.weight);
      }
    }
    return c != 0 ? c < 0 : a.order < b.order;
  }

  /** Room for `count` dests; called before a dest is linked, never from pick.
   * False when memory cannot grow (nothing changed). */
  reserve(count: i32): bool {
    const cap = this.cap;
    if (count <= cap) return true;
    let size = cap < 8 ? 8 : cap;
    while (size < count) size <<= 1;
    const grown = allocArray<Ptrs<Dest | null>>(size, 4);
    if (changetype<usize>(grown) == 0) return false;
    memory.copy(changetype<usize>(grown), changetype<usize>(this.items), <usize>this.n << 2);
    if (cap != 0) freeArray(this.items, cap, 4);
    this.items = grown;
    this.cap = size;
    return true;
  }

  /** Give back the item array (scheduler unbound; clear() ran first). */
  dispose(): void {
    if (this.cap != 0) freeArray(this.items, this.cap, 4);
    this.cap = 0;
  }

  /** Rebuild from svc's list (init, or options changed). */
  rebuild(svc: Service): bool {
    this.clear();
    const list = svc.dests;
    const len = list.length;
    if (!this.reserve(len)) return false;
    for (let i = 0; i < len; i++) unchecked(list[i]).heapPos = -1;
    for (let i = 0; i < len; i++) this.update(unchecked(list[i]));
    return true;
  }

  /** Forget every member (scheduler replaced or service deleted). */
  clear(): void {
    for (let i = 0; i < this.n; i++) {
      changetype<Dest>(unchecked(this.items[i])).heapPos = -1;
      unchecked((this.items[i] = null));
    }
    this.n = 0;
  }

  /** d's load, weight or flags changed (or it was just linked): restore the order. */
  update(d: Dest): void {
    const pos = d.heapPos;
    if (!this.eligible(d)) {
      if (pos >= 0) this.removeAt(pos);
      return;
    }
    if (pos < 0) {
      const i = this.n++;
      this.place(d, i);
      this.siftUp(i);
    } else if (!this.siftUp(pos)) {
      this.siftDown(pos);
    }
  }

  /** d left the service. */
  remove(d: Dest): void {
    if (d.heapPos >= 0) this.removeAt(d.heapPos);
  }

  private removeAt(pos: i32): void {
    const gone = changetype<Dest>(unchecked(this.items[pos]));
    gone.heapPos = -1;
    const last = --this.n;
    const moved = unchecked(this.items[last]);
    unchecked((this.items[last] = null));
    if (pos == last) return;
    const m = changetype<Dest>(moved);
    this.place(m, pos);
    if (!this.siftUp(pos)) this.siftDown(pos);
  }

  @inline private place(d: Dest, i: i32): void {
    unchecked((this.items[i] = d));
    d.heapPos = i;
  }

  /** Moves items[i] towards the root; true if it moved. */
  private siftUp(i: i32): bool {
    const d = changetype<Dest>(unchecked(this.items[i]));
    const start = i;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pd = changetype<Dest>(unchecked(this.items[p]));
      if (!this.before(d, pd)) break;
      this.place(pd, i);
      i = p;
    }
    if (i == start) return false;
    this.place(d, i);
    return true;
  }

  private siftDown(i: i32): void {
    const n = this.n;
    const d = changetype<Dest>(unchecked(this.items[i]));
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      let c = l;
      let cd = changetype<Dest>(unchecked(this.items[l]));
      const r = l + 1;
      if (r < n) {
        const rd = changetype<Dest>(unchecked(this.items[r]));
        if (this.before(rd, cd)) {
          c = r;
          cd = rd;
        }
      }
      if (!this.before(cd, d)) break;
      this.place(cd, i);
      i = c;
    }
    this.place(d, i);
  }
}

