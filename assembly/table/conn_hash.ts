// The connection index: u32 bucket heads chaining through R_HNEXT, hashed by
// (protocol, client address, client port) with a seeded mix like IPVS's
// jhash with a random seed, so outsiders cannot aim collisions and replies
// (which only know the client side) hash to the same bucket. The array
// doubles when the load passes 2; the move is incremental (a few old buckets
// per insert and per advance), never a pause on the packet path. Arrays come
// from mem/pages.ts (whole pages, exact growth); a superseded array goes back
// there, where record chunks and later arrays reuse it.
//
// A bucket word is the head record's index (24 bits: record indexes stay
// below MAX_RECORDS = 2^24) and, in its top 8 bits, the tags of its chain:
// bit (h >> 29) of every record's hash h. A lookup whose tag bit is clear
// knows the key is not in the chain without reading any record, so most
// misses (a new flow's lookup) cost the bucket word alone. Inserts set the
// bit; a removal recomputes the chain's tags; a moved bucket gets its tags
// again as its records arrive.
import { mixIn } from "../mem/hash";
import { allocPages, freePages, pagesFor, spareBytes } from "../mem/pages";
import { rec, R_HNEXT, R_CADDR, R_CPORT, F_V6, flagsOf, protoOf, v6Word, u32At, u16At } from "./conn_mem";

let seed: u32 = 0x1B873593;
let bits: u32 = 12;
let buckets: usize = 0;
let mask: u32 = 0;
let old: usize = 0;
let oldMask: u32 = 0;
/** Next old bucket to move; old buckets below it are empty. */
let moved: u32 = 0;
let count: u32 = 0;

export function setConnSeed(s: u32): void { seed = s; }

/** Set the initial size (conn_tab_bits, clamped to 8..24); only while empty. */
export function setTabBits(b: u32): bool {
  if (count != 0) return false;
  bits = b < 8 ? 8 : b > 24 ? 24 : b;
  if (old != 0) { freeArray(old, oldMask); old = 0; }
  if (buckets != 0) { freeArray(buckets, mask); buckets = 0; }
  return true;
}

/** A zeroed array of n bucket heads, or 0 when memory cannot grow. */
function allocArray(n: usize): usize {
  const p = allocPages(pagesFor(n * 4));
  if (p != 0) memory.fill(p, 0, n * 4);
  return p;
}

function freeArray(p: usize, m: u32): void {
  freePages(p, pagesFor((<usize>m + 1) * 4));
}

export function tabBits(): u32 { return bits; }
/** Entries in the index. */
export function indexCount(): u32 { return count; }
export function bucketCount(): u32 { return buckets == 0 ? <u32>1 << bits : mask + 1; }
/** The bucket arrays in use plus the freed pages kept for reuse. */
export function indexBytes(): usize {
  if (buckets == 0) return spareBytes();
  const cur = <usize>pagesFor((<usize>mask + 1) * 4) << 16;
  return cur + (old != 0 ? <usize>pagesFor((<usize>oldMask + 1) * 4) << 16 : 0) + spareBytes();
}

function ensure(): void {
  if (buckets != 0) return;
  const n = <usize>1 << bits;
  buckets = allocArray(n);
  if (buckets == 0) unreachable();
  mask = <u32>n - 1;
}

/** Low 24 bits of a bucket word: the head record. */
const IDX_MASK: u32 = 0xFFFFFF;

/** The tag bit of hash h in a bucket word (one of the top 8 bits). */
@inline export function tagBit(h: u32): u32 {
  return <u32>0x1000000 << (h >> 29);
}

/** The head of the chain for hash h from its bucket word w: 0 when h's tag is not in the chain. */
@inline export function headFor(w: u32, h: u32): u32 {
  return select<u32>(w & IDX_MASK, 0, (w & tagBit(h)) != 0);
}

@inline export function keyHash(proto: u32, c0: u32, c1: u32, c2: u32, c3: u32, v6: bool, cport: u32): u32 {
  let h = mixIn(seed, (proto << 16) | cport);
  h = mixIn(h, c0);
  if (v6) {
    h = mixIn(h, c1);
    h = mixIn(h, c2);
    h = mixIn(h, c3);
  }
  return h;
}

/** The hash of a stored record (recomputed when buckets move). */
export function recordHash(i: u32): u32 {
  const f = flagsOf(i);
  const cport = u16At(i, R_CPORT);
  if (f & F_V6) {
    const x = u32At(i, R_CADDR);
    return keyHash(protoOf(i), v6Word(x, 0, 0), v6Word(x, 0, 1), v6Word(x, 0, 2), v6Word(x, 0, 3), true, cport);
  }
  return keyHash(protoOf(i), u32At(i, R_CADDR), 0, 0, 0, false, cport);
}

/** Address of the head word of the bucket that holds hash h. */
@inline export function bucketOf(h: u32): usize {
  if (old != 0 && (h & oldMask) >= moved) return old + <usize>(h & oldMask) * 4;
  return buckets + <usize>(h & mask) * 4;
}

/** True before the first insert allocated the bucket array (bucketOf is then invalid). */
export function indexUnallocated(): bool { return buckets == 0; }

/** First record of the chain for hash h (0 when empty or when no record of the chain has h's tag). */
export function chainHead(h: u32): u32 {
  if (buckets == 0) return 0;
  return headFor(load<u32>(bucketOf(h)), h);
}

// While a packet batch uses the lookups it resolved up front (conn_path.ts),
// every insert marks its hash here: a key whose mark is set may have gained a
// newer entry, so its resolved answer is not used.
const FILTER_BITS: u32 = 8192;
const filter = memory.data(<i32>(FILTER_BITS >> 3), 16);
let filterOn = false;

/** Start marking inserts (cleared). */
export function insertMarksStart(): void {
  memory.fill(filter, 0, <usize>(FILTER_BITS >> 3));
  filterOn = true;
}

export function insertMarksStop(): void {
  filterOn = false;
}

/** True when an entry whose hash may equal h was inserted since insertMarksStart. */
@inline export function insertMarked(h: u32): bool {
  const b = h & (FILTER_BITS - 1);
  return (<u32>load<u8>(filter + <usize>(b >> 3)) & (<u32>1 << (b & 7))) != 0;
}

export function hashInsert(i: u32, h: u32): void {
  ensure();
  if (filterOn) {
    const b = h & (FILTER_BITS - 1);
    const p = filter + <usize>(b >> 3);
    store<u8>(p, <u8>(<u32>load<u8>(p) | (<u32>1 << (b & 7))));
  }
  const b = bucketOf(h);
  const w = load<u32>(b);
  store<u32>(rec(i) + R_HNEXT, w & IDX_MASK);
  store<u32>(b, (w & ~IDX_MASK) | tagBit(h) | i);
  count++;
  if (old != 0) moveSome(2);
  else if (count > (mask + 1) << 1 && mask < 0x3FFFFFF) startGrow();
}

/** Removals so far (wrapping): a packet batch's resolved answers need no re-check while it stays put. */
let removals: u32 = 0;
@inline export function removalCount(): u32 { return removals; }

export function hashRemove(i: u32, h: u32): void {
  removals++;
  const b = bucketOf(h);
  let head = load<u32>(b) & IDX_MASK;
  const next = load<u32>(rec(i) + R_HNEXT);
  if (head == i) {
    head = next;
  } else {
    let cur = head;
    while (cur != 0) {
      const p = rec(cur);
      const n = load<u32>(p + R_HNEXT);
      if (n == i) {
        store<u32>(p + R_HNEXT, next);
        break;
      }
      cur = n;
    }
  }
  // The tags of the records left.
  let tags: u32 = 0;
  for (let j = head; j != 0; j = load<u32>(rec(j) + R_HNEXT)) tags |= tagBit(recordHash(j));
  store<u32>(b, tags | head);
  count--;
}

/** Start doubling; without memory for the new array the chains just get longer. */
function startGrow(): void {
  const n = (<usize>mask + 1) << 1;
  const p = allocArray(n);
  if (p == 0) return;
  old = buckets;
  oldMask = mask;
  moved = 0;
  buckets = p;
  mask = <u32>n - 1;
}

/** True while buckets of the old array are still to move (moveSome has work). */
@inline export function rehashing(): bool {
  return old != 0;
}

/** Move up to k old buckets into the new array. */
export function moveSome(k: u32): void {
  while (old != 0 && k-- > 0) {
    const ob = old + <usize>moved * 4;
    let cur = load<u32>(ob) & IDX_MASK;
    store<u32>(ob, 0);
    moved++;
    while (cur != 0) {
      const p = rec(cur);
      const next = load<u32>(p + R_HNEXT);
      const h = recordHash(cur);
      const nb = buckets + <usize>(h & mask) * 4;
      const w = load<u32>(nb);
      store<u32>(p + R_HNEXT, w & IDX_MASK);
      store<u32>(nb, (w & ~IDX_MASK) | tagBit(h) | cur);
      cur = next;
    }
    if (moved > oldMask) {
      freeArray(old, oldMask);
      old = 0;
    }
  }
}

/** Bucket head by absolute bucket position (for drop_entry sweeps); covers both arrays. */
export function bucketAt(pos: u32): u32 {
  if (buckets == 0) return 0;
  if (old != 0 && pos <= oldMask && pos >= moved) return load<u32>(old + <usize>pos * 4) & IDX_MASK;
  return load<u32>(buckets + <usize>(pos & mask) * 4) & IDX_MASK;
}
