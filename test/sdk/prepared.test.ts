// prepareFlow + Director.schedule(prepared): the fast per-call path. A
// prepared flow is checked and encoded once; scheduling it must give what
// scheduling the FlowInput gives (decisions, connections, counters), refuse
// what schedule(flow) refuses with the same codes, and keep working after the
// core's memory grows under it.
import { describe, it, expect } from 'vitest';
import {
  Director, prepareFlow, PreparedFlow, WasmvsError, InvalidOperationError, ValidationError,
} from '../../sdk/index.js';
import type { FlowInput, ServiceKey } from '../../sdk/index.js';
import { director, tcp80, flowFrom } from '../helpers.js';
import { coreOf } from '../../sdk/core/index.js';

const udp53: ServiceKey = { protocol: 'udp', address: '198.18.0.2', port: 53 };
const mark7: ServiceKey = { fwmark: 7 };
const v6: ServiceKey = { protocol: 'tcp', address: '2001:2::1', port: 443 };
const sctp: ServiceKey = { protocol: 'sctp', address: '198.18.0.4', port: 9 };

async function configured(seed: number, connections: boolean | 'count'): Promise<Director> {
  const d = await director(seed, { connections });
  d.addService(tcp80, { scheduler: 'wlc' });
  for (let j = 1; j <= 5; j++) d.addDest(tcp80, { address: `198.18.1.${j}`, weight: j, method: j & 1 ? 'masq' : 'route' });
  d.addService(udp53, { scheduler: 'sh', flags: ['sh-port'], ops: true });
  for (let j = 1; j <= 3; j++) d.addDest(udp53, { address: `198.18.2.${j}`, port: 5353 });
  d.addService(mark7, { scheduler: 'rr', persistent: 600, netmask: '255.255.255.0' });
  for (let j = 1; j <= 3; j++) d.addDest(mark7, { address: `198.18.3.${j}`, port: 8080, method: 'tunnel' });
  d.addService(v6, { scheduler: 'mh', persistent: true, netmask: 64 });
  for (let j = 1; j <= 4; j++) d.addDest(v6, { address: `2001:2::1${j}`, weight: j });
  d.addService(sctp, { scheduler: 'twos' });
  for (let j = 1; j <= 2; j++) d.addDest(sctp, { address: `198.18.4.${j}` });
  return d;
}

/** A mix of flows: every service, repeats (connection reuse, persistence), misses, TCP flags, times. */
function flows(): FlowInput[] {
  const out: FlowInput[] = [];
  for (let i = 0; i < 600; i++) {
    const c = `198.19.${(i * 7) & 3}.${(i * 13) & 255}`;
    const port = 1024 + ((i * 31) % 200);
    const now = 1 + (i >> 4);
    switch (i % 7) {
      case 0: out.push({ ...flowFrom(c, port), now }); break;
      case 1: out.push({ ...flowFrom(c, port, 53, 'udp', '198.18.0.2'), now }); break;
      case 2: out.push({ ...flowFrom(c, port, 1, 'udp', '198.18.0.77'), fwmark: 7, now }); break;
      case 3: out.push({ protocol: 'tcp', client: { address: `2001:2:0:9::${i & 15}`, port }, virtual: { address: '2001:2::1', port: 443 }, now }); break;
      case 4: out.push({ ...flowFrom(c, port, 9, 'sctp', '198.18.0.4'), now }); break;
      case 5: out.push({ ...flowFrom(c, port, 81), now }); break; // no such service
      default: out.push({ ...flowFrom(c, port), tcpFlags: i & 1 ? 0x10 : 0x02, now }); break;
    }
  }
  return out;
}

describe('prepareFlow and schedule(prepared)', () => {
  for (const connections of [true, false, 'count'] as const) {
    it(`decides as schedule(flow) does, connections: ${String(connections)}`, async () => {
      const a = await configured(5, connections);
      const b = await configured(5, connections);
      const fs = flows();
      const prepared = fs.map(prepareFlow);
      for (let i = 0; i < fs.length; i++) {
        // Now and then the time is given as the argument instead of by the flow.
        const byArg = i % 5 === 0;
        const t = fs[i].now;
        const da = byArg ? a.schedule({ ...fs[i], now: undefined }, t) : a.schedule(fs[i]);
        const db = byArg ? b.schedule(prepared[i], t) : b.schedule(prepared[i]);
        expect(db, `flow ${i}`).toEqual(da);
        if (i % 7 < 5) expect(db, `flow ${i}`).not.toBeNull();
      }
      for (const key of [tcp80, udp53, mark7, v6, sctp]) expect(b.dests(key)).toEqual(a.dests(key));
      if (connections === true) expect(b.connections()).toEqual(a.connections());
      expect(b.totals()).toEqual(a.totals());
    });
  }

  it('keeps the flow in canonical form, frozen, and reusable across directors', async () => {
    const p = prepareFlow({ protocol: 'tcp', client: { address: '2001:2:0:0::9', port: 4000 }, virtual: { address: '[2001:2::1]', port: 443 }, now: 7 });
    expect(p).toBeInstanceOf(PreparedFlow);
    expect({ ...p }).toEqual({
      protocol: 'tcp', client: { address: '2001:2::9', port: 4000 }, virtual: { address: '2001:2::1', port: 443 },
      fwmark: 0, tcpFlags: 0x02, now: 7,
    });
    expect(Object.isFrozen(p) && Object.isFrozen(p.client) && Object.isFrozen(p.virtual)).toBe(true);
    expect(() => { (p as { fwmark: number }).fwmark = 9; }).toThrow(TypeError);
    const a = await configured(1, true);
    const b = await configured(1, true);
    expect(a.schedule(p)?.dest.address).toMatch(/^2001:2::1[1-4]$/);
    expect(b.schedule(p)).toEqual(a.schedule({ ...p, client: { ...p.client }, virtual: { ...p.virtual } }));
  });

  it('cannot be made except by prepareFlow', () => {
    const Ctor = PreparedFlow as unknown as new (m: symbol, f: FlowInput) => PreparedFlow;
    expect(() => new Ctor(Symbol('prepareFlow'), flowFrom('198.18.9.9'))).toThrow(InvalidOperationError);
  });

  it('refuses what schedule(flow) refuses, with the same codes', async () => {
    const good = flowFrom('198.18.9.9', 40000);
    const bad: FlowInput[] = [
      null as never, { ...good, protocol: 'icmp' as never }, { ...good, virtual: { address: '198.18.0.1.1', port: 80 } },
      { ...good, virtual: { address: '198.18.0.1', port: 65536 } }, { ...good, client: { address: 'client', port: 1 } },
      { ...good, client: { address: '198.18.9.9', port: 1.5 } }, { ...good, client: { address: '2001:2::9', port: 1 } },
      { ...good, fwmark: 1.5 }, { ...good, tcpFlags: 256 }, { ...good, now: -1 }, { ...good, now: NaN },
      { ...good, client: undefined as never }, { ...good, virtual: { address: '198.18.0.1' } as never },
    ];
    const d = await configured(1, true);
    const codeOf = (f: () => unknown) => { try { f(); } catch (e) { return (e as WasmvsError).code; } return 'none'; };
    const viaSchedule = bad.map((f) => codeOf(() => d.schedule(f)));
    expect(viaSchedule).toEqual([
      'EBADVADDR', 'EBADPROTO', 'EBADVADDR', 'EBADVADDR', 'EBADCADDR', 'EBADCADDR', 'EBADCADDR', 'EBADFWMARK', 'EBADTCPFLAGS',
      'EINVAL', 'EINVAL', 'EBADCADDR', 'EBADVADDR',
    ]);
    expect(bad.map((f) => codeOf(() => prepareFlow(f)))).toEqual(viaSchedule);
    expect(d.counter(0)).toBe(0);
  });

  it('takes the time from the argument, then the flow, then the clock; a bad time changes nothing', async () => {
    let clock = 100;
    const d = await Director.create({ seed: 1, flavor: 'debug', clock: () => clock });
    d.addService(tcp80, { scheduler: 'rr' });
    d.addDest(tcp80, { address: '198.18.1.1' });
    const { now: _, ...noTime } = flowFrom('198.18.9.9', 1000);
    const at = (port: number, now?: number) => prepareFlow({ ...noTime, client: { address: '198.18.9.9', port }, now });
    // Entries in SYN_RECV (60 s) made at 50 (the flow's time), 70 (the argument's) and 100 (the clock's).
    const byFlow = d.schedule(at(1001, 50))!;
    const byArg = d.schedule(at(1002, 50), 70)!;
    const byClock = d.schedule(at(1000))!;
    const live = () => d.connections().map((c) => c.id);
    expect(live().sort()).toEqual([byFlow.id, byArg.id, byClock.id].sort());
    d.advance(120);
    expect(live().sort()).toEqual([byArg.id, byClock.id].sort());
    d.advance(145);
    expect(live()).toEqual([byClock.id]);
    d.schedule(at(1005, 150));
    const conns = d.connections();
    for (const t of [-1, NaN, Infinity, '5' as never]) {
      expect(() => d.schedule(at(1003), t)).toThrow(InvalidOperationError);
      expect(() => d.schedule({ ...noTime, client: { address: '198.18.9.9', port: 1003 } }, t)).toThrow(InvalidOperationError);
    }
    expect(d.connections()).toEqual(conns);
    expect(() => d.schedule(flowFrom('198.18.9.9', 1004), -1)).toThrow(InvalidOperationError);
    expect(() => prepareFlow({ ...noTime, tcpFlags: -1 })).toThrow(ValidationError);
  });

  it('keeps working when the core memory grows between calls', async () => {
    const a = await configured(3, true);
    const b = await configured(3, true);
    const p = flows().map(prepareFlow);
    for (let i = 0; i < 50; i++) expect(b.schedule(p[i])).toEqual(a.schedule(p[i]));
    const bytes = coreOf(b).x.memory.buffer.byteLength;
    for (const d of [a, b]) {
      for (let i = 0; i < 6000; i++) d.addService({ protocol: 'tcp', address: `198.18.${100 + (i >> 8)}.${i & 255}`, port: 80 }, { scheduler: 'rr' });
    }
    expect(coreOf(b).x.memory.buffer.byteLength).toBeGreaterThan(bytes);
    const made: [number, PreparedFlow][] = [];
    for (let i = 50; i < p.length; i++) {
      const d = b.schedule(p[i]);
      expect(d, `flow ${i}`).toEqual(a.schedule(p[i]));
      if (d && d.id) made.push([d.id, p[i]]);
    }
    // Each entry is the flow's own (a record written to a stale view would be lost).
    const conns = new Map(b.connections().map((c) => [c.id, c]));
    expect(made.length).toBeGreaterThan(300);
    for (const [id, f] of made) expect([conns.get(id)?.client, conns.get(id)?.virtual]).toEqual([f.client, f.virtual]);
  });
});
