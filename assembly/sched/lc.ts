// lc (ip_vs_lc.c): the least overhead (active×256 + inactive) among dests that
// are not OVERLOADed and have weight != 0; unsigned strict `<`, so the
// earliest in list order wins ties. Weight is otherwise ignored.
// The scheduler keeps a heap in that order (loadheap.ts); lcScan is the
// literal scan, kept as the reference the heap must agree with.
import { Dest } from "../service/dest";
import { Service } from "../service/service";

export function lcScan(svc: Service): Dest | null {
  const list = svc.dests;
  let best: Dest | null = null;
  let bo: u32 = 0;
  for (let i = 0, n = list.length; i < n; i++) {
    const d = unchecked(list[i]);
    if (d.overloaded || d.weight == 0) continue;
    const o = d.overhead();
    if (best === null || o < bo) {
      best = d;
      bo = o;
    }
  }
  return best;
}
