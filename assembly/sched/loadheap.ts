// The least-load index of a service (lc, wlc, sed, nq): a tournament tree
// over the eligible dests whose root is exactly what the IPVS list scan
// would return.
//
// Why the order below equals the scans: each scan keeps the first eligible
// dest and replaces it only on a STRICT improvement, so it returns the
// earliest-in-list dest among those with the minimal key. With weights > 0
// the cross-multiplied comparison is a total preorder (h1*w2 < h2*w1 ⇔
// h1/w1 < h2/w2), so "minimal key, then smallest Dest.order" (order is
// smaller nearer the list head) is a strict total order whose minimum is the
// scan's choice. Weight-0 and OVERLOADed dests can never be chosen, so they
// are simply kept out.
//
// Shape: each member dest owns a leaf slot (slots 0..n-1, dense; heapPos is
// the slot, -1 for a dest outside), and every inner node holds the slot that
// wins its subtree. Empty leaves hold slot `cap`, a sentinel entry whose key
// loses to every real one in all four orders, so a match needs no emptiness
// test. A slot's entry keeps a copy of its dest's
// sort key (load, weight, list order), so comparing reads no dest record.
// A key change replays the matches on the leaf's path only: one comparison
// per level against the sibling's winner, nothing moves, no other dest is
// written, and the climb stops where the winner stays the same. (A binary
// heap needs two comparisons, an entry copy and a dest write per level of a
// sift; after a pick the chosen root sinks the whole depth, which was most of
// a pick-and-count at 100 dests.)
//
// Flat mode (lc and wlc with at most FLAT_MAX dests, the common size): no
// tree, but one u32 key per dest in IPVS list order, K = key << 8 | rank,
// where rank is the dest's index in the list and key is exact: lc the
// overhead, wlc overhead × (L / weight) with L the lcm of the service's
// weights, so key_a < key_b ⇔ oh_a / w_a < oh_b / w_b (both sides × L,
// integers). The smallest K is then the first minimum in list order, which
// is the scan's choice, and one SIMD min over the keys finds it (25 vectors
// at 100 dests); a count or an end rewrites one key. An ineligible dest and
// the padding up to a whole vector hold 0xFFFFFFFF. When a key would not fit
// in 24 bits (overhead ≥ 2^24 / (L / w), or L ≥ 2^24) the service goes back
// to the tree (rebuilt from its list, memory already reserved); it tries flat
// again at its next rebuild (scheduler set or edited). In flat mode heapPos is
// the dest's rank, and the arrays (keys, dests, weights, multipliers, cap
// entries each) live in the tree's own block, below its sentinel entry.
//
// Invariants: heapPos(d) = s ⇔ slot s holds d for s < n; the leaves of
// slots >= n hold cap (the sentinel); cap (a power of two) >= every dest of the service
// (grown in reserve() before a dest is linked), so update/remove never
// allocate.
import { Dest } from "../service/dest";
import { Service } from "../service/service";
import { alloc, free } from "../mem/alloc";
import { serviceOf } from "../service/services";

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

// An entry: the key copied from the dest (16 bytes, so an entry's address is a shift).
const E_LOAD: usize = 0; // u32: overhead (lc, wlc) or activeconns (sed, nq)
const E_WEIGHT: usize = 4; // i32
const E_ORDER: usize = 8; // i64 Dest.order
const E_SHIFT: usize = 4;
const E_SIZE: usize = 1 << E_SHIFT;
/** Bytes per slot: its entry, two i32 tree nodes (cap leaves + cap - 1 inner, index 0 unused) and its dest pointer. */
const SLOT_BYTES: usize = E_SIZE + 8 + sizeof<usize>();
/** Bytes of a tree with cap slots: the slots and the sentinel entry. */
@inline function treeBytes(cap: i32): usize {
  return <usize>cap * SLOT_BYTES + E_SIZE;
}
const MIN_CAP: i32 = 4;
/** Flat mode holds at most this many dests (a rank is 8 bits). */
export const FLAT_MAX: i32 = 256;
/** Largest flat key (so K = key << 8 | rank stays below the 0xFFFFFFFF of an ineligible dest). */
const FLAT_KEY_MAX: u64 = 0xFFFFFE;

@inline function gcd64(a: u64, b: u64): u64 {
  while (b != 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/**
 * True when key a (load, weight, list order) must come before key b for
 * order k (strict total order).
 */
@inline function beforeKey(k: i32, la: u32, wa: i32, oa: i64, lb: u32, wb: i32, ob: i64): bool {
  let c: i32 = 0;
  if (k == ORDER_LC) {
    c = la < lb ? -1 : la > lb ? 1 : 0;
  } else if (k == ORDER_WLC) {
    c = cmpRatio(<i64>la, <i64>wa, <i64>lb, <i64>wb);
  } else {
    if (k == ORDER_NQ) {
      const ia = la == 0;
      const ib = lb == 0;
      if (ia != ib) return ia;
      if (ia) return oa < ob;
    }
    c = cmpRatio(<i64>la + 1, <i64>wa, <i64>lb + 1, <i64>wb);
  }
  return c != 0 ? c < 0 : oa < ob;
}

/** beforeKey on two entries. */
@inline function before(k: i32, a: usize, b: usize): bool {
  return beforeKey(k, load<u32>(a + E_LOAD), load<i32>(a + E_WEIGHT), load<i64>(a + E_ORDER),
    load<u32>(b + E_LOAD), load<i32>(b + E_WEIGHT), load<i64>(b + E_ORDER));
}

@unmanaged export class LoadHeap {
  /** cap + 1 entries of E_SIZE bytes (the last is the sentinel), then the tree (2 × cap i32 nodes), then cap dest pointers. */
  items: usize = 0;
  cap: i32 = 0;
  n: i32 = 0;
  kind: i32 = 0;
  /** Non-zero in flat mode (see the top of this file). */
  flat: i32 = 0;

  /** Flat mode: key K of rank s, its dest, its weight copy, its multiplier L / weight. */
  @inline fkey(s: i32): usize { return this.items + (<usize>s << 2); }
  @inline fdest(s: i32): usize { return this.items + (<usize>this.cap << 2) + (<usize>s << alignof<usize>()); }
  @inline fweight(s: i32): usize { return this.items + (<usize>this.cap << 3) + (<usize>s << 2); }
  @inline fmul(s: i32): usize { return this.items + <usize>this.cap * 12 + (<usize>s << 2); }
  /**
   * Flat mode's tie sets, in the tree's node area past the sentinel (unused
   * while flat, 12 × cap bytes with the dest pointers): u32 tmin, u32 dirty,
   * then a bitmap of ranks over tieWords() words; then the next level
   * (next()): u32 tmin2, u32 valid, its bitmap of as many words.
   */
  @inline tie(): usize { return this.items + (<usize>this.cap << E_SHIFT) + E_SIZE; }
  @inline tieWords(): i32 { return (this.cap + 63) >> 6; }
  @inline next(): usize { return this.tie() + 8 + (<usize>this.tieWords() << 3); }

  @inline at(s: i32): usize {
    return this.items + (<usize>s << E_SHIFT);
  }

  /** Address of slot s's dest pointer. */
  @inline destAt(s: i32): usize {
    return this.items + <usize>this.cap * (E_SIZE + 8) + E_SIZE + (<usize>s << alignof<usize>());
  }

  /** Address of tree node j (1 = root, cap + s = leaf of slot s). */
  @inline node(j: i32): usize {
    return this.items + (<usize>(this.cap + 1) << E_SHIFT) + (<usize>j << 2);
  }

  /** The scan's choice, or null when no dest is eligible. */
  @inline top(): Dest | null {
    if (this.flat != 0) return flatTop(this);
    return this.n > 0 ? changetype<Dest>(load<usize>(this.destAt(load<i32>(this.node(1))))) : null;
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
    let size = cap < MIN_CAP ? MIN_CAP : cap;
    while (size < count) size <<= 1;
    const grown = alloc(treeBytes(size));
    if (grown == 0) return false;
    const old = this.items;
    const n = this.n;
    this.items = grown;
    this.cap = size;
    if (this.flat != 0) {
      // The flat arrays at their new offsets, padding keys past n.
      memory.copy(grown, old, <usize>n << 2);
      memory.copy(this.fdest(0), old + (<usize>cap << 2), <usize>n << alignof<usize>());
      memory.copy(this.fweight(0), old + (<usize>cap << 3), <usize>n << 2);
      memory.copy(this.fmul(0), old + <usize>cap * 12, <usize>n << 2);
      memory.fill(this.fkey(n), 0xFF, <usize>(size - n) << 2);
      if (cap != 0) free(old, treeBytes(cap));
      this.sentinel();
      store<u32>(this.tie() + 4, 1);
      return true;
    }
    if (cap != 0) {
      memory.copy(grown, old, <usize>n << E_SHIFT);
      memory.copy(this.destAt(0), old + <usize>cap * (E_SIZE + 8) + E_SIZE, <usize>n << alignof<usize>());
      free(old, treeBytes(cap));
    }
    this.sentinel();
    this.build();
    return true;
  }

  /** The sentinel: a key no real entry comes after (see beforeFlat). */
  private sentinel(): void {
    const z = this.at(this.cap);
    store<u32>(z + E_LOAD, 0xFFFFFFFF);
    store<i32>(z + E_WEIGHT, 0);
    store<i64>(z + E_ORDER, i64.MAX_VALUE);
  }

  /** Every node from the entries (after growth). */
  private build(): void {
    const cap = this.cap;
    const n = this.n;
    for (let s = 0; s < cap; s++) store<i32>(this.node(cap + s), s < n ? s : cap);
    for (let j = cap - 1; j >= 1; j--) {
      store<i32>(this.node(j), this.better(load<i32>(this.node(2 * j)), load<i32>(this.node(2 * j + 1))));
    }
  }

  /** The winner of slots a and b (either may be the sentinel). */
  private better(a: i32, b: i32): i32 {
    return before(this.kind, this.at(b), this.at(a)) ? b : a;
  }

  /** Give back the entries and the tree (scheduler unbound; clear() ran first). */
  dispose(): void {
    if (this.cap != 0) free(this.items, treeBytes(this.cap));
    this.cap = 0;
    this.flat = 0;
  }

  /** Rebuild from svc's list (init, or options changed). */
  rebuild(svc: Service): bool {
    this.clear();
    const list = svc.dests;
    const len = list.length;
    if (!this.reserve(len)) return false;
    if (!this.flatFrom(svc)) this.treeFrom(svc);
    return true;
  }

  /** The tree from svc's list (clear() ran, room reserved). */
  private treeFrom(svc: Service): void {
    const list = svc.dests;
    const len = list.length;
    for (let i = 0; i < len; i++) unchecked(list[i]).heapPos = -1;
    for (let i = 0; i < len; i++) this.update(unchecked(list[i]));
  }

  /** Leave flat mode for the tree (a key that does not fit, or more than FLAT_MAX dests). */
  toTree(svc: Service): void {
    this.clear();
    this.treeFrom(svc);
  }

  /** Flat mode from svc's list when its kind and size allow and its keys fit (clear() ran, room reserved). */
  private flatFrom(svc: Service): bool {
    const k = this.kind;
    const list = svc.dests;
    const len = list.length;
    if ((k != ORDER_LC && k != ORDER_WLC) || len > FLAT_MAX) return false;
    for (let i = 0; i < len; i++) {
      const d = unchecked(list[i]);
      d.heapPos = i;
      store<usize>(this.fdest(i), changetype<usize>(d));
      store<i32>(this.fweight(i), d.weight);
    }
    if (this.cap > len) memory.fill(this.fkey(len), 0xFF, <usize>(this.cap - len) << 2);
    this.n = len;
    this.flat = 1;
    if (this.flatRefresh()) return true;
    this.clear();
    return false;
  }

  /**
   * Flat mode: every multiplier and key from the dests and weight copies.
   * False when a key does not fit (the caller goes back to the tree).
   */
  private flatRefresh(): bool {
    store<u32>(this.tie() + 4, 1);
    const n = this.n;
    let l: u64 = 1;
    if (this.kind == ORDER_WLC) {
      for (let s = 0; s < n; s++) {
        const w = load<i32>(this.fweight(s));
        if (w <= 0) continue;
        l = l / gcd64(l, <u64>w) * <u64>w;
        if (l > FLAT_KEY_MAX) return false;
      }
    }
    for (let s = 0; s < n; s++) {
      const w = load<i32>(this.fweight(s));
      store<u32>(this.fmul(s), this.kind == ORDER_LC ? 1 : w > 0 ? <u32>(l / <u64>w) : 0);
      if (!this.flatSet(s, changetype<Dest>(load<usize>(this.fdest(s))))) return false;
    }
    return true;
  }

  /** Flat mode: rank s's key from its dest d; false when it does not fit. */
  @inline flatSet(s: i32, d: Dest): bool {
    let key: u32 = 0xFFFFFFFF;
    if (!d.overloaded && (this.kind == ORDER_LC ? d.weight != 0 : d.weight > 0)) {
      const v = <u64>d.overhead() * <u64>load<u32>(this.fmul(s));
      if (v > FLAT_KEY_MAX) return false;
      key = (<u32>v << 8) | <u32>s;
    }
    store<u32>(this.fkey(s), key);
    flatTouch(this, s, key >> 8);
    return true;
  }

  /**
   * Flat mode, raisedTop: d was the pick, so its rank is in the tie set (the
   * pick left it clean) and its key only grew: its bit goes, and it joins the
   * next level when its key reached it; no other key moves.
   */
  @inline private flatRaised(d: Dest): void {
    const s = d.heapPos;
    let key: u32 = 0xFFFFFFFF;
    if (!d.overloaded) {
      const v = <u64>d.overhead() * <u64>load<u32>(this.fmul(s));
      if (v > FLAT_KEY_MAX) {
        this.flatGiveUp(d);
        return;
      }
      key = (<u32>v << 8) | <u32>s;
    }
    store<u32>(this.fkey(s), key);
    const t = this.tie();
    const off = 8 + (<usize>(s >> 6) << 3);
    const bit: u64 = <u64>1 << <u64>(s & 63);
    store<u64>(t + off, load<u64>(t + off) & ~bit);
    // The next level: d joins it when its key reached tmin2 (lc's one more
    // connection on the least load, the common case); a key between the two
    // levels leaves the next level unknown.
    const nx = this.next();
    if (load<u32>(nx, 4) != 0) {
      const k = key >> 8;
      const m2 = load<u32>(nx);
      if (k == m2) store<u64>(nx + off, load<u64>(nx + off) | bit);
      else if (k < m2) store<u32>(nx, 0, 4);
    }
  }

  /** Flat mode: d (not a member) was linked at the head of the list. */
  private flatInsert(d: Dest): bool {
    const n = this.n;
    memory.copy(this.fdest(1), this.fdest(0), <usize>n << alignof<usize>());
    memory.copy(this.fweight(1), this.fweight(0), <usize>n << 2);
    store<usize>(this.fdest(0), changetype<usize>(d));
    store<i32>(this.fweight(0), d.weight);
    this.n = n + 1;
    for (let s = 0; s <= n; s++) changetype<Dest>(load<usize>(this.fdest(s))).heapPos = s;
    return this.flatRefresh();
  }

  /** Flat mode: rank s left the list. */
  private flatRemove(s: i32): void {
    const n = this.n - 1;
    memory.copy(this.fdest(s), this.fdest(s + 1), <usize>(n - s) << alignof<usize>());
    memory.copy(this.fweight(s), this.fweight(s + 1), <usize>(n - s) << 2);
    store<u32>(this.fkey(n), 0xFFFFFFFF);
    this.n = n;
    for (let r = s; r < n; r++) changetype<Dest>(load<usize>(this.fdest(r))).heapPos = r;
    // Fewer weights: L and every key can only shrink, so this cannot fail.
    this.flatRefresh();
  }

  /** Flat mode: a key does not fit; d is in the service whose list rebuilds the tree. */
  private flatGiveUp(d: Dest): void {
    const svc = serviceOf(d);
    if (svc !== null) this.toTree(svc);
  }

  /** Forget every member (scheduler replaced or service deleted). */
  clear(): void {
    if (this.flat != 0) {
      for (let s = 0; s < this.n; s++) changetype<Dest>(load<usize>(this.fdest(s))).heapPos = -1;
      this.flat = 0;
    } else {
      for (let s = 0; s < this.n; s++) changetype<Dest>(load<usize>(this.destAt(s))).heapPos = -1;
    }
    this.n = 0;
    const cap = this.cap;
    for (let j = 1; j < 2 * cap; j++) store<i32>(this.node(j), cap);
  }

  /** d's load, weight or flags changed (or it was just linked): restore the order. */
  update(d: Dest): void {
    let s = d.heapPos;
    if (this.flat != 0) {
      if (s < 0) {
        if (!this.flatInsert(d)) this.flatGiveUp(d);
      } else if (this.kind == ORDER_WLC && d.weight != load<i32>(this.fweight(s))) {
        store<i32>(this.fweight(s), d.weight);
        if (!this.flatRefresh()) this.flatGiveUp(d);
      } else {
        store<i32>(this.fweight(s), d.weight);
        if (!this.flatSet(s, d)) this.flatGiveUp(d);
      }
      return;
    }
    if (!this.eligible(d)) {
      if (s >= 0) this.removeAt(s);
      return;
    }
    if (s < 0) {
      s = this.n++;
      store<i32>(this.node(this.cap + s), s);
      d.heapPos = s;
    }
    const e = this.at(s);
    const k = this.kind;
    store<u32>(e + E_LOAD, k == ORDER_LC || k == ORDER_WLC ? d.overhead() : d.activeconns);
    store<i32>(e + E_WEIGHT, d.weight);
    store<i64>(e + E_ORDER, d.order);
    store<usize>(this.destAt(s), changetype<usize>(d));
    this.replay(s);
  }

  /**
   * The root's dest d got one more inactive connection (sched/count.ts): only
   * lc's and wlc's key (the overhead) grew; sed and nq count active ones only.
   */
  @inline raisedTop(d: Dest): void {
    const k = this.kind;
    if (this.flat != 0) {
      this.flatRaised(d);
    } else if (d.overloaded) {
      this.update(d);
    } else if (k == ORDER_LC || k == ORDER_WLC) {
      const s = load<i32>(this.node(1));
      store<u32>(this.at(s) + E_LOAD, d.overhead());
      if (k == ORDER_LC) climbTopLc(this, s);
      else climbTopWlc(this, s);
    }
  }

  /** d left the service. */
  remove(d: Dest): void {
    const s = d.heapPos;
    if (s < 0) return;
    if (this.flat != 0) {
      d.heapPos = -1;
      this.flatRemove(s);
      return;
    }
    this.removeAt(s);
  }

  /** Slot s empties; the last slot's dest moves into it so the slots stay dense. */
  private removeAt(s: i32): void {
    changetype<Dest>(load<usize>(this.destAt(s))).heapPos = -1;
    const last = --this.n;
    store<i32>(this.node(this.cap + last), this.cap);
    this.replay(last);
    if (s == last) return;
    memory.copy(this.at(s), this.at(last), E_SIZE);
    const moved = load<usize>(this.destAt(last));
    store<usize>(this.destAt(s), moved);
    changetype<Dest>(moved).heapPos = s;
    this.replay(s);
  }

  /** Slot s's entry changed (or its leaf emptied): replay the matches above it. */
  @inline private replay(s: i32): void {
    switch (this.kind) {
      case ORDER_LC: replayLc(this, s); return;
      case ORDER_WLC: replayWlc(this, s); return;
      case ORDER_SED: replaySed(this, s); return;
    }
    replayNq(this, s);
  }
}

/**
 * `beforeKey` without branches (the winners of a climb are data, not a
 * pattern a branch predictor learns): the strict total order as bit algebra,
 * so the climb below compiles to selects.
 */
@inline function beforeFlat(k: i32, la: u32, wa: i32, oa: i64, lb: u32, wb: i32, ob: i64): bool {
  const ordLt = oa < ob;
  if (k == ORDER_LC) return (la < lb) | ((la == lb) & ordLt);
  const add: i64 = k == ORDER_WLC ? 0 : 1;
  const l = (<i64>la + add) * <i64>wb;
  const r = (<i64>lb + add) * <i64>wa;
  const ratioLt = (l < r) | ((l == r) & ordLt);
  if (k != ORDER_NQ) return ratioLt;
  const ia = la == 0;
  const ib = lb == 0;
  return select<bool>(ia, select<bool>(ordLt, ratioLt, ia), ia != ib);
}

/**
 * The climb from slot s's leaf to the root, inlined once per order with `k`
 * a constant so the loop compares without testing the order. `w` is the
 * winner so far, its key held in locals; at each level it meets the sibling
 * subtree's winner, whose node and key do not depend on earlier levels, so
 * the only chain from level to level is compare-and-select (no branch on the
 * outcome). Above a node whose winner is the same other slot as before,
 * nothing changes.
 */
@inline function replayK(h: LoadHeap, s: i32, k: i32): void {
  const ents = h.items;
  const nodes = ents + (<usize>(h.cap + 1) << E_SHIFT);
  let j = h.cap + s;
  // s's leaf, or the sentinel when s was just emptied.
  let w = load<i32>(nodes + (<usize>j << 2));
  const e0 = ents + (<usize>w << E_SHIFT);
  let wl = load<u32>(e0 + E_LOAD);
  let ww: i32 = k == ORDER_LC ? 0 : load<i32>(e0 + E_WEIGHT);
  let wo = load<i64>(e0 + E_ORDER);
  while (j > 1) {
    const o = load<i32>(nodes + (<usize>(j ^ 1) << 2));
    const e = ents + (<usize>o << E_SHIFT);
    const ol = load<u32>(e + E_LOAD);
    const ow = k == ORDER_LC ? 0 : load<i32>(e + E_WEIGHT);
    const oo = load<i64>(e + E_ORDER);
    // The sibling wins only if strictly before (no ties: the order is total).
    const take = beforeFlat(k, ol, ow, oo, wl, ww, wo);
    w = select<i32>(o, w, take);
    wl = select<u32>(ol, wl, take);
    if (k != ORDER_LC) ww = select<i32>(ow, ww, take);
    wo = select<i64>(oo, wo, take);
    j >>= 1;
    const p = nodes + (<usize>j << 2);
    if (load<i32>(p) == w && w != s) return;
    store<i32>(p, w);
  }
}

// One function per order, each with its own copy of the climb (kept apart so
// the optimizer cannot fold the copies back into one loop that tests `k`).
function replayLc(h: LoadHeap, s: i32): void { replayK(h, s, ORDER_LC); }
function replayWlc(h: LoadHeap, s: i32): void { replayK(h, s, ORDER_WLC); }
function replaySed(h: LoadHeap, s: i32): void { replayK(h, s, ORDER_SED); }
function replayNq(h: LoadHeap, s: i32): void { replayK(h, s, ORDER_NQ); }

/**
 * replayK for the root's slot s after its key grew (raisedTop): every node on
 * its path held s, so the climb cannot stop early and s's leaf is not empty;
 * this loop skips both tests.
 */
@inline function climbTopK(h: LoadHeap, s: i32, k: i32): void {
  const ents = h.items;
  const nodes = ents + (<usize>(h.cap + 1) << E_SHIFT);
  const e0 = ents + (<usize>s << E_SHIFT);
  let w = s;
  let wl = load<u32>(e0 + E_LOAD);
  let ww: i32 = k == ORDER_LC ? 0 : load<i32>(e0 + E_WEIGHT);
  let wo = load<i64>(e0 + E_ORDER);
  let j = h.cap + s;
  while (j > 1) {
    const o = load<i32>(nodes + (<usize>(j ^ 1) << 2));
    const e = ents + (<usize>o << E_SHIFT);
    const ol = load<u32>(e + E_LOAD);
    const ow = k == ORDER_LC ? 0 : load<i32>(e + E_WEIGHT);
    const oo = load<i64>(e + E_ORDER);
    const take = beforeFlat(k, ol, ow, oo, wl, ww, wo);
    w = select<i32>(o, w, take);
    wl = select<u32>(ol, wl, take);
    if (k != ORDER_LC) ww = select<i32>(ow, ww, take);
    wo = select<i64>(oo, wo, take);
    j >>= 1;
    store<i32>(nodes + (<usize>j << 2), w);
  }
}

function climbTopLc(h: LoadHeap, s: i32): void { climbTopK(h, s, ORDER_LC); }
function climbTopWlc(h: LoadHeap, s: i32): void { climbTopK(h, s, ORDER_WLC); }

/**
 * Flat mode's pick: the smallest K over the keys (whole vectors; padding is
 * 0xFFFFFFFF), four accumulators so the minimums do not wait on each other.
 * Its low byte is the rank; 0xFFFFFFFF means no dest is eligible.
 */
@inline function flatTop(h: LoadHeap): Dest | null {
  const t = h.tie();
  if (load<u32>(t, 4) == 0) {
    const words = h.tieWords();
    for (let i = 0; i < words; i++) {
      const b = load<u64>(t + 8 + (<usize>i << 3));
      if (b != 0) return changetype<Dest>(load<usize>(h.fdest((i << 6) + <i32>ctz(b))));
    }
    // The least level emptied: the next one, when known and not empty, is the new least.
    const nx = h.next();
    if (load<u32>(nx, 4) != 0) return flatPromote(h, t, nx, words);
  }
  return flatScan(h);
}

/**
 * flatTop's step when the tie set emptied and the next level is known: every
 * key is >= tmin2 (none lay between the levels and none is left at tmin), so
 * the next level's ranks are the new tie set. Rescans when it is empty too.
 */
function flatPromote(h: LoadHeap, t: usize, nx: usize, words: i32): Dest | null {
  store<u32>(nx, 0, 4);
  let first: i32 = -1;
  for (let i = 0; i < words; i++) {
    const b = load<u64>(nx + 8 + (<usize>i << 3));
    store<u64>(t + 8 + (<usize>i << 3), b);
    if (first < 0 && b != 0) first = (i << 6) + <i32>ctz(b);
  }
  if (first < 0) return flatScan(h);
  store<u32>(t, load<u32>(nx));
  return changetype<Dest>(load<usize>(h.fdest(first)));
}

/**
 * The tie set of flat mode: the ranks whose key equals tmin, the least key
 * of an eligible dest, so the pick is the lowest rank in it (a bit scan). A
 * key change keeps it exact in O(1) (flatTouch). When a key drops below tmin
 * (a connection ended on a least-loaded dest), the old tie set is kept as the
 * next level (tmin2: no key lies between the two levels) and the keys that
 * reach tmin2 join it, so when the tie set empties again the next level
 * takes its place without a rescan (flatPromote). The next pick rescans only
 * when the tie set empties with no next level known, or something rewrote
 * every key (dirty).
 */
@inline function flatTouch(h: LoadHeap, s: i32, key: u32): void {
  const t = h.tie();
  if (load<u32>(t, 4) != 0) return;
  const m = load<u32>(t);
  const off = 8 + (<usize>(s >> 6) << 3);
  const wp = t + off;
  const bit: u64 = <u64>1 << <u64>(s & 63);
  const nx = h.next();
  const known = load<u32>(nx, 4) != 0;
  if (key == m) {
    store<u64>(wp, load<u64>(wp) | bit);
    if (known) store<u64>(nx + off, load<u64>(nx + off) & ~bit);
  } else if (key > m) {
    store<u64>(wp, load<u64>(wp) & ~bit);
    if (known) {
      const m2 = load<u32>(nx);
      if (key == m2) store<u64>(nx + off, load<u64>(nx + off) | bit);
      else if (key < m2) store<u32>(nx, 0, 4);
      else store<u64>(nx + off, load<u64>(nx + off) & ~bit);
    }
  } else {
    // A new least key: the old tie set (without s) becomes the next level,
    // exact because no key lay below tmin; s alone is the new tie set.
    store<u64>(wp, load<u64>(wp) & ~bit);
    store<u32>(nx, m);
    store<u32>(nx, 1, 4);
    store<u32>(t, key);
    // At most 4 words: loads and stores, not memory.copy/fill (runtime calls in V8).
    for (let i = 0, words = h.tieWords(); i < words; i++) {
      const o = 8 + (<usize>i << 3);
      store<u64>(nx + o, load<u64>(t + o));
      store<u64>(t + o, 0);
    }
    store<u64>(wp, bit);
  }
}

/**
 * Flat mode's rescan: the least key over all ranks, then the tie set of the
 * ranks holding it; returns the first of them.
 */
function flatScan(h: LoadHeap): Dest | null {
  // The native build of the core (wasm2c, no SIMD) takes the scalar scan; both give the same answer.
  if (ASC_FEATURE_SIMD) return flatScanSimd(h);
  return flatScanScalar(h);
}

/** flatScan without SIMD: the same keys, the same tie set, one key at a time. */
function flatScanScalar(h: LoadHeap): Dest | null {
  const p = h.items;
  const end = p + (<usize>((h.n + 3) >> 2) << 4);
  let k: u32 = 0xFFFFFFFF;
  for (let q = p; q < end; q += 4) k = min(k, load<u32>(q));
  if (k == 0xFFFFFFFF) return null;
  const t = h.tie();
  for (let i = 0, words = h.tieWords(); i < words; i++) store<u64>(t + 8 + (<usize>i << 3), 0);
  store<u32>(h.next(), 0, 4);
  const hi = k & 0xFFFFFF00;
  let r = 0;
  for (let q = p; q < end; q += 4, r++) {
    if ((load<u32>(q) & 0xFFFFFF00) == hi) {
      const wp = t + 8 + (<usize>(r >> 6) << 3);
      store<u64>(wp, load<u64>(wp) | (<u64>1 << <u64>(r & 63)));
    }
  }
  store<u32>(t, k >> 8);
  store<u32>(t, 0, 4);
  return changetype<Dest>(load<usize>(h.fdest(<i32>(k & 255))));
}

function flatScanSimd(h: LoadHeap): Dest | null {
  const p = h.items;
  const end = p + (<usize>((h.n + 3) >> 2) << 4);
  let m0 = i32x4.splat(-1);
  let m1 = m0;
  let m2 = m0;
  let m3 = m0;
  let q = p;
  for (; q + 64 <= end; q += 64) {
    m0 = i32x4.min_u(m0, v128.load(q));
    m1 = i32x4.min_u(m1, v128.load(q, 16));
    m2 = i32x4.min_u(m2, v128.load(q, 32));
    m3 = i32x4.min_u(m3, v128.load(q, 48));
  }
  for (; q < end; q += 16) m0 = i32x4.min_u(m0, v128.load(q));
  m0 = i32x4.min_u(i32x4.min_u(m0, m1), i32x4.min_u(m2, m3));
  m0 = i32x4.min_u(m0, v128.shuffle<i32>(m0, m0, 2, 3, 0, 1));
  m0 = i32x4.min_u(m0, v128.shuffle<i32>(m0, m0, 1, 0, 3, 2));
  const k = <u32>i32x4.extract_lane(m0, 0);
  if (k == 0xFFFFFFFF) return null;
  // The tie set: one bit per rank whose key (K without its rank byte) is k's.
  const t = h.tie();
  for (let i = 0, words = h.tieWords(); i < words; i++) store<u64>(t + 8 + (<usize>i << 3), 0);
  // The next level is unknown until a key drops below the new tmin.
  store<u32>(h.next(), 0, 4);
  const hi = i32x4.splat(<i32>(k & 0xFFFFFF00));
  const mask = i32x4.splat(<i32>0xFFFFFF00);
  let r = 0;
  for (q = p; q < end; q += 16, r += 4) {
    const bits = <u64>i32x4.bitmask(i32x4.eq(v128.and(v128.load(q), mask), hi));
    if (bits != 0) {
      const wp = t + 8 + (<usize>(r >> 6) << 3);
      store<u64>(wp, load<u64>(wp) | (bits << <u64>(r & 63)));
    }
  }
  store<u32>(t, k >> 8);
  store<u32>(t, 0, 4);
  return changetype<Dest>(load<usize>(h.fdest(<i32>(k & 255))));
}
