// sed (ip_vs_sed.c): wlc's loop with overhead = activeconns + 1 (inactive
// connections are ignored): the expected delay of the next connection.
// The scheduler keeps a heap in that order (loadheap.ts); sedScan is the
// literal scan, kept as the reference the heap agrees with.
import { Dest } from "../service/dest";
import { Service } from "../service/service";

/** sed's choice scanning the list from index `from`. */
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
