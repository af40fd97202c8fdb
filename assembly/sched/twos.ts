// twos (ip_vs_twos.c): power of two choices. total = 1 + the sum of weights
// of eligible dests (not OVERLOADed, weight > 0); two draws r1, r2 in
// [0, total); walking the list and subtracting weights, the first dest where a
// draw becomes <= 0 is that draw's choice (so the first eligible dest gets
// (W1+1)/(sum+1)). Choice 2 wins only if W2·ovh1 > W1·ovh2 (overhead =
// active×256 + inactive). Draws come from the seeded PRNG.
import { Flow } from "../abi/flow";
import { Dest } from "../service/dest";
import { Service } from "../service/service";
import { rand32 } from "./rand";

@unmanaged export class PowerOfTwo {
  pick(svc: Service, f: Flow): Dest | null {
    const list = svc.dests;
    const n = list.length;
    let total: i64 = 0;
    for (let i = 0; i < n; i++) {
      const d = unchecked(list[i]);
      if (!d.overloaded && d.weight > 0) total += <i64>d.weight;
    }
    if (total == 0) return null;
    total += 1;
    let r1 = <i64>(<u64>rand32() % <u64>total);
    let r2 = <i64>(<u64>rand32() % <u64>total);
    let c1: Dest | null = null;
    let c2: Dest | null = null;
    for (let i = 0; i < n; i++) {
      const d = unchecked(list[i]);
      if (d.overloaded || d.weight <= 0) continue;
      r1 -= <i64>d.weight;
      r2 -= <i64>d.weight;
      if (c1 === null && r1 <= 0) c1 = d;
      if (c2 === null && r2 <= 0) c2 = d;
      if (c1 !== null && c2 !== null) break;
    }
    if (c1 === null || c2 === null) return null;
    if (<i64>c2.weight * <i64>c1.overhead() > <i64>c1.weight * <i64>c2.overhead()) return c2;
    return c1;
  }
}
