// lblc (ip_vs_lblc.c): a per-service cache from the flow's destination
// (virtual) address to the dest last chosen for it. A cached dest is reused
// while it is AVAILABLE (still linked), has weight > 0 and is not
// lblc-overloaded; the OVERLOAD flag is not checked for it. Otherwise the wlc
// rule over the whole service chooses, and the entry is created or repointed.
// Entries go after lblc_expiration (24 h) idle, or after 6 min idle when the
// table holds more than 16384 (see lblc_cache.ts).
import { Flow } from "../abi/flow";
import { Dest } from "../service/dest";
import { Service } from "../service/service";
import { wlcScan } from "./wlc";
import { LocalityCache, NIL } from "./lblc_cache";
import { isLblcOverloaded } from "./lblc_load";

/** The state block is the cache itself (lblc payload). */
@unmanaged export class LocalityBased {
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
    if (e != NIL) {
      unchecked((c.lastuse[e] = now));
      const cached = unchecked(c.dest[e]);
      if (cached !== null && cached.available && cached.weight > 0 && !isLblcOverloaded(cached, svc)) return cached;
    }
    const d = wlcScan(svc);
    if (d === null) return null;
    // The kernel deletes a stale entry and hashes a fresh one (lastuse = now);
    // repointing it in place is the same state.
    const slot = e != NIL ? e : c.insert(af, f.v0, f.v1, f.v2, f.v3, now);
    if (slot != NIL) c.setDest(slot, d); // NIL: no memory for the entry, the pick stands
    return d;
  }
}
