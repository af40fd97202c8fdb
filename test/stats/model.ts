// The IPVS estimator arithmetic (ip_vs_est.c) written out with BigInt in
// 64-bit two's complement, for checking the core against it sample by sample.
const M64 = (1n << 64n) - 1n;

/** u64 → s64, as the kernel's (s64) casts. */
function s64(v: bigint): bigint {
  const u = v & M64;
  return u >= 1n << 63n ? u - (1n << 64n) : u;
}

/** avg += (rate - avg) >> 2, all in 64 bits; BigInt >> floors like an arithmetic shift. */
export function ewma(avg: bigint, rate: bigint): bigint {
  return s64(avg + (s64(rate - avg) >> 2n));
}

export const reportPps = (avg: bigint): bigint => ((avg + 0x1FFn) & M64) >> 10n;
export const reportBps = (avg: bigint): bigint => ((avg + 0xFn) & M64) >> 5n;

export interface Deltas { conns: bigint; inpkts: bigint; outpkts: bigint; inbytes: bigint; outbytes: bigint }
export interface Avgs { cps: bigint; inpps: bigint; outpps: bigint; inbps: bigint; outbps: bigint }

export const ZERO_AVGS: Avgs = { cps: 0n, inpps: 0n, outpps: 0n, inbps: 0n, outbps: 0n };

/** One 2-second sample with the counts Δ since the previous one. */
export function sample(a: Avgs, d: Deltas): Avgs {
  return {
    cps: ewma(a.cps, (d.conns << 9n) & M64),
    inpps: ewma(a.inpps, (d.inpkts << 9n) & M64),
    outpps: ewma(a.outpps, (d.outpkts << 9n) & M64),
    inbps: ewma(a.inbps, (d.inbytes << 4n) & M64),
    outbps: ewma(a.outbps, (d.outbytes << 4n) & M64),
  };
}

export function noDeltas(): Deltas {
  return { conns: 0n, inpkts: 0n, outpkts: 0n, inbytes: 0n, outbytes: 0n };
}
