// wlc (ip_vs_wlc.c), the default: the first non-OVERLOADed dest with weight > 0
// is the initial best; a later non-OVERLOADed dest D replaces best L when
//   overhead(L) * weight(D) > overhead(D) * weight(L)
// (cross-multiplied in 64 bits instead of dividing; strict, so ties keep the
// earlier dest). A weight-0 dest can never win: its left side is 0.
// The scheduler keeps a heap in that order (loadheap.ts); wlcScan is the
// literal scan (lblc uses it, and it is the reference the heap agrees with).
import { Dest } from "../service/dest";
import { Service } from "../service/service";

export function wlcScan(svc: Service): Dest | null {
  const list = svc.dests;
  const n = list.length;
  let i = 0;
  let best: Dest | null = null;
  for (; i < n; i++) {
    const d = unchecked(list[i]);
    if (!d.overloaded && d.weight > 0) {
      best = d;
      break;
    }
  }
  if (best === null) return null;
  let bo = <i64>best.overhead();
  let bw = <i64>best.weight;
  for (i++; i < n; i++) {
    const d = unchecked(list[i]);
    if (d.overloaded) continue;
    const doh = <i64>d.overhead();
    if (bo * <i64>d.weight > doh * bw) {
      best = d;
      bo = doh;
      bw = <i64>d.weight;
    }
  }
  return best;
}
