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
import { Stats, newStats } from "./stats";
import { Vec } from "../mem/vec";

/** The global total (/proc/net/ip_vs_stats), sampled from the start of the clock. */
export const totalStats = new Stats();

/**
 * The stats blocks sampled besides the total: those of linked services and
 * linked (available) dests that have one, i.e. that counted something. An
 * object without a block is all zero and a sample would leave it so.
 */
const live = new Vec<Stats>();
let pendingStart = false;
let running = false;
let nextSample: u32 = 0;

/** Room to add n more blocks without allocating; false when memory cannot grow. */
export function estimatorReserve(n: i32): bool {
  return live.reserve(live.length + n);
}

/**
 * A service or a dest joined a service: the clock starts at the next
 * estimatorRun if it has not, and `s`, when it is a block (not 0), is
 * sampled from now on. Not a hot path. False when memory cannot grow
 * (nothing changed; estimatorReserve(1) first makes it certain).
 */
export function estimatorAdd(s: Stats): bool {
  if (changetype<usize>(s) != 0 && s.estPos < 0) {
    if (!live.reserve(live.length + 1)) return false;
    s.estPos = live.length;
    live.push(s);
  }
  if (!running) pendingStart = true;
  return true;
}

/** Stop sampling `s` (service deleted, dest moved to the trash): its rates freeze. */
export function estimatorRemove(s: Stats): void {
  if (changetype<usize>(s) == 0) return;
  const i = s.estPos;
  if (i < 0) return;
  const last = live.pop();
  if (last !== s) {
    unchecked((live[i] = last));
    last.estPos = i;
  }
  s.estPos = -1;
}

/**
 * The stats block whose pointer is stored at `at` (a service's or dest's
 * `stats` field), made zeroed on first use and, when `sampled` (the object
 * is linked), sampled from now on; null when memory cannot grow (nothing
 * changed). A block made between two samples starts where an eager one
 * would stand: last values and averages 0.
 */
export function statsAt(at: usize, sampled: bool): Stats | null {
  const p = load<usize>(at);
  if (p != 0) return changetype<Stats>(p);
  if (sampled && !live.reserve(live.length + 1)) return null;
  const s = newStats();
  if (s === null) return null;
  store<usize>(at, changetype<usize>(s));
  if (sampled) {
    s.estPos = live.length;
    live.push(s);
  }
  return s;
}

/** Number of sampled stats blocks (the total not included). */
export function estimatorLiveCount(): i32 {
  return live.length;
}

/** True when estimatorRun(now) has something to do (start, or a sample due). */
@inline export function estimatorDue(now: u32): bool {
  return running ? now >= nextSample : pendingStart;
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
  totalStats.sample();
  totalStats.decay(due - 1);
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
