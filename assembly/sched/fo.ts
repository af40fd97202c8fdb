// fo (ip_vs_fo.c): the non-OVERLOADed dest with the highest weight (> 0);
// strict `>`, so the earliest in list order wins equal weights.
import { Flow } from "../abi/flow";
import { Dest } from "../service/dest";
import { Service } from "../service/service";

@unmanaged export class WeightedFailover {
  pick(svc: Service, f: Flow): Dest | null {
    const list = svc.dests;
    let best: Dest | null = null;
    let bw: i32 = 0;
    for (let i = 0, n = list.length; i < n; i++) {
      const d = unchecked(list[i]);
      if (!d.overloaded && d.weight > bw) {
        best = d;
        bw = d.weight;
      }
    }
    return best;
  }
}
