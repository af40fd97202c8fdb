// The only file that lists the schedulers. Ids are ABI (the SDK maps names to
// them in sdk/src/schedulers.ts); 0 is IPVS's "none" (no scheduler bound).
import { Scheduler } from "./scheduler";
import { RoundRobin } from "./rr";
import { WeightedRoundRobin } from "./wrr";
import { LeastConnection } from "./lc";
import { WeightedLeastConnection } from "./wlc";
import { ShortestExpectedDelay } from "./sed";
import { NeverQueue } from "./nq";
import { DestinationHashing } from "./dh";
import { SourceHashing } from "./sh";
import { MaglevHashing } from "./mh";
import { LocalityBased } from "./lblc";
import { LocalityBasedReplicated } from "./lblcr";
import { WeightedFailover } from "./fo";
import { WeightedOverflow } from "./ovf";
import { PowerOfTwo } from "./twos";

export const SCHED_NONE: u32 = 0;
export const SCHED_RR: u32 = 1;
export const SCHED_WRR: u32 = 2;
export const SCHED_LC: u32 = 3;
export const SCHED_WLC: u32 = 4;
export const SCHED_SED: u32 = 5;
export const SCHED_NQ: u32 = 6;
export const SCHED_DH: u32 = 7;
export const SCHED_SH: u32 = 8;
export const SCHED_MH: u32 = 9;
export const SCHED_LBLC: u32 = 10;
export const SCHED_LBLCR: u32 = 11;
export const SCHED_FO: u32 = 12;
export const SCHED_OVF: u32 = 13;
export const SCHED_TWOS: u32 = 14;
export const SCHED_MAX: u32 = 14;

/** A fresh scheduler instance for a service, or null for "none"/unknown ids. */
export function createScheduler(id: u32): Scheduler | null {
  switch (id) {
    case SCHED_RR: return new RoundRobin();
    case SCHED_WRR: return new WeightedRoundRobin();
    case SCHED_LC: return new LeastConnection();
    case SCHED_WLC: return new WeightedLeastConnection();
    case SCHED_SED: return new ShortestExpectedDelay();
    case SCHED_NQ: return new NeverQueue();
    case SCHED_DH: return new DestinationHashing();
    case SCHED_SH: return new SourceHashing();
    case SCHED_MH: return new MaglevHashing();
    case SCHED_LBLC: return new LocalityBased();
    case SCHED_LBLCR: return new LocalityBasedReplicated();
    case SCHED_FO: return new WeightedFailover();
    case SCHED_OVF: return new WeightedOverflow();
    case SCHED_TWOS: return new PowerOfTwo();
  }
  return null;
}

export function isKnownScheduler(id: u32): bool {
  return id <= SCHED_MAX;
}
