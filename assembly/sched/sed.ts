// sed (ip_vs_sed.c): wlc's loop with overhead = activeconns + 1 (inactive
// connections are ignored): the expected delay of the next connection.
import { Scheduler } from "./scheduler";
import { Flow } from "./flow";
import { Dest } from "../table/dest";
import { Service } from "../table/service";

/** sed's choice starting the scan at list index `from` (nq reuses it). */
export function sedScan(svc: Service, from: i32): Dest | null {
  const list = svc.dests;
  const n = list.length;
  let i = from;
  let best: Dest | null = null;
  for (; i < n; i++) {
    const d = unchecked(list[i]);
    if (!d.overloaded && d.weight > 0) {
      best = d;
      break;
    }
  }
  if (best === null) return null;
  let bo = <i64>best.activeconns + 1;
  let bw = <i64>best.weight;
  for (i++; i < n; i++) {
    const d = unchecked(list[i]);
    if (d.overloaded) continue;
    const doh = <i64>d.activeconns + 1;
    if (bo * <i64>d.weight > doh * bw) {
      best = d;
      bo = doh;
      bw = <i64>d.weight;
    }
  }
  return best;
}

export class ShortestExpectedDelay extends Scheduler {
  pick(svc: Service, f: Flow): Dest | null {
    return sedScan(svc, 0);
  }
}
