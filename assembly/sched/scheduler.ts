// The hook contract every scheduler implements (cf. struct ip_vs_scheduler).
// One instance per service: it owns that service's scheduling state.
// Expensive work (tables, wrr state) belongs in the change hooks; `pick` reads
// prepared state and never allocates.
import { Dest } from "../table/dest";
import { Service } from "../table/service";
import { Flow } from "./flow";

export class Scheduler {
  /** Bound to svc (on add, or when -E changes the scheduler); dests already listed. */
  init(svc: Service): void {}
  /** d was linked at the head of svc.dests. */
  added(svc: Service, d: Dest): void {}
  /** d was unlinked; it sat at `index` in svc.dests before removal. */
  removed(svc: Service, d: Dest, index: i32): void {}
  /** d's weight, thresholds or method were edited (ip_vs_edit_dest). */
  edited(svc: Service, d: Dest): void {}
  /** d's activeconns/inactconns or OVERLOAD flag changed. */
  loadChanged(svc: Service, d: Dest): void {}
  /** The scheduler is being replaced or the service deleted. */
  done(svc: Service): void {}
  /** Choose a destination for `f`; null when none is available. */
  pick(svc: Service, f: Flow): Dest | null {
    return null;
  }
  /** Time-driven upkeep (lblc/lblcr cache expiry); `now` in seconds. */
  tick(svc: Service, now: u32): void {}
  /** May one more dest be linked? false makes -a fail with E_INVAL (mh: dests > M). */
  canAdd(svc: Service): bool {
    return true;
  }
  /** Slots in the lookup table (dh/sh/mh); 0 for schedulers without one. */
  tableSize(): i32 {
    return 0;
  }
  /** The dest in table slot i (0 <= i < tableSize()), null when empty. */
  tableAt(i: i32): Dest | null {
    return null;
  }
}
