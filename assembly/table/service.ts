// A virtual service: key, options, its destination list (index 0 = list head,
// where IPVS links new destinations) and its scheduler instance.
import { Dest } from "./dest";
import { Scheduler } from "../sched/scheduler";
import { Stats } from "../stats/stats";

export class Service {
  id: u32 = 0;
  af: u32 = 4;
  proto: u32 = 6;
  port: u32 = 0;
  fwmark: u32 = 0;
  a0: u32 = 0;
  a1: u32 = 0;
  a2: u32 = 0;
  a3: u32 = 0;
  schedId: u32 = 0;
  flags: u32 = 0;
  timeout: u32 = 0;
  netmask: u32 = 0xFFFFFFFF;
  mhPrime: u32 = 0;
  sched: Scheduler | null = null;
  /** IPVS list order: index 0 is the head (newest). */
  dests: Array<Dest> = new Array<Dest>();
  /** Next service in the same hash bucket. */
  hnext: Service | null = null;
  /** Counters and rates of the whole service. */
  stats: Stats = new Stats();

  indexOf(d: Dest): i32 {
    const list = this.dests;
    for (let i = 0, n = list.length; i < n; i++) {
      if (unchecked(list[i]) === d) return i;
    }
    return -1;
  }

  findDest(af: u32, a0: u32, a1: u32, a2: u32, a3: u32, port: u32): Dest | null {
    const list = this.dests;
    for (let i = 0, n = list.length; i < n; i++) {
      const d = unchecked(list[i]);
      if (d.sameAddr(af, a0, a1, a2, a3, port)) return d;
    }
    return null;
  }
}
