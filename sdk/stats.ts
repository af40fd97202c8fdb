// Statistics snapshots and -Z over the core (IPVS counters and the 2-second
// rate estimator live in assembly/stats/). Numbers are exact below 2^53.
import type { HostCore } from './core/core.js';
import { layout as L } from './core/abi.gen.js';
import { errorFromStatus } from './errors.js';
import type { StatsCounters, StatsRates, StatsSnapshot } from './types.js';

export type StatsKind = 'total' | 'service' | 'dest';

const KINDS: Record<StatsKind, number> = { total: L.STATS_TOTAL, service: L.STATS_SERVICE, dest: L.STATS_DEST };

/** The STATS record: shown counters, reported rates and raw scaled averages, as bigint. */
export interface StatsRecord {
  conns: bigint; inpkts: bigint; outpkts: bigint; inbytes: bigint; outbytes: bigint;
  cps: bigint; inpps: bigint; outpps: bigint; inbps: bigint; outbps: bigint;
  avgCps: bigint; avgInpps: bigint; avgOutpps: bigint; avgInbps: bigint; avgOutbps: bigint;
}

/** The raw record (bigint counters and scaled averages), for tests and tools. */
export function statsRecord(core: HostCore, kind: StatsKind, id = 0): StatsRecord {
  const st = core.x.statsGet(KINDS[kind], id >>> 0);
  if (st < 0) throw errorFromStatus(st, kind === 'dest' ? 'dest' : 'service');
  // statsGet leaves the record at REGION_SPEC.
  const dv = core.view();
  const p = core.base + L.REGION_SPEC;
  const u = (o: number): bigint => dv.getBigUint64(p + o, true);
  const i = (o: number): bigint => dv.getBigInt64(p + o, true);
  return {
    conns: u(L.ST_CONNS), inpkts: u(L.ST_INPKTS), outpkts: u(L.ST_OUTPKTS), inbytes: u(L.ST_INBYTES),
    outbytes: u(L.ST_OUTBYTES), cps: u(L.ST_CPS), inpps: u(L.ST_INPPS), outpps: u(L.ST_OUTPPS),
    inbps: u(L.ST_INBPS), outbps: u(L.ST_OUTBPS), avgCps: i(L.ST_AVG_CPS), avgInpps: i(L.ST_AVG_INPPS),
    avgOutpps: i(L.ST_AVG_OUTPPS), avgInbps: i(L.ST_AVG_INBPS), avgOutbps: i(L.ST_AVG_OUTBPS),
  };
}

export function countersOf(r: StatsRecord): StatsCounters {
  return {
    conns: Number(r.conns), inpkts: Number(r.inpkts), outpkts: Number(r.outpkts),
    inbytes: Number(r.inbytes), outbytes: Number(r.outbytes),
  };
}

export function ratesOf(r: StatsRecord): StatsRates {
  return {
    cps: Number(r.cps), inpps: Number(r.inpps), outpps: Number(r.outpps),
    inbps: Number(r.inbps), outbps: Number(r.outbps),
  };
}

/** Counters and rates of the total, a service id or a dest id. */
export function statsSnapshot(core: HostCore, kind: StatsKind, id = 0): StatsSnapshot {
  const r = statsRecord(core, kind, id);
  return { stats: countersOf(r), rates: ratesOf(r) };
}

/** ipvsadm -Z on a service id (with its dests), or 0 for everything and the total. */
export function zeroStats(core: HostCore, svcId: number): void {
  const st = core.x.statsZero(svcId >>> 0);
  if (st < 0) throw errorFromStatus(st, 'service');
}

/** Take the estimator samples due up to `now` seconds (advance() does this too). */
export function tickStats(core: HostCore, now: number): void {
  core.x.statsTick(now >>> 0);
}
