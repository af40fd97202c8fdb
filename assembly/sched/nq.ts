// nq (ip_vs_nq.c): skip OVERLOADed and weight-0 dests; the first idle one
// (activeconns == 0) in list order wins at once; otherwise the sed rule
// (activeconns + 1, strict cross-multiplied comparison, earliest wins ties).
// The scheduler keeps a heap in that order (idle dests first by list order,
// then the sed order; loadheap.ts); nqScan is the literal scan, kept as the
// reference the heap agrees with.
import { Dest } from "../service/dest";
import { Service } from "../service/service";

export function nqScan(svc: Service): Dest | null {
  const list = svc.dests;
  let best: Dest | null = null;
  let bo: i64 = 0;
  let bw: i64 = 0;
  for (let i = 0, n = list.length; i < n; i++) {
    const d = unchecked(list[i]);
    if (d.overloaded || d.weight == 0) continue;
    if (d.activeconns == 0) return d;
    const doh = <i64>d.activeconns + 1;
    if (best === null || bo * <i64>d.weight > doh * bw) {
      best = d;
      bo = doh;
      bw = <i64>d.weight;
    }
  }
  return best;
}
