// Deleted destinations that connections still reference wait here, and are
// revived with their counters when the same (af, addr, port) is re-added to the
// same service (§2.2). Like IPVS, an unreferenced dest is freed by the trash
// sweep (every 60 s from the connection table's clock) once it has been
// unreferenced for 120 s (IP_VS_DEST_TRASH_PERIOD).
//
// The kernel scans its trash list on every add; after a -C of 100,000 dests
// that made each re-add O(trash) and a full restore quadratic. Here the list
// (for the sweep) is paired with a hash of (service, af, addr, port) so a
// re-add looks up one chain. Everything the trash keeps per entry lives in
// its own arrays (entry i: the dest, when it was first seen unreferenced, the
// next entry of its chain), none of it in the dest records. Removal swaps the
// last entry in and relinks it in its chain.
import { Dest, freeDest } from "../service/dest";
import { Service } from "../service/service";
import { dests } from "./dests";
import { Ptrs, Nums, allocArray, freeArray } from "../mem/vec";
import { mixIn, fmix32 } from "../mem/hash";

/** Entries: the dest, idle-since seconds (0 = not seen unreferenced), chain next (entry + 1, 0 = end). */
let ents: Ptrs<Dest> = changetype<Ptrs<Dest>>(0);
let idle: Nums<u32> = changetype<Nums<u32>>(0);
let nxt: Nums<i32> = changetype<Nums<i32>>(0);
let count: i32 = 0;
let cap: i32 = 0;
/** Chain heads (entry + 1, 0 = empty); a power of two >= cap. */
let buckets: Nums<i32> = changetype<Nums<i32>>(0);
let nbuckets: i32 = 0;

const TRASH_PERIOD: u32 = 120;
/** Bumped on every trashDest (the expire_nodest_conn flush watches it). */
let trashed: u32 = 0;

@inline function bucketOf(svcId: u32, af: u32, a0: u32, a1: u32, a2: u32, a3: u32, port: u32): i32 {
  let h = mixIn(svcId, (af << 16) | port);
  h = mixIn(h, a0);
  if (af == 6) {
    h = mixIn(h, a1);
    h = mixIn(h, a2);
    h = mixIn(h, a3);
  }
  return <i32>(fmix32(h) & (<u32>nbuckets - 1));
}

@inline function bucketOfDest(d: Dest): i32 {
  return bucketOf(d.svcId, d.af, d.a0, d.a1, d.a2, d.a3, d.port);
}

@inline function link(i: i32): void {
  const b = bucketOfDest(unchecked(ents[i]));
  unchecked((nxt[i] = buckets[b]));
  unchecked((buckets[b] = i + 1));
}

/** Room for n more trashDest calls (arrays and hash); callers reserve before unlinking so the move cannot fail. */
export function reserveTrash(n: i32): bool {
  const want = count + n;
  if (want <= cap) return true;
  let size = cap < 64 ? 64 : cap;
  while (size < want) size <<= 1;
  const e = allocArray<Ptrs<Dest>>(size, 4);
  const w = allocArray<Nums<u32>>(size, 4);
  const x = allocArray<Nums<i32>>(size, 4);
  const t = allocArray<Nums<i32>>(size, 4);
  if (changetype<usize>(e) == 0 || changetype<usize>(w) == 0 || changetype<usize>(x) == 0 || changetype<usize>(t) == 0) {
    freeArray(e, size, 4);
    freeArray(w, size, 4);
    freeArray(x, size, 4);
    freeArray(t, size, 4);
    return false;
  }
  memory.copy(changetype<usize>(e), changetype<usize>(ents), <usize>count << 2);
  memory.copy(changetype<usize>(w), changetype<usize>(idle), <usize>count << 2);
  if (cap != 0) {
    freeArray(ents, cap, 4);
    freeArray(idle, cap, 4);
    freeArray(nxt, cap, 4);
    freeArray(buckets, nbuckets, 4);
  }
  ents = e;
  idle = w;
  nxt = x;
  buckets = t;
  cap = size;
  nbuckets = size;
  for (let i = 0; i < count; i++) link(i);
  return true;
}

export function trashDest(d: Dest): void {
  // A deleted real server leaves the fast path's map; revived, it is fast again only when the host says so.
  d.fast = false;
  const i = count++;
  unchecked((ents[i] = d));
  unchecked((idle[i] = 0));
  link(i);
  trashed++;
}

export function trashEvents(): u32 {
  return trashed;
}

/** In the chain of bucket b, make the link that points at entry `from` point at `to` (entry + 1 values). */
function relink(b: i32, from: i32, to: i32): void {
  let k = unchecked(buckets[b]);
  if (k == from) {
    unchecked((buckets[b] = to));
    return;
  }
  while (k != 0) {
    const n = unchecked(nxt[k - 1]);
    if (n == from) {
      unchecked((nxt[k - 1] = to));
      return;
    }
    k = n;
  }
}

/** Take entry i out of its chain and the list (the last entry moves to i). */
function untrash(i: i32): void {
  relink(bucketOfDest(unchecked(ents[i])), i + 1, unchecked(nxt[i]));
  const last = --count;
  if (i == last) return;
  const d = unchecked(ents[last]);
  unchecked((ents[i] = d));
  unchecked((idle[i] = idle[last]));
  unchecked((nxt[i] = nxt[last]));
  relink(bucketOfDest(d), last + 1, i + 1);
}

export function reviveFromTrash(svc: Service, spec: Dest): Dest | null {
  if (count == 0) return null;
  let k = unchecked(buckets[bucketOf(svc.id, spec.af, spec.a0, spec.a1, spec.a2, spec.a3, spec.port)]);
  while (k != 0) {
    const d = unchecked(ents[k - 1]);
    if (d.svcId == svc.id && d.sameAddr(spec.af, spec.a0, spec.a1, spec.a2, spec.a3, spec.port)) {
      untrash(k - 1);
      return d;
    }
    k = unchecked(nxt[k - 1]);
  }
  return null;
}

/**
 * ip_vs_dest_trash_expire: the first sweep that sees a dest unreferenced
 * notes the time (idle since, at least 1); a later sweep >= 120 s after frees it.
 */
export function sweepTrash(now: u32): void {
  // Downwards: untrash swaps in the last entry, which this loop has already seen.
  for (let i = count - 1; i >= 0; i--) {
    const d = unchecked(ents[i]);
    if (d.refcnt != 0) {
      unchecked((idle[i] = 0));
      continue;
    }
    const since = unchecked(idle[i]);
    if (since == 0) {
      unchecked((idle[i] = now > 0 ? now : 1));
      continue;
    }
    if (now - since < TRASH_PERIOD) continue;
    untrash(i);
    dests.drop(d.id);
    // A cache entry may still point here (the kernel's caches hold the dest):
    // the last putDest frees it.
    if (d.cacheRefs == 0) freeDest(d);
    else d.dropped = true;
  }
}

export function trashCount(): i32 {
  return count;
}
