// Destination handles, list order and the counter changes that schedulers
// must hear about (bind/unbind from the connection table, thresholds).
import { Dest } from "../service/dest";
import { Service } from "../service/service";
import { Slots } from "../mem/slots";
import { serviceOf } from "../service/services";
import { DEST_F_AVAILABLE, DEST_F_OVERLOAD, DEST_F_DOWN } from "../abi/layout";
import { estimatorAdd, estimatorRemove, estimatorReserve } from "../stats/estimator";
import { schedAdded, schedRemoved, schedLoadChanged } from "../sched/registry";

export const dests = new Slots<Dest>();

/** Decreasing key: each dest linked at the head gets the smallest key so far. */
let nextOrder: i64 = 0;

/** Room to link one more dest to svc (list and estimator), taken before anything changes. */
export function reserveLink(svc: Service): bool {
  return svc.dests.reserve(svc.dests.length + 1) && estimatorReserve(1);
}

/** Link d at the head of svc's list (new or revived dest); reserveLink ran first. */
export function linkDest(svc: Service, d: Dest): void {
  d.svcId = svc.id;
  d.order = --nextOrder;
  d.flags |= DEST_F_AVAILABLE;
  svc.dests.unshift(d);
  estimatorAdd(d.stats);
  schedAdded(svc, d);
}

/** Unlink d from svc's list; the caller decides whether it goes to the trash. */
export function unlinkDest(svc: Service, d: Dest): void {
  const idx = svc.indexOf(d);
  if (idx < 0) return;
  svc.dests.removeAt(idx);
  d.flags &= ~DEST_F_AVAILABLE;
  estimatorRemove(d.stats);
  schedRemoved(svc, d, idx);
}

@inline function notifyLoad(d: Dest): void {
  const svc = serviceOf(d);
  if (svc !== null && d.available) schedLoadChanged(svc, d);
}

/** A normal connection was bound to d: it starts inactive (IP_VS_CONN_F_INACTIVE). */
export function bindInactive(d: Dest): void {
  d.inactconns++;
  d.refcnt++;
  d.checkOverloadOnBind();
  notifyLoad(d);
}

/** A normal connection left d; `active` says which counter it was in. */
export function unbindConn(d: Dest, active: bool): void {
  if (active) d.activeconns--;
  else d.inactconns--;
  d.refcnt--;
  d.checkOverloadOnUnbind();
  notifyLoad(d);
}

/** A persistence template was bound to d. */
export function bindTemplate(d: Dest): void {
  d.persistconns++;
  d.refcnt++;
  d.checkOverloadOnBind();
  notifyLoad(d);
}

export function unbindTemplate(d: Dest): void {
  d.persistconns--;
  d.refcnt--;
  d.checkOverloadOnUnbind();
  notifyLoad(d);
}

/** A connection moved between inactive and active (TCP state change). */
export function setActive(d: Dest, active: bool): void {
  if (active) {
    d.inactconns--;
    d.activeconns++;
  } else {
    d.activeconns--;
    d.inactconns++;
  }
  notifyLoad(d);
}

/**
 * Set the counters directly, for simulations and scheduler tests that model
 * load without real connections. Moves the OVERLOAD flag as binding or
 * unbinding that many connections would.
 */
export function setConnCounts(d: Dest, active: u32, inactive: u32): void {
  const before = d.activeconns + d.inactconns;
  d.activeconns = active;
  d.inactconns = inactive;
  const after = active + inactive;
  if (after > before) d.checkOverloadOnBind();
  else if (after < before) d.checkOverloadOnUnbind();
  notifyLoad(d);
}

/** Clear OVERLOAD on -a/-e when the new u_threshold is 0 or above the old one. */
export function updateThresholds(d: Dest, u: u32, l: u32): void {
  if (u == 0 || u > d.uThreshold) d.flags &= ~DEST_F_OVERLOAD;
  d.uThreshold = u;
  d.lThreshold = l;
}

/**
 * Health state from a checker (wasmvs, not IPVS): DOWN makes d skipped like an
 * OVERLOADed dest; weight and counters stay as they are. Returns true on change.
 */
export function setHealth(d: Dest, up: bool): bool {
  const was = (d.flags & DEST_F_DOWN) == 0;
  if (was == up) return false;
  if (up) d.flags &= ~DEST_F_DOWN;
  else d.flags |= DEST_F_DOWN;
  notifyLoad(d);
  return true;
}
