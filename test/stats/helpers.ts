// Helpers for the statistics tests: a director with one or two services, and
// access to the raw estimator record.
import type { Director, ServiceKey } from '../../sdk/index.js';
import { statsRecord, tickStats, type StatsKind } from '../../sdk/stats.js';
import type { Avgs } from './model.js';
import { coreOf, type TrafficCounts } from '../../sdk/core/index.js';

export const web: ServiceKey = { protocol: 'tcp', address: '198.18.0.1', port: 80 };
export const dns: ServiceKey = { protocol: 'udp', address: '198.18.0.2', port: 53 };

export function feed(d: Director, destId: number, f: TrafficCounts): void {
  coreOf(d).countTraffic(destId, f);
}

export function tick(d: Director, now: number): void {
  tickStats(coreOf(d), now);
}

export function avgs(d: Director, kind: StatsKind, id = 0): Avgs {
  const r = statsRecord(coreOf(d), kind, id);
  return { cps: r.avgCps, inpps: r.avgInpps, outpps: r.avgOutpps, inbps: r.avgInbps, outbps: r.avgOutbps };
}

/** A service with one masq dest; the estimator clock starts at `start`. */
export function oneDest(d: Director, start = 0, key: ServiceKey = web, address = '198.18.1.1'): number {
  d.addService(key);
  const id = d.addDest(key, { address, method: 'masq' });
  tick(d, start);
  return id;
}
