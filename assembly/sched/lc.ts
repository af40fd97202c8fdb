// lc (ip_vs_lc.c): the least overhead (active×256 + inactive) among dests that
// are not OVERLOADed and have weight != 0; unsigned strict `<`, so the
// earliest in list order wins ties. Weight is otherwise ignored.
import { Scheduler } from "./scheduler";
import { Flow } from "./flow";
import { Dest } from "../table/dest";
import { Service } from "../table/service";

export class LeastConnection extends Scheduler {
  pick(svc: Service, f: Flow): Dest | null {
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
}
