// Load accounting without connection entries (OPT_TRACK_CONNS 2): each
// decision counts one new connection on its dest the way binding one does
// (ip_vs_bind_dest with the dest's conn_flags, which always hold
// IP_VS_CONN_F_INACTIVE: inactconns++, then the OVERLOAD rule), in the same
// core call as the pick, and the host reports the ends (destConnEnd) as the
// connection table's unbind would. No refcnt moves: nothing points at the dest.
// For lc/wlc/sed/nq the chosen dest is the heap's root and its key only grew,
// so its leaf-to-root path in the index is replayed in place (loadheap.ts).
import { Dest } from "../service/dest";
import { Service } from "../service/service";
import { serviceOf } from "../service/services";
import { LoadHeap } from "./loadheap";
import { SCHED_LC, SCHED_NQ, schedLoadChanged } from "./registry";

/**
 * d was just picked for svc (for lc/wlc/sed/nq: the root of its index): one
 * more (inactive) connection on it. Not inlined: inside pickOnly the climbs
 * cost every scheduler's batched pick ~3 ns even with counting off.
 */
export function countBind(svc: Service, d: Dest): void {
  d.inactconns++;
  d.checkOverloadOnBind();
  const id = svc.schedId;
  if (id >= SCHED_LC && id <= SCHED_NQ) changetype<LoadHeap>(svc.sched).raisedTop(d);
}

/** A counted connection of d ended (`active`: it was in activeconns). False when that counter is 0. */
export function countEnd(d: Dest, active: bool): bool {
  if (active) {
    if (d.activeconns == 0) return false;
    d.activeconns--;
  } else {
    if (d.inactconns == 0) return false;
    d.inactconns--;
  }
  d.checkOverloadOnUnbind();
  const svc = serviceOf(d);
  if (svc !== null && d.available) schedLoadChanged(svc, d);
  return true;
}
