// Property: random interleavings of packets, socket events, clock advances and
// configuration changes never corrupt the counters (per dest, active and
// inactive equal the live connections of that kind, persistconns the live
// templates) and everything drains when time runs out.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Director } from '../../sdk/index.js';
import type { ConnEventName } from '../../sdk/index.js';
import { coreOf } from '../../sdk/core/index.js';

const VIP = '198.18.0.1';
const RS = ['198.18.1.1', '198.18.1.2', '198.18.1.3'];
const svc = { protocol: 'tcp' as const, address: VIP, port: 80 };
const usvc = { protocol: 'udp' as const, address: VIP, port: 53 };
const FLAGS = [0x02, 0x12, 0x10, 0x11, 0x01, 0x04, 0x00];
const EVENTS: ConnEventName[] = ['established', 'client-fin', 'server-fin', 'reset', 'close'];

type Op =
  | { k: 'in'; c: number; p: number; f: number; udp: boolean }
  | { k: 'out'; c: number; p: number; f: number; rs: number; udp: boolean }
  | { k: 'ev'; n: number; e: number }
  | { k: 'adv'; dt: number }
  | { k: 'weight'; rs: number; w: number }
  | { k: 'del'; rs: number }
  | { k: 'add'; rs: number; m: number }
  | { k: 'opt'; reuse: number; nodest: boolean; eqt: boolean; limit: number; drop: number }
  | { k: 'persist'; on: boolean }
  | { k: 'set'; tcp: number; udp: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant('in' as const), c: fc.nat(3), p: fc.nat(5), f: fc.nat(6), udp: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('out' as const), c: fc.nat(3), p: fc.nat(5), f: fc.nat(6), rs: fc.nat(2), udp: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('ev' as const), n: fc.nat(20), e: fc.nat(4) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('adv' as const), dt: fc.oneof(fc.nat(5), fc.nat(400)) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('weight' as const), rs: fc.nat(2), w: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('del' as const), rs: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('add' as const), rs: fc.nat(2), m: fc.nat(1) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('opt' as const), reuse: fc.nat(3), nodest: fc.boolean(), eqt: fc.boolean(), limit: fc.constantFrom(0, 0, 3, 8), drop: fc.constantFrom(0, 3) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('persist' as const), on: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('set' as const), tcp: fc.nat(1000), udp: fc.nat(100) }) },
);

function apply(d: Director, o: Op, now: number, destIds: Set<number>): void {
  const key = (udp: boolean) => (udp ? usvc : svc);
  const port = (udp: boolean) => (udp ? 53 : 80);
  const tryIt = (f: () => unknown) => { try { f(); } catch { /* invalid config steps are allowed to fail */ } };
  switch (o.k) {
    case 'in':
      d.packet({ protocol: o.udp ? 'udp' : 'tcp', direction: 'in', client: { address: `198.18.9.${o.c}`, port: 1000 + o.p }, virtual: { address: VIP, port: port(o.udp) }, flags: FLAGS[o.f], length: 60 }, now);
      break;
    case 'out':
      d.packet({ protocol: o.udp ? 'udp' : 'tcp', direction: 'out', client: { address: `198.18.9.${o.c}`, port: 1000 + o.p }, virtual: { address: RS[o.rs], port: port(o.udp) }, flags: FLAGS[o.f], length: 60 }, now);
      break;
    case 'ev': {
      const all = d.connections(now).filter((c) => !c.template);
      if (all.length) d.connEvent(all[o.n % all.length].id, EVENTS[o.e], now);
      break;
    }
    case 'weight':
      for (const u of [false, true]) tryIt(() => d.editDest(key(u), { address: RS[o.rs], weight: o.w, method: 'masq' }));
      break;
    case 'del':
      for (const u of [false, true]) tryIt(() => d.deleteDest(key(u), { address: RS[o.rs] }));
      break;
    case 'add':
      for (const u of [false, true]) tryIt(() => destIds.add(d.addDest(key(u), { address: RS[o.rs], method: o.m ? 'route' : 'masq' })));
      break;
    case 'opt':
      d.setOptions({ connReuseMode: o.reuse, expireNodestConn: o.nodest, expireQuiescentTemplate: o.eqt, connLimit: o.limit, dropEntry: o.drop });
      break;
    case 'persist':
      d.editService(svc, { scheduler: 'rr', persistent: o.on ? 50 : false });
      break;
    case 'set':
      d.setTimeouts({ tcp: o.tcp, udp: o.udp });
      break;
    default:
      break;
  }
}

function checkCounters(d: Director, now: number, destIds: Set<number>): void {
  const conns = d.connections(now);
  for (const id of destIds) {
    let info;
    try { info = d.destById(id); } catch { info = null; }
    const mine = conns.filter((c) => c.destId === id);
    if (info === null) {
      expect(mine).toHaveLength(0);
      continue;
    }
    const normal = mine.filter((c) => !c.template);
    expect([info.activeconns, info.inactconns, info.persistconns]).toEqual([
      normal.filter((c) => !c.inactive).length, normal.filter((c) => c.inactive).length, mine.length - normal.length,
    ]);
  }
  // Each template controls at most the live connections of its client to its dest.
  for (const t of conns.filter((c) => c.template)) {
    const mine = conns.filter((c) => !c.template && c.destId === t.destId && c.client.address === t.client.address);
    expect(t.controlled).toBeLessThanOrEqual(mine.length);
  }
}

describe('connection table property', () => {
  it('counters always equal the live entries by kind; everything drains; memory stays bounded', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 80 }), async (ops) => {
        const d = await Director.create({ seed: 5, flavor: 'debug' });
        d.addService(svc, { scheduler: 'rr' });
        d.addService(usvc, { scheduler: 'rr' });
        const destIds = new Set<number>();
        for (const a of RS) {
          destIds.add(d.addDest(svc, { address: a, method: 'masq' }));
          destIds.add(d.addDest(usvc, { address: a, method: 'masq' }));
        }
        let now = 0;
        for (const o of ops) {
          if (o.k === 'adv') {
            now += o.dt;
            d.advance(now);
          } else {
            apply(d, o, now, destIds);
          }
          checkCounters(d, now, destIds);
          const limit = d.options().connLimit;
          if (limit) expect(d.connectionCount()).toBeLessThanOrEqual(limit);
        }
        d.advance(now + 5_000_000);
        expect(d.connectionCount()).toBe(0);
        checkCounters(d, now + 5_000_000, destIds);
        expect(coreOf(d).x.connMemory()).toBeLessThan(4 * 1024 * 1024);
      }),
      { numRuns: 150, seed: 42 },
    );
  });

  it('a long schedule/expire loop keeps memory flat', async () => {
    const d = await Director.create({ seed: 1, flavor: 'debug' });
    d.addService(svc, { scheduler: 'rr' });
    d.addDest(svc, { address: RS[0], method: 'masq' });
    const mem: number[] = [];
    for (let round = 0; round < 6; round++) {
      const flows = Array.from({ length: 5000 }, (_, i) => ({
        protocol: 'tcp' as const, client: { address: `198.18.${9 + (i >> 8)}.${i & 255}`, port: 1000 + round }, virtual: { address: VIP, port: 80 },
      }));
      const t = round * 100;
      expect(d.scheduleBatch(flows, t).every((r) => r.ok)).toBe(true);
      expect(d.connectionCount()).toBe(5000);
      d.advance(t + 60);
      expect(d.connectionCount()).toBe(0);
      mem.push(coreOf(d).x.connMemory() + coreOf(d).x.memory.buffer.byteLength);
    }
    expect(new Set(mem.slice(1)).size).toBe(1);
  });
});
