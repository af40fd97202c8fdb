// One IPVS stats object (struct ip_vs_stats + struct ip_vs_estimator):
// 64-bit counters, the -Z baseline and the 2-second rate estimator state.
//
// Counters only ever grow (u64, wrapping like the kernel's). -Z does not
// clear them: it records a baseline that is subtracted on display and
// resets the estimator (ip_vs_zero_stats / ip_vs_zero_estimator).
//
// Estimator (ip_vs_est.c), applied once per 2-second sample:
//   cps, inpps, outpps are scaled by 2^10: rate = Δ << 9  (Δ·1024 / 2 s)
//   inbps, outbps      are scaled by 2^5:  rate = Δ << 4  (Δ·32 / 2 s)
//   avg += (rate - avg) >> 2   (signed 64-bit difference, arithmetic shift)
// Reported: pps = (avg + 0x1FF) >> 10, bps = (avg + 0xF) >> 5.
// Invariant: every avg is >= 0 while Δ < 2^54 per sample (rate is then a
// non-negative s64 and the step never overshoots); beyond that the kernel's
// s64 cast makes rate negative, and we reproduce that too.

/** Reported rate of a 2^10-scaled average (cps, inpps, outpps). */
@inline export function reportPps(avg: i64): u64 {
  return <u64>(avg + 0x1FF) >> 10;
}

/** Reported rate of a 2^5-scaled average (inbps, outbps). */
@inline export function reportBps(avg: i64): u64 {
  return <u64>(avg + 0xF) >> 5;
}

/** One EWMA step with weight 1/4, exactly as the kernel does it. */
@inline function ewma(avg: i64, rate: i64): i64 {
  return avg + ((rate - avg) >> 2);
}

import { alloc, free } from "../mem/alloc";

/**
 * Unmanaged: newStats/freeStats (the global total is created once at start).
 * A service's or dest's block is made at its first counted event
 * (estimator.ts statsAt); until then the record's pointer is 0 and every
 * counter, baseline and average reads as 0, which is exactly the state an
 * eagerly made block would still be in: samples of an object that never
 * counted anything leave it all zero, and -Z of it changes nothing.
 */
@unmanaged export class Stats {
  conns: u64 = 0;
  inpkts: u64 = 0;
  outpkts: u64 = 0;
  inbytes: u64 = 0;
  outbytes: u64 = 0;

  /** -Z baseline, subtracted on display. */
  zConns: u64 = 0;
  zInpkts: u64 = 0;
  zOutpkts: u64 = 0;
  zInbytes: u64 = 0;
  zOutbytes: u64 = 0;

  /** Counter values at the previous sample. */
  lastConns: u64 = 0;
  lastInpkts: u64 = 0;
  lastOutpkts: u64 = 0;
  lastInbytes: u64 = 0;
  lastOutbytes: u64 = 0;

  /** Scaled averages (see the file comment). */
  cpsAvg: i64 = 0;
  inppsAvg: i64 = 0;
  outppsAvg: i64 = 0;
  inbpsAvg: i64 = 0;
  outbpsAvg: i64 = 0;

  /** Index in the estimator's live list; -1 when not sampled. */
  estPos: i32 = -1;

  /** One 2-second sample: Δ since the last sample feeds the averages. */
  sample(): void {
    this.cpsAvg = ewma(this.cpsAvg, <i64>((this.conns - this.lastConns) << 9));
    this.inppsAvg = ewma(this.inppsAvg, <i64>((this.inpkts - this.lastInpkts) << 9));
    this.outppsAvg = ewma(this.outppsAvg, <i64>((this.outpkts - this.lastOutpkts) << 9));
    this.inbpsAvg = ewma(this.inbpsAvg, <i64>((this.inbytes - this.lastInbytes) << 4));
    this.outbpsAvg = ewma(this.outbpsAvg, <i64>((this.outbytes - this.lastOutbytes) << 4));
    this.lastConns = this.conns;
    this.lastInpkts = this.inpkts;
    this.lastOutpkts = this.outpkts;
    this.lastInbytes = this.inbytes;
    this.lastOutbytes = this.outbytes;
  }

  /**
   * Up to `n` further samples in which nothing was counted (Δ = 0), as the
   * kernel would take them during a gap. Each maps avg to avg + ((0 - avg) >> 2):
   * a positive avg falls by ceil(avg / 4) down to 0, a negative one (only
   * reachable with Δ ≥ 2^54 in one sample) rises to a fixed point in -3..0.
   * Either way every average reaches a fixed point within about 150 steps
   * (150 from ±2^63), and we stop there: the result is the same integers as
   * taking all n samples one by one, with bounded work.
   */
  decay(n: u32): void {
    for (let i: u32 = 0; i < n; i++) {
      const c = ewma(this.cpsAvg, 0);
      const ip = ewma(this.inppsAvg, 0);
      const op = ewma(this.outppsAvg, 0);
      const ib = ewma(this.inbpsAvg, 0);
      const ob = ewma(this.outbpsAvg, 0);
      const same = c == this.cpsAvg && ip == this.inppsAvg && op == this.outppsAvg && ib == this.inbpsAvg && ob == this.outbpsAvg;
      if (same) return;
      this.cpsAvg = c;
      this.inppsAvg = ip;
      this.outppsAvg = op;
      this.inbpsAvg = ib;
      this.outbpsAvg = ob;
    }
  }

  /** ipvsadm -Z: current values become the baseline; rates restart from 0. */
  zero(): void {
    this.zConns = this.conns;
    this.zInpkts = this.inpkts;
    this.zOutpkts = this.outpkts;
    this.zInbytes = this.inbytes;
    this.zOutbytes = this.outbytes;
    this.lastConns = this.conns;
    this.lastInpkts = this.inpkts;
    this.lastOutpkts = this.outpkts;
    this.lastInbytes = this.inbytes;
    this.lastOutbytes = this.outbytes;
    this.cpsAvg = 0;
    this.inppsAvg = 0;
    this.outppsAvg = 0;
    this.inbpsAvg = 0;
    this.outbpsAvg = 0;
  }

  @inline shownConns(): u64 { return this.conns - this.zConns; }
  @inline shownInpkts(): u64 { return this.inpkts - this.zInpkts; }
  @inline shownOutpkts(): u64 { return this.outpkts - this.zOutpkts; }
  @inline shownInbytes(): u64 { return this.inbytes - this.zInbytes; }
  @inline shownOutbytes(): u64 { return this.outbytes - this.zOutbytes; }
}

/** A zeroed stats record, not sampled yet (estPos -1), or null without memory. */
export function newStats(): Stats | null {
  const p = alloc(offsetof<Stats>());
  if (p == 0) return null;
  const s = changetype<Stats>(p);
  s.estPos = -1;
  return s;
}

export function freeStats(s: Stats): void {
  free(changetype<usize>(s), offsetof<Stats>());
}
