// Time-driven scheduler upkeep (lblc/lblcr cache expiry): one call visits
// every service's scheduler. Called by the host, or by the connection
// table's own clock advance, with the current time in seconds.
import { services } from "../service/services";
import { schedTick } from "./registry";

/** Run the tick hook for every service; returns how many were visited. */
export function tickSchedulers(now: u32): i32 {
  let n = 0;
  for (let i = 0, len = services.slotCount(); i < len; i++) {
    const svc = services.at(i);
    if (svc === null) continue;
    schedTick(svc, now);
    n++;
  }
  return n;
}
