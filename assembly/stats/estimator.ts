// The rate estimator's clock and its list of live stats objects (services,
// their destinations and the global total), as ip_vs_est.c keeps them.
//
// Timing. IPVS samples every stats object every 2 seconds of real time. Here
// time is the `now` the host passes in: the clock starts at the first
// estimatorRun after the first service was added, and a sample is due every
// 2 seconds of `now` after that.
//
// What "exact" means. Counts accounted between estimatorRun(t1) and
// estimatorRun(t2) are attributed to the first sample due after t1 (the host
// calls advance(now) before it feeds the events of time `now`, so they
// happened at t1 ≤ t < t2, and all samples after that one saw Δ = 0). Given
// that attribution, the averages are bit-for-bit the integers the kernel's
// formula gives for the same per-sample deltas, however long the gap: the
// extra Δ = 0 samples are applied one by one until every average stops
// changing (0 in practice; about 150 steps from the largest 64-bit values),
// so the work is bounded by the live object count, never by the gap length.
import { Stats } from "./stats";
import { Vec } from "../table/vec";

/** The global total (/proc/net/ip_vs_stats). */
export const totalStats = new Stats();

const live = new Vec<Stats>();
let pendingStart = false;
let running = false;
let nextSample: u32 = 0;

/** Start sampling `s` (a service or a dest joining a service). Not a hot path.
 * False when memory cannot grow (nothing changed). */
export function estimatorAdd(s: Stats): bool {
  if (s.estPos >= 0) return true;
  if (!live.reserve(live.length + 2)) return false;
  if (live.length == 0) {
    totalStats.estPos = 0;
    live.push(totalStats);
  }
  s.estPos = live.length;
  live.push(s);
  if (!running) pendingStart = true;
  return true;
}

/** Stop sampling `s` (service deleted, dest moved to the trash): its rates freeze. */
export function estimatorRemove(s: Stats): void {
  const i = s.estPos;
  if (i < 0) return;
  const last = live.pop();
  if (last !== s) {
    unchecked((live[i] = last));
    last.estPos = i;
  }
  s.estPos = -1;
}

/** Number of sampled stats objects (the total included once started). */
export function estimatorLiveCount(): i32 {
  return live.length;
}

/** Take every sample due up to `now` (seconds, non-decreasing). */
export function estimatorRun(now: u32): void {
  if (!running) {
    if (!pendingStart) return;
    running = true;
    pendingStart = false;
    nextSample = now + 2;
    return;
  }
  if (now < nextSample) return;
  const due = (now - nextSample) / 2 + 1;
  nextSample += due * 2;
  for (let i = 0, n = live.length; i < n; i++) {
    const s = unchecked(live[i]);
    s.sample();
    s.decay(due - 1);
  }
}

/** Seconds of `now` at which the next sample is due; 0 before estimation starts. */
export function estimatorNextSample(): u32 {
  return running ? nextSample : 0;
}
