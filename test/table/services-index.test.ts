// The service index (assembly/service/services.ts: open addressing with tags,
// backward-shift deletion, a two-pass batch resolve behind schedule) against
// a model of ip_vs_service_find: fwmark, exact key, the FTP data rule, then
// the VIP's port-0 service, and the port check of a non-fwmark service.
// Random adds and deletes keep the index growing, shrinking and colliding;
// every check schedules a batch and single flows and compares each answer.
import { describe, it, expect } from 'vitest';
import { director } from '../helpers.js';
import type { Director, FlowInput, ServiceKey } from '../../sdk/index.js';

type Proto = 'tcp' | 'udp';
interface Svc { key: ServiceKey; dest: string; af: 4 | 6; port: number; fwmark: number; persistent: boolean }

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s;
  };
}

const vip = (af: 4 | 6, k: number): string => (af === 4 ? `198.18.200.${k}` : `2001:2::c8:${k.toString(16)}`);
const PORTS = [0, 21, 80, 443, 8080, 1024, 20];

class Model {
  keyed = new Map<string, Svc>();
  marked = new Map<string, Svc>();

  static keyOf(af: number, proto: string, addr: string, port: number): string { return `${af}|${proto}|${addr}|${port}`; }

  find(af: 4 | 6, proto: Proto, addr: string, port: number, mark: number): Svc | undefined {
    if (mark !== 0) {
      const m = this.marked.get(`${af}|${mark}`);
      if (m) return m;
    }
    const s = this.keyed.get(Model.keyOf(af, proto, addr, port));
    if (s) return s;
    if (proto === 'tcp' && (port === 20 || port >= 1024)) {
      const f = this.keyed.get(Model.keyOf(af, proto, addr, 21));
      if (f) return f;
    }
    return this.keyed.get(Model.keyOf(af, proto, addr, 0));
  }
}

async function run(seed: number, connections: boolean): Promise<number> {
  const d: Director = await director(seed, { connections });
  const m = new Model();
  const next = rng(seed * 7919);
  const live: Svc[] = [];
  let destN = 0;
  let clientPort = 1;
  let clientN = 0;
  let checked = 0;

  const add = (): void => {
    const af: 4 | 6 = next() % 4 === 0 ? 6 : 4;
    let s: Svc;
    if (next() % 6 === 0) {
      const fwmark = 1 + (next() % 60);
      if (m.marked.has(`${af}|${fwmark}`)) return;
      s = { key: { fwmark, af }, dest: '', af, port: 0, fwmark, persistent: false };
      m.marked.set(`${af}|${fwmark}`, s);
    } else {
      const protocol: Proto = next() % 2 === 0 ? 'tcp' : 'udp';
      const address = vip(af, next() % 64);
      const port = PORTS[next() % PORTS.length];
      const k = Model.keyOf(af, protocol, address, port);
      if (m.keyed.has(k)) return;
      // A port-0 service must be persistent (ipvsadm's rule); some others are too.
      s = { key: { protocol, address, port }, dest: '', af, port, fwmark: 0, persistent: port === 0 || next() % 5 === 0 };
      m.keyed.set(k, s);
    }
    destN++;
    s.dest = af === 4 ? `198.19.${destN >> 8}.${destN & 255}` : `2001:2:0:1::${destN.toString(16)}`;
    d.addService(s.key, s.persistent ? { scheduler: 'rr', persistent: 300 } : { scheduler: 'rr' });
    d.addDest(s.key, { address: s.dest, port: 9000 });
    live.push(s);
  };

  const del = (): void => {
    if (live.length === 0) return;
    const i = next() % live.length;
    const s = live[i];
    live[i] = live[live.length - 1];
    live.pop();
    d.deleteService(s.key);
    if (s.fwmark !== 0) m.marked.delete(`${s.af}|${s.fwmark}`);
    else m.keyed.delete(Model.keyOf(s.af, (s.key as { protocol: Proto }).protocol, (s.key as { address: string }).address, s.port));
  };

  const check = (): void => {
    const flows: FlowInput[] = [];
    for (let k = 0; k < 300; k++) {
      const af: 4 | 6 = next() % 4 === 0 ? 6 : 4;
      const protocol: Proto = next() % 2 === 0 ? 'tcp' : 'udp';
      const r = next() % 10;
      const port = r < 6 ? PORTS[next() % PORTS.length] : r < 8 ? 1024 + (next() % 30000) : 1 + (next() % 1023);
      const fwmark = next() % 4 === 0 ? 1 + (next() % 60) : 0;
      clientPort = clientPort >= 65000 ? 1 : clientPort + 1;
      // A client never seen before, so no persistence template of an earlier
      // (maybe deleted) service answers instead of the lookup.
      clientN++;
      const client = af === 4 ? `198.18.${100 + (clientN >> 8)}.${clientN & 255}` : `2001:2::64:${clientN.toString(16)}`;
      flows.push({ protocol, client: { address: client, port: clientPort }, virtual: { address: vip(af, next() % 64), port }, fwmark, now: 1 });
    }
    const want = flows.map((f) => {
      const af: 4 | 6 = f.virtual.address.includes(':') ? 6 : 4;
      const s = m.find(af, f.protocol as Proto, f.virtual.address, f.virtual.port, f.fwmark ?? 0);
      if (!s) return 'not-ours';
      if (s.fwmark === 0 && !s.persistent && s.port !== f.virtual.port) return 'port-mismatch';
      return s.dest;
    });
    const batch = d.scheduleBatch(flows, 1).map((r) => (r.ok ? r.dest.address : r.reason));
    expect(batch).toEqual(want);
    // Single calls (one flow per schedule) answer the same, from fresh client ports.
    for (let k = 0; k < 40; k++) {
      clientN++;
      const address = flows[k].client.address.includes(':') ? `2001:2::64:${clientN.toString(16)}` : `198.18.${100 + (clientN >> 8)}.${clientN & 255}`;
      const f = { ...flows[k], client: { address, port: 1 } };
      const got = d.schedule(f);
      if (want[k] === 'not-ours' || want[k] === 'port-mismatch') expect(got).toBeNull();
      else expect(got?.dest.address).toBe(want[k]);
    }
    checked += flows.length;
  };

  // Grow to ~700 services (several index doublings), churn, then drain.
  for (let step = 0; step < 3000; step++) {
    const grow = step < 1500 ? 3 : step < 2400 ? 2 : 1;
    if (next() % 4 < grow) add();
    else del();
    if (step % 150 === 0) check();
  }
  while (live.length > 0) {
    del();
    if (live.length % 97 === 0) check();
  }
  check();
  expect(d.services()).toEqual([]);
  return checked;
}

describe('service index', () => {
  it('answers as ip_vs_service_find through adds, deletes and growth (scheduling only)', async () => {
    for (const seed of [1, 2, 3]) expect(await run(seed, false)).toBeGreaterThan(5000);
  });

  it('answers the same with the connection table on', async () => {
    expect(await run(4, true)).toBeGreaterThan(5000);
  });
});
