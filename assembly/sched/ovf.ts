// ovf (ip_vs_ovf.c): skip dests that are OVERLOADed, have weight 0, or have
// more active connections than their weight; of the rest take the highest
// weight (earliest in list order on ties). Only active connections count.
import { Flow } from "../abi/flow";
import { Dest } from "../service/dest";
import { Service } from "../service/service";

@unmanaged export class WeightedOverflow {
  pick(svc: Service, f: Flow): Dest | null {
    const list = svc.dests;
    let best: Dest | null = null;
    let bw: i32 = 0;
    for (let i = 0, n = list.length; i < n; i++) {
      const d = unchecked(list[i]);
      const w = d.weight;
      if (d.overloaded || w == 0 || <i64>d.activeconns > <i64>w) continue;
      if (best === null || w > bw) {
        best = d;
        bw = w;
      }
    }
    return best;
  }
}
