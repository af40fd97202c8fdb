// Configuration churn must not grow the core's memory: every scheduler's
// per-service state (mh tables, lblc caches, heaps) and deleted dests (once
// the trash has expired) are reclaimed by the core's runtime, and a service
// re-created after the churn picks exactly as one on a fresh core.
// (A runtime that only collects when the host asks — AssemblyScript's
// `minimal` without a pacing policy — fails this; see bench/core/ANALYSIS.md.)
import { describe, it, expect } from 'vitest';
import type { Director, SchedulerName, ServiceKey } from '../../sdk/index.js';
import { SCHEDULERS } from '../../sdk/schedulers.js';
import { director } from '../helpers.js';
import { coreOf } from '../../sdk/core/index.js';

const svc: ServiceKey = { protocol: 'tcp', address: '198.18.0.1', port: 80 };
const other: ServiceKey = { protocol: 'udp', address: '198.18.0.2', port: 53 };
const names = (Object.keys(SCHEDULERS) as SchedulerName[]).filter((s) => s !== 'none');
const ROUNDS = 120;

/** One round of -A, -a ×4, -e, -d, -E, then -D or -C; the clock moves past the trash timeout. */
function churn(d: Director, sched: SchedulerName, round: number, now: number): void {
  const mhTableSize = sched === 'mh' ? 4093 : undefined;
  d.addService(svc, { scheduler: sched, mhTableSize });
  d.addService(other, { scheduler: sched });
  for (let j = 1; j <= 4; j++) {
    d.addDest(svc, { address: `198.18.1.${j}`, weight: 1 + ((j + round) % 3) });
    d.addDest(other, { address: `198.18.2.${j}` });
  }
  d.editDest(svc, { address: '198.18.1.2', weight: 4 });
  d.deleteDest(svc, { address: '198.18.1.3' });
  d.editService(svc, { scheduler: sched, mhTableSize });
  // twos draws from the core's PRNG, which the fresh core below has not advanced.
  if (sched !== 'twos') picks(d, 4, round * 8, now);
  if (round % 2 === 0) d.clear();
  else {
    d.deleteService(svc);
    d.deleteService(other);
  }
  d.advance(now);
}

function picks(d: Director, n: number, base: number, now: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const flow = { protocol: 'tcp' as const, client: { address: `198.18.9.${i % 250}`, port: 10000 + base + i }, virtual: { address: '198.18.0.1', port: 80 }, now };
    out.push(d.schedule(flow)?.dest.address ?? '-');
  }
  return out;
}

function configure(d: Director, sched: SchedulerName): void {
  d.addService(svc, { scheduler: sched });
  for (let j = 1; j <= 5; j++) d.addDest(svc, { address: `198.18.1.${j}`, weight: j });
}

describe('memory under configuration churn', () => {
  for (const sched of names) {
    it(`${sched}: stays bounded and schedules as a fresh core`, async () => {
      const d = await director(7);
      const bytes = () => coreOf(d).x.memory.buffer.byteLength;
      let now = 0;
      // Warm up: tables, free lists and the connection table reach their steady size.
      for (let r = 0; r < ROUNDS / 4; r++) churn(d, sched, r, (now += 200));
      const warm = bytes();
      for (let r = 0; r < ROUNDS; r++) churn(d, sched, r, (now += 200));
      // Each round leaves ~tens of KiB of garbage (an mh table is 16 KiB): a leak
      // or an unpaced collector would need several MiB over these rounds.
      expect(bytes()).toBeLessThanOrEqual(warm + 1024 * 1024);
      d.advance((now += 1000)); // every connection entry and template expires

      const fresh = await director(7);
      fresh.advance(now);
      configure(d, sched);
      configure(fresh, sched);
      expect(picks(d, 64, 40000, now)).toEqual(picks(fresh, 64, 40000, now));
    });
  }
});
