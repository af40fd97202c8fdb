// Deleted destinations that connections still reference wait here, and are
// revived with their counters when the same (af, addr, port) is re-added to the
// same service (§2.2). Like IPVS, an unreferenced dest is freed by the trash
// sweep (every 60 s from the connection table's clock) once it has been
// unreferenced for 120 s (IP_VS_DEST_TRASH_PERIOD).
//
// The kernel scans its trash list on every add; after a -C of 100,000 dests
// that made each re-add O(trash) and a full restore quadratic. Here the list
// (for the sweep) is paired with a hash of (service, af, addr, port) chained
// through Dest.tnext, so a re-add looks up one chain. Removal from the list
// swaps the last entry in (Dest.trashPos).
import { Dest, freeDest } from "./dest";
import { Service } from "./service";
import { dests } from "./dests";
import { Vec, Ptrs, allocArray, freeArray } from "./vec";
import { mixIn, fmix32 } from "./hash";

const trash = new Vec<Dest>();
let buckets: Ptrs<Dest | null> = changetype<Ptrs<Dest | null>>(0);
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

/** Room for n more trashDest calls (list and hash); callers reserve before unlinking so the move cannot fail. */
export function reserveTrash(n: i32): bool {
  const want = trash.length + n;
  if (!trash.reserve(want)) return false;
  if (want <= nbuckets) return true;
  let size = nbuckets < 64 ? 64 : nbuckets;
  while (size < want) size <<= 1;
  const t = allocArray<Ptrs<Dest | null>>(size, 4);
  if (changetype<usize>(t) == 0) return false;
  if (nbuckets != 0) freeArray(buckets, nbuckets, 4);
  buckets = t;
  nbuckets = size;
  for (let i = 0, len = trash.length; i < len; i++) {
    const d = unchecked(trash[i]);
    const b = bucketOfDest(d);
    d.tnext = unchecked(buckets[b]);
    unchecked((buckets[b] = d));
  }
  return true;
}

export function trashDest(d: Dest): void {
  d.idleSince = 0;
  d.trashPos = trash.length;
  trash.push(d);
  const b = bucketOfDest(d);
  d.tnext = unchecked(buckets[b]);
  unchecked((buckets[b] = d));
  trashed++;
}

export function trashEvents(): u32 {
  return trashed;
}

/** Take d out of the list and its chain. */
function untrash(d: Dest): void {
  const b = bucketOfDest(d);
  let cur = unchecked(buckets[b]);
  if (cur === d) unchecked((buckets[b] = d.tnext));
  else {
    while (cur !== null) {
      if (cur.tnext === d) {
        cur.tnext = d.tnext;
        break;
      }
      cur = cur.tnext;
    }
  }
  d.tnext = null;
  const i = d.trashPos;
  const last = trash.pop();
  if (last !== d) {
    unchecked((trash[i] = last));
    last.trashPos = i;
  }
  d.trashPos = -1;
}

export function reviveFromTrash(svc: Service, spec: Dest): Dest | null {
  if (trash.length == 0) return null;
  let d = unchecked(buckets[bucketOf(svc.id, spec.af, spec.a0, spec.a1, spec.a2, spec.a3, spec.port)]);
  while (d !== null) {
    if (d.svcId == svc.id && d.sameAddr(spec.af, spec.a0, spec.a1, spec.a2, spec.a3, spec.port)) {
      untrash(d);
      return d;
    }
    d = d.tnext;
  }
  return null;
}

/**
 * ip_vs_dest_trash_expire: the first sweep that sees a dest unreferenced
 * notes the time (idleSince, at least 1); a later sweep >= 120 s after frees it.
 */
export function sweepTrash(now: u32): void {
  // Downwards: untrash swaps in the last entry, which this loop has already seen.
  for (let i = trash.length - 1; i >= 0; i--) {
    const d = unchecked(trash[i]);
    if (d.refcnt != 0) {
      d.idleSince = 0;
      continue;
    }
    if (d.idleSince == 0) {
      d.idleSince = now > 0 ? now : 1;
      continue;
    }
    if (now - d.idleSince < TRASH_PERIOD) continue;
    untrash(d);
    dests.drop(d.id);
    // A cache entry may still point here (the kernel's caches hold the dest):
    // the last putDest frees it.
    if (d.cacheRefs == 0) freeDest(d);
    else d.dropped = true;
  }
}

export function trashCount(): i32 {
  return trash.length;
}
