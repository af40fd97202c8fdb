// The core's memory budget (memoryLimit): running out is a clean, counted
// refusal. Configuration calls are all or nothing (no ghost service, no trap),
// packets of new connections are refused while established ones still flow,
// and the automatic defenses switch on under memory pressure.
import { describe, it, expect } from 'vitest';
import { OutOfMemoryError, counters, type Director } from '../../sdk/index.js';
import { director } from '../helpers.js';
import { coreOf } from '../../sdk/core/index.js';

const PAGE = 65536;
const key = (i: number) => ({ protocol: 'tcp' as const, address: `198.18.${(i >> 8) & 255}.${i & 255}`, port: 80 });
const bytes = (d: Director) => coreOf(d).x.memory.buffer.byteLength;

describe('memory budget', () => {
  it('configuration runs into it cleanly: the failing call changes nothing, the next ones work once raised', async () => {
    const d = await director(5);
    d.setOptions({ memoryLimit: bytes(d) + 4 * PAGE });
    expect(d.options().memoryLimit).toBe(bytes(d) + 4 * PAGE);
    let added = 0;
    let failure: unknown = null;
    for (let i = 0; i < 20000 && failure === null; i++) {
      try {
        d.addService(key(i), { scheduler: i % 2 ? 'mh' : 'wlc' });
        added++;
        for (let j = 1; j <= 3; j++) d.addDest(key(i), { address: `198.19.0.${j}` });
      } catch (e) {
        failure = e;
      }
    }
    expect(failure).toBeInstanceOf(OutOfMemoryError);
    expect((failure as OutOfMemoryError).code).toBe('ENOMEM');
    expect(bytes(d)).toBeLessThanOrEqual(d.options().memoryLimit);
    // Every service the core acknowledged is there whole; nothing half-made.
    const svcs = d.services();
    expect(svcs.length === added || svcs.length === added - 1).toBe(true);
    for (const s of svcs.slice(0, -1)) expect(s.destCount).toBe(3);
    // Raise the budget: the same calls now succeed on the same director.
    d.setOptions({ memoryLimit: 0 });
    const next = key(19999);
    d.addService(next, { scheduler: 'rr' });
    d.addDest(next, { address: '198.19.0.9' });
    expect(d.schedule({ protocol: 'tcp', client: { address: '198.18.200.1', port: 5000 }, virtual: { address: next.address, port: 80 } })?.dest.address).toBe('198.19.0.9');
  });

  it('new connections are refused and counted at the budget; established ones keep flowing', async () => {
    const d = await director(6);
    const svc = key(1);
    d.addService(svc, { scheduler: 'rr' });
    d.addDest(svc, { address: '198.19.0.1' });
    const syn = (port: number) => d.packet({ protocol: 'tcp', direction: 'in', client: { address: '198.18.9.9', port }, virtual: { address: svc.address, port: 80 }, flags: 0x02, length: 60 }, 1)[0];
    expect(syn(1000).ok).toBe(true);
    d.setOptions({ memoryLimit: bytes(d) });
    let refused = 0;
    for (let p = 1001; p < 1001 + 200000 && refused === 0; p++) if (!syn(p).ok) refused++;
    expect(refused).toBe(1);
    expect(d.counter(counters.CNT_CONN_NOMEM)).toBeGreaterThan(0);
    const ack = d.packet({ protocol: 'tcp', direction: 'in', client: { address: '198.18.9.9', port: 1000 }, virtual: { address: svc.address, port: 80 }, flags: 0x10, length: 60 }, 1)[0];
    expect(ack.ok).toBe(true);
  });

  it('drop_entry mode 1 switches on at 3/4 of the budget, with no connection limit set', async () => {
    const d = await director(8);
    const svc = key(2);
    d.addService(svc, { scheduler: 'rr' });
    d.addDest(svc, { address: '198.19.0.1' });
    d.setOptions({ dropEntry: 1 });
    for (let p = 1; p <= 40; p++) d.packet({ protocol: 'tcp', direction: 'in', client: { address: '198.18.9.9', port: p }, virtual: { address: svc.address, port: 80 }, flags: 0x02, length: 60 }, 0);
    d.advance(20);
    expect(d.connectionCount()).toBe(40); // no pressure: nothing dropped
    // Memory now in use is over 3/4 of a budget of 4/3 of it. SYN_RECV entries live 60 s:
    // the 35 passes of t = 21..55 visit every bucket before they would expire.
    d.setOptions({ memoryLimit: Math.floor((bytes(d) / PAGE) * 4 / 3) * PAGE });
    d.advance(55);
    expect(d.connectionCount()).toBe(0);
    expect(d.counter(counters.CNT_DROP_ENTRY)).toBe(40);
  });

  it('one service with one destination costs at most 256 allocator bytes at 100,000 services', async () => {
    // The memory target (≤ 256 B per service with one dest), counted in the core's own allocator bytes (records, handle
    // slots, index, arrays; stats blocks are made at an object's first counted event).
    const d = await director(9);
    const n = 100000;
    const addr = (i: number) => `198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
    const before = coreOf(d).x.memAllocated();
    for (let i = 0; i < n; i++) {
      const k = { protocol: 'udp' as const, address: addr(i), port: 80 };
      d.addService(k, { scheduler: 'rr', ops: true });
      d.addDest(k, { address: '198.19.255.254', port: 8080 });
    }
    const per = (coreOf(d).x.memAllocated() - before) / n;
    expect(d.services().length).toBe(n);
    expect(per).toBeLessThanOrEqual(256);
    // The first counted events make the two stats blocks; the figures read as counted.
    const k = { protocol: 'udp' as const, address: addr(n - 1), port: 80 };
    const r = d.packet({ protocol: 'udp', direction: 'in', client: { address: '198.18.250.1', port: 4000 }, virtual: { address: k.address, port: 80 }, length: 100 }, 1)[0];
    expect(r.ok).toBe(true);
    expect(coreOf(d).x.memAllocated()).toBeGreaterThan(before + per * n);
    expect(d.service(k).stats).toEqual({ conns: 1, inpkts: 1, outpkts: 0, inbytes: 100, outbytes: 0 });
    expect(d.service({ ...k, address: addr(0) }).stats.conns).toBe(0);
  }, 120000);
});
