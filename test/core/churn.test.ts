// Memory stays flat over long add/delete churn of every scheduler: with the
// stub runtime nothing is ever collected, so any record, table or cache that
// is not given back to the allocator shows up here at once.
import { describe, it, expect } from 'vitest';
import type { SchedulerName, ServiceKey } from '../../sdk/index.js';
import { SCHEDULERS } from '../../sdk/schedulers.js';
import { director } from '../helpers.js';
import { coreOf } from '../../sdk/core/index.js';

const svc: ServiceKey = { protocol: 'tcp', address: '198.18.0.1', port: 80 };
const names = (Object.keys(SCHEDULERS) as SchedulerName[]).filter((s) => s !== 'none');

async function churn(sched: SchedulerName, cycles: number, mhTableSize?: number): Promise<{ before: number; after: number; pages: number[]; picked: number }> {
  const d = await director(3, { connections: false });
  const x = coreOf(d).x as unknown as { memAllocated(): number; memory: WebAssembly.Memory };
  let picked = 0;
  // The core's clock: every call gets the same `now`, moved on past the trash timeout.
  let now = 0;
  const one = (i: number) => {
    d.addService(svc, { scheduler: sched, mhTableSize });
    d.addDest(svc, { address: `198.18.1.${1 + (i % 200)}`, weight: 1 + (i % 3) });
    d.addDest(svc, { address: '198.18.2.1' });
    if (d.schedule({ protocol: 'tcp', client: { address: '198.18.9.9', port: 1024 + (i % 60000) }, virtual: { address: '198.18.0.1', port: 80 }, now })) picked++;
    d.deleteDest(svc, { address: '198.18.2.1' });
    d.deleteService(svc);
    // Deleted dests wait 120 s in the trash; move the clock so the sweep frees them.
    if (i % 64 === 63) d.advance((now += 200));
  };
  const warm = Math.min(2000, Math.floor(cycles / 10));
  for (let i = 0; i < warm; i++) one(i);
  // Two sweeps 1000 s apart: the first notes unreferenced trashed dests, the second frees them.
  d.advance((now += 1000));
  d.advance((now += 1000));
  const before = x.memAllocated();
  const pages: number[] = [x.memory.buffer.byteLength];
  for (let i = warm; i < cycles; i++) one(i);
  d.advance((now += 1000));
  d.advance((now += 1000));
  pages.push(x.memory.buffer.byteLength);
  return { before, after: x.memAllocated(), pages, picked };
}

describe('memory under add/delete churn (stub runtime)', () => {
  for (const sched of names) {
    it(`${sched}: 10^5 cycles, allocator and wasm memory flat`, async () => {
      const r = await churn(sched, 100_000);
      expect(r.after).toBe(r.before);
      expect(r.pages[1]).toBe(r.pages[0]);
      expect(r.picked).toBeGreaterThan(0);
    }, 120_000);
  }

  it('mh with M = 65521: 3,000 cycles, flat', async () => {
    const r = await churn('mh', 3000, 65521);
    expect(r.after).toBe(r.before);
    expect(r.pages[1]).toBe(r.pages[0]);
  }, 120_000);
});
