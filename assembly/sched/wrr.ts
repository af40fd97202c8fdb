// wrr (ip_vs_wrr.c). State: cursor `cl` (an index into svc.dests, -1 = the
// list head), current weight `cw`, adjusted max weight `mw`, step `di`.
//   di = gcd of the weights > 0 (1 when none), mw = max weight - (di - 1),
// so the passes run at cw = mw, mw - di, ..., 1 and the last pass (cw = 1)
// still reaches a dest whose weight was lowered below di. In one full cycle
// a dest of weight w is picked w / di times.
// Every add, delete and edit of a dest resets the cursor to the head, which
// is also why an index is a safe cursor: the list never changes under it.
import { Flow } from "../abi/flow";
import { Dest } from "../service/dest";
import { Service } from "../service/service";
import { gcd } from "../mem/hash";

/** No `stop` dest yet (never equal to a list index). */
const NO_STOP: i32 = -2;

function gcdOfWeights(svc: Service): i32 {
  const list = svc.dests;
  let g = 0;
  for (let i = 0, n = list.length; i < n; i++) {
    const w = unchecked(list[i]).weight;
    if (w > 0) g = g > 0 ? gcd(w, g) : w;
  }
  return g > 0 ? g : 1;
}

function maxWeight(svc: Service): i32 {
  const list = svc.dests;
  let m = 0;
  for (let i = 0, n = list.length; i < n; i++) {
    const w = unchecked(list[i]).weight;
    if (w > m) m = w;
  }
  return m;
}

@unmanaged export class WeightedRoundRobin {
  cl: i32 = -1;
  cw: i32 = 0;
  mw: i32 = 0;
  di: i32 = 1;
  private bound: bool = false;

  /**
   * ip_vs_wrr_init_svc. control.ts also calls init on -E with the same
   * scheduler, where IPVS leaves the scheduler's state alone: only the first
   * call counts (every dest change already went through the hooks below).
   */
  init(svc: Service): void {
    if (this.bound) return;
    this.bound = true;
    this.cl = -1;
    this.di = gcdOfWeights(svc);
    this.mw = maxWeight(svc) - (this.di - 1);
    this.cw = this.mw;
  }

  added(svc: Service, d: Dest): void {
    this.destChanged(svc);
  }

  removed(svc: Service, d: Dest, index: i32): void {
    this.destChanged(svc);
  }

  edited(svc: Service, d: Dest): void {
    this.destChanged(svc);
  }

  /** ip_vs_wrr_dest_changed: cursor to head, new di/mw, cw kept on the new grid. */
  private destChanged(svc: Service): void {
    this.cl = -1;
    this.di = gcdOfWeights(svc);
    this.mw = maxWeight(svc) - (this.di - 1);
    if (this.cw > this.mw || this.cw == 0) this.cw = this.mw;
    else if (this.di > 1) this.cw = (this.cw / this.di) * this.di + 1;
  }

  /**
   * Walk on from the cursor; at each list end lower cw by di. When cw would
   * reach 0 it wraps to mw; the call fails if that happens after a last pass
   * (cw <= di) or if the call started at the head (every pass then covered
   * every dest). After wrapping, the last pass stops once it has checked the
   * starting dest `last` again. On failure the cursor stays where the walk ended.
   */
  pick(svc: Service, f: Flow): Dest | null {
    if (this.mw == 0) return null;
    const list = svc.dests;
    const n = list.length;
    const last = this.cl;
    let stop = NO_STOP;
    let lastPass = false;
    let restarted = false;
    let i = last;
    while (true) {
      for (i++; i < n; i++) {
        const d = unchecked(list[i]);
        if (!d.overloaded && d.weight >= this.cw) {
          this.cl = i;
          return d;
        }
        if (i == stop) {
          this.cl = i;
          return null;
        }
      }
      this.cw -= this.di;
      if (this.cw <= 0) {
        this.cw = this.mw;
        if (lastPass || last < 0) {
          this.cl = -1;
          return null;
        }
        restarted = true;
      }
      lastPass = this.cw <= this.di;
      if (lastPass && restarted && last >= 0) stop = last;
      i = -1;
    }
    return null;
  }
}
