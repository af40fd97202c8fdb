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
// Invariants: heapPos(d) = i ⇔ entry i holds d for i < n; every other dest of
// the service has heapPos -1; the entries have room for every dest of the
// service (grown in reserve() before a dest is linked), so update/remove never
// allocate. Each entry keeps a copy of its dest's sort key (load, weight, list
// order), refreshed by update(d), so sifting compares within the entry array
// and reads no dest record.
// The heap is the whole state block of lc, wlc, sed and nq (heapsched.ts).
import { Dest } from "../table/dest";
import { Service } from "../table/service";
import { alloc, free } from "../table/alloc";

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

// An entry: the key copied from the dest, and the dest.
const E_LOAD: usize = 0; // u32: overhead (lc, wlc) or activeconns (sed, nq)
const E_WEIGHT: usize = 4; // i32
const E_ORDER: usize = 8; // i64 Dest.order
const E_DEST: usize = 16; // Dest pointer
const E_SIZE: usize = 24;

/** Copy one entry (E_SIZE bytes, 8-aligned). */
@inline function copyEntry(to: usize, from: usize): void {
  store<u64>(to, load<u64>(from));
  store<u64>(to + 8, load<u64>(from + 8));
  store<u64>(to + 16, load<u64>(from + 16));
}

/** The moving entry of a sift waits here while others move past it. */
const hold = memory.data(<i32>E_SIZE, 8);

/** True when entry a must come before entry b for heap kind k (strict total order). */
@inline function before(k: i32, a: usize, b: usize): bool {
  const la = load<u32>(a + E_LOAD);
  const lb = load<u32>(b + E_LOAD);
  let c: i32 = 0;
  if (k == ORDER_LC) {
    c = la < lb ? -1 : la > lb ? 1 : 0;
  } else if (k == ORDER_WLC) {
    c = cmpRatio(<i64>la, <i64>load<i32>(a + E_WEIGHT), <i64>lb, <i64>load<i32>(b + E_WEIGHT));
  } else {
    if (k == ORDER_NQ) {
      const ia = la == 0;
      const ib = lb == 0;
      if (ia != ib) return ia;
      if (ia) return load<i64>(a + E_ORDER) < load<i64>(b + E_ORDER);
    }
    c = cmpRatio(<i64>la + 1, <i64>load<i32>(a + E_WEIGHT), <i64>lb + 1, <i64>load<i32>(b + E_WEIGHT));
  }
  return c != 0 ? c < 0 : load<i64>(a + E_ORDER) < load<i64>(b + E_ORDER);
}

@unmanaged export class LoadHeap {
  /** cap entries of E_SIZE bytes. */
  items: usize = 0;
  cap: i32 = 0;
  n: i32 = 0;
  kind: i32 = 0;

  @inline private at(i: i32): usize {
    return this.items + <usize>i * E_SIZE;
  }

  /** The scan's choice, or null when no dest is eligible. */
  @inline top(): Dest | null {
    return this.n > 0 ? changetype<Dest>(load<usize>(this.items + E_DEST)) : null;
  }

  eligible(d: Dest): bool {
    if (d.overloaded) return false;
    return this.kind == ORDER_LC ? d.weight != 0 : d.weight > 0;
  }

  /** Room for `count` dests; called before a dest is linked, never from pick.
   * False when memory cannot grow (nothing changed). */
  reserve(count: i32): bool {
    const cap = this.cap;
    if (count <= cap) return true;
    let size = cap < 8 ? 8 : cap;
    while (size < count) size <<= 1;
    const grown = alloc(<usize>size * E_SIZE);
    if (grown == 0) return false;
    memory.copy(grown, this.items, <usize>this.n * E_SIZE);
    if (cap != 0) free(this.items, <usize>cap * E_SIZE);
    this.items = grown;
    this.cap = size;
    return true;
  }

  /** Give back the entry array (scheduler unbound; clear() ran first). */
  dispose(): void {
    if (this.cap != 0) free(this.items, <usize>this.cap * E_SIZE);
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
    for (let i = 0; i < this.n; i++) changetype<Dest>(load<usize>(this.at(i) + E_DEST)).heapPos = -1;
    this.n = 0;
  }

  /** d's load, weight or flags changed (or it was just linked): restore the order. */
  update(d: Dest): void {
    let pos = d.heapPos;
    if (!this.eligible(d)) {
      if (pos >= 0) this.removeAt(pos);
      return;
    }
    const fresh = pos < 0;
    if (fresh) pos = this.n++;
    const e = this.at(pos);
    const k = this.kind;
    store<u32>(e + E_LOAD, k == ORDER_LC || k == ORDER_WLC ? d.overhead() : d.activeconns);
    store<i32>(e + E_WEIGHT, d.weight);
    store<i64>(e + E_ORDER, d.order);
    store<usize>(e + E_DEST, changetype<usize>(d));
    d.heapPos = pos;
    if (!this.siftUp(pos)) this.siftDown(pos);
  }

  /** d left the service. */
  remove(d: Dest): void {
    if (d.heapPos >= 0) this.removeAt(d.heapPos);
  }

  private removeAt(pos: i32): void {
    changetype<Dest>(load<usize>(this.at(pos) + E_DEST)).heapPos = -1;
    const last = --this.n;
    if (pos == last) return;
    this.move(last, pos);
    if (!this.siftUp(pos)) this.siftDown(pos);
  }

  /** Entry `from` goes to slot `to`; its dest learns the new position. */
  @inline private move(from: i32, to: i32): void {
    const t = this.at(to);
    copyEntry(t, this.at(from));
    changetype<Dest>(load<usize>(t + E_DEST)).heapPos = to;
  }

  /** Moves entry i towards the root; true if it moved. */
  private siftUp(i: i32): bool {
    if (i == 0) return false;
    const k = this.kind;
    copyEntry(hold, this.at(i));
    const start = i;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(k, hold, this.at(p))) break;
      this.move(p, i);
      i = p;
    }
    if (i == start) return false;
    this.place(hold, i);
    return true;
  }

  private siftDown(i: i32): void {
    const n = this.n;
    const k = this.kind;
    copyEntry(hold, this.at(i));
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      let c = l;
      const r = l + 1;
      if (r < n && before(k, this.at(r), this.at(l))) c = r;
      if (!before(k, this.at(c), hold)) break;
      this.move(c, i);
      i = c;
    }
    this.place(hold, i);
  }

  /** The held entry into slot i; its dest learns the position. */
  @inline private place(hold: usize, i: i32): void {
    const t = this.at(i);
    copyEntry(t, hold);
    changetype<Dest>(load<usize>(t + E_DEST)).heapPos = i;
  }
}
