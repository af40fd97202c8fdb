// Time-driven scheduler upkeep (lblc/lblcr cache expiry): one call visits
// every service's scheduler. Called by the host, or by the connection
// table's own clock advance, with the current time in seconds.
import { services } from "../table/services";

/** Run Scheduler.tick(svc, now) for every service; returns how many were visited. */
export function tickSchedulers(now: u32): i32 {
  const items = services.items;
  let n = 0;
  for (let i = 0, len = items.length; i < len; i++) {
    const svc = unchecked(items[i]);
    if (svc === null) continue;
    const s = svc.sched;
    if (s !== null) s.tick(svc, now);
    n++;
  }
  return n;
}
