// Statistics snapshots and -Z over the core (IPVS counters and the 2-second
// rate estimator live in assembly/stats/). Numbers are exact below 2^53.
import type { Core, StatsRecord } from './core/core.js';
import { layout as L } from './core/abi.gen.js';
import { errorFromStatus, OutOfRangeError } from './errors.js';
import type { StatsCounters, StatsRates, StatsSnapshot } from './types.js';

export type StatsKind = 'total' | 'service' | 'dest';

const KINDS: Record<StatsKind, number> = { total: L.STATS_TOTAL, service: L.STATS_SERVICE, dest: L.STATS_DEST };

/** The raw record (bigint counters and scaled averages), for tests and tools. */
export function statsRecord(core: Core, kind: StatsKind, id = 0): StatsRecord {
  const st = core.x.statsGet(KINDS[kind], id >>> 0);
  if (st < 0) throw errorFromStatus(st, kind === 'dest' ? 'dest' : 'service');
  return core.readStatsRecord();
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
export function statsSnapshot(core: Core, kind: StatsKind, id = 0): StatsSnapshot {
  const r = statsRecord(core, kind, id);
  return { stats: countersOf(r), rates: ratesOf(r) };
}

/** ipvsadm -Z on a service id (with its dests), or 0 for everything and the total. */
export function zeroStats(core: Core, svcId: number): void {
  const st = core.x.statsZero(svcId >>> 0);
  if (st < 0) throw errorFromStatus(st, 'service');
}

export interface StatsFeed { conns?: number; inpkts?: number; inbytes?: number; outpkts?: number; outbytes?: number }

/**
 * Simulation and test entry point: count traffic for a live destination, its
 * service and the total as the connection table would (each value < 2^32 per
 * call). Real hosts feed packets and connections instead.
 */
export function feedStats(core: Core, destId: number, f: StatsFeed): void {
  const u = (v: number | undefined, name: string): number => {
    const n = v ?? 0;
    if (!Number.isInteger(n) || n < 0 || n > 0xFFFFFFFF) throw new OutOfRangeError(`${name} must be an integer in 0..2^32-1, got ${n}`);
    return n >>> 0;
  };
  const st = core.x.statsFeed(destId >>> 0, u(f.conns, 'conns'), u(f.inpkts, 'inpkts'), u(f.inbytes, 'inbytes'),
    u(f.outpkts, 'outpkts'), u(f.outbytes, 'outbytes'));
  if (st < 0) throw errorFromStatus(st, 'dest');
}

/** Take the estimator samples due up to `now` seconds (advance() does this too). */
export function tickStats(core: Core, now: number): void {
  core.x.statsTick(now >>> 0);
}
