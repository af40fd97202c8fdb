// lblcr (ip_vs_lblcr.c): like lblc, but each cached address maps to a SET of
// dests (newest first). A pick uses the weighted-least-loaded member; when
// that member is missing or lblc-overloaded, wlc over the whole service picks
// one and it joins the set. A set of two or more that has not changed for
// lblcr_expiration (24 h) loses its weighted-most-loaded member. Cache expiry
// and garbage collection are lblc's (lblc_cache.ts).
import { Flow } from "../abi/flow";
import { Dest } from "../service/dest";
import { Service } from "../service/service";
import { wlcScan } from "./wlc";
import { LocalityCache, NIL, timeAfter } from "./lblc_cache";
import { isLblcOverloaded } from "./lblc_load";

/** ip_vs_dest_set_insert: d goes to the front (unless `check` finds it already there). */
function setInsert(c: LocalityCache, e: i32, d: Dest, now: u32, check: bool): void {
  const sets = c.sets;
  const head = unchecked(c.setHead[e]);
  if (check) {
    for (let x = head; x != NIL; x = unchecked(sets.next[x])) {
      if (unchecked(sets.dest[x]) === d) return;
    }
  }
  const x = sets.alloc(d, head);
  if (x == NIL) return; // no memory: the set stays as it was
  unchecked((c.setHead[e] = x));
  unchecked((c.setSize[e] += 1));
  unchecked((c.lastmod[e] = now));
}

/** ip_vs_dest_set_erase: unlink d's element. */
function setErase(c: LocalityCache, e: i32, d: Dest, now: u32): void {
  const sets = c.sets;
  let prev = NIL;
  for (let x = unchecked(c.setHead[e]); x != NIL; x = unchecked(sets.next[x])) {
    if (unchecked(sets.dest[x]) === d) {
      const nx = sets.free(x);
      if (prev == NIL) unchecked((c.setHead[e] = nx));
      else unchecked((sets.next[prev] = nx));
      unchecked((c.setSize[e] -= 1));
      unchecked((c.lastmod[e] = now));
      return;
    }
    prev = x;
  }
}

/**
 * ip_vs_dest_set_min: the first member that is not OVERLOADed, has weight > 0
 * and is AVAILABLE; then any later non-OVERLOADed AVAILABLE member whose
 * overhead/weight is strictly smaller (cross-multiplied).
 */
function setMin(c: LocalityCache, e: i32): Dest | null {
  const sets = c.sets;
  let x = unchecked(c.setHead[e]);
  let least: Dest | null = null;
  for (; x != NIL; x = unchecked(sets.next[x])) {
    const d = unchecked(sets.dest[x])!;
    if (!d.overloaded && d.weight > 0 && d.available) {
      least = d;
      break;
    }
  }
  if (least === null) return null;
  let lo = <i64>least.overhead();
  let lw = <i64>least.weight;
  for (x = unchecked(sets.next[x]); x != NIL; x = unchecked(sets.next[x])) {
    const d = unchecked(sets.dest[x])!;
    if (d.overloaded) continue;
    const doh = <i64>d.overhead();
    if (lo * <i64>d.weight > doh * lw && d.available) {
      least = d;
      lo = doh;
      lw = <i64>d.weight;
    }
  }
  return least;
}

/**
 * ip_vs_dest_set_max: the first member with weight > 0, then any later
 * member with weight > 0 whose overhead/weight is strictly larger. Neither
 * OVERLOAD nor AVAILABLE is looked at.
 */
function setMax(c: LocalityCache, e: i32): Dest | null {
  const sets = c.sets;
  let x = unchecked(c.setHead[e]);
  let most: Dest | null = null;
  for (; x != NIL; x = unchecked(sets.next[x])) {
    const d = unchecked(sets.dest[x])!;
    if (d.weight > 0) {
      most = d;
      break;
    }
  }
  if (most === null) return null;
  let mo = <i64>most.overhead();
  let mw = <i64>most.weight;
  for (x = unchecked(sets.next[x]); x != NIL; x = unchecked(sets.next[x])) {
    const d = unchecked(sets.dest[x])!;
    const doh = <i64>d.overhead();
    if (mo * <i64>d.weight < doh * mw && d.weight > 0) {
      most = d;
      mo = doh;
      mw = <i64>d.weight;
    }
  }
  return most;
}

/** The state block is the cache itself (replicated). */
@unmanaged export class LocalityBasedReplicated {
  @inline get cache(): LocalityCache {
    return changetype<LocalityCache>(this);
  }

  // No init: a new instance starts with an empty cache, and -E with the same
  // scheduler (which re-runs init in control.ts) keeps the cache, as in IPVS.

  done(svc: Service): void {
    this.cache.flush();
  }

  tick(svc: Service, now: u32): void {
    this.cache.tick(now);
  }

  pick(svc: Service, f: Flow): Dest | null {
    const c = this.cache;
    const now = f.now;
    const af = svc.af;
    c.touch(now);
    const e = c.find(af, f.v0, f.v1, f.v2, f.v3);
    if (e == NIL) {
      const d = wlcScan(svc);
      if (d === null) return null;
      const fresh = c.insert(af, f.v0, f.v1, f.v2, f.v3, now);
      if (fresh != NIL) setInsert(c, fresh, d, now, false);
      return d;
    }
    unchecked((c.lastuse[e] = now));
    // The least-loaded member is chosen BEFORE the stale-set trim, as in the
    // kernel: it is used even if the trim removes it.
    let d = setMin(c, e);
    if (unchecked(c.setSize[e]) > 1 && timeAfter(now, unchecked(c.lastmod[e]) + c.expiration)) {
      const m = setMax(c, e);
      if (m !== null) setErase(c, e, m, now);
    }
    if (d !== null && !isLblcOverloaded(d, svc)) return d;
    d = wlcScan(svc);
    if (d === null) return null;
    setInsert(c, e, d, now, true);
    return d;
  }
}
