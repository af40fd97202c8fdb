// connLookupBatch (table/conn_lookup.ts) must answer exactly what the inbound
// lookup of the packet path answers: the id of the non-template connection
// with the same (protocol, client address, client port, virtual address,
// virtual port), else 0, for IPv4 and IPv6, hits and misses, templates in the
// chains and an index caught in the middle of doubling.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Director } from '../../sdk/index.js';
import type { Protocol } from '../../sdk/index.js';
import { parseAddr } from '../../sdk/address.js';
import { layout as L } from '../../sdk/core/abi.gen.js';
import { coreOf } from '../../sdk/core/index.js';

const V4 = { tcp: '198.18.0.1', udp: '198.18.0.1' };
const V6 = '2001:db8::1';
const CLIENTS4 = ['198.18.9.1', '198.18.9.2', '198.18.9.3', '198.19.7.7'];
const CLIENTS6 = ['2001:db8:2::1', '2001:db8:2::2', '2001:db8:3::1'];

interface Key { protocol: Protocol; client: string; cport: number; vip: string; vport: number }

async function table(bits?: number): Promise<Director> {
  const d = await Director.create({ seed: 11, flavor: 'debug', connTabBits: bits });
  for (const [protocol, address, port, persistent] of [
    ['tcp', V4.tcp, 80, false], ['udp', V4.udp, 53, false], ['tcp', V4.tcp, 443, true],
    ['tcp', V6, 80, false], ['udp', V6, 53, false], ['tcp', V6, 443, true],
  ] as const) {
    const svc = { protocol, address, port };
    d.addService(svc, { scheduler: 'rr', persistent: persistent ? 300 : undefined });
    d.addDest(svc, { address: address === V6 ? '2001:db8:1::1' : '198.18.1.1', method: 'masq' });
  }
  return d;
}

const words = (a: string) => parseAddr(a)!.w.map((w) => w >>> 0).join('.');
const keyOf = (k: Key) => `${k.protocol}|${words(k.client)}|${k.cport}|${words(k.vip)}|${k.vport}`;
const PROTO: Record<string, number> = { tcp: 6, udp: 17, sctp: 132, ip: 0 };

/** The batch's answers for keys (≤ MAX_BATCH), read before anything else uses REGION_LIST. */
function batch(d: Director, keys: Key[]): { hits: number; ids: number[] } {
  keys.forEach((k, i) => {
    const c = parseAddr(k.client)!;
    coreOf(d).writeFlow(i, {
      af: c.af, proto: PROTO[k.protocol], tcpflags: 0x10, fwmark: 0, caddr: c.w, vaddr: parseAddr(k.vip)!.w,
      cport: k.cport, vport: k.vport, len: 60,
    });
  });
  const hits = coreOf(d).x.connLookupBatch(keys.length);
  const w = coreOf(d).words();
  const at = (coreOf(d).base + L.REGION_LIST) >>> 2;
  return { hits, ids: Array.from(w.subarray(at, at + keys.length)) };
}

/** What the table holds: non-template connections by key (from connections()). */
function expected(d: Director): Map<string, number> {
  const m = new Map<string, number>();
  for (const c of d.connections(0)) {
    if (c.template) continue;
    m.set(keyOf({ protocol: c.protocol as Protocol, client: c.client.address, cport: c.client.port, vip: c.virtual.address, vport: c.virtual.port }), c.id);
  }
  return m;
}

function check(d: Director, probes: Key[]): void {
  const want = expected(d);
  expect(want.size).toBeGreaterThan(0);
  const all = [...probes];
  for (let i = 0; i < all.length; i += L.MAX_BATCH) {
    const part = all.slice(i, i + L.MAX_BATCH);
    const got = batch(d, part);
    const ids = part.map((k) => want.get(keyOf(k)) ?? 0);
    expect(got.ids).toEqual(ids);
    expect(got.hits).toBe(ids.filter((x) => x !== 0).length);
  }
}

const keyArb = fc.record({
  v6: fc.boolean(), udp: fc.boolean(), persist: fc.boolean(), c: fc.nat(3), cport: fc.constantFrom(0, 1, 2, 1000, 65535),
});
type Gen = { v6: boolean; udp: boolean; persist: boolean; c: number; cport: number };
function toKey(g: Gen): Key {
  const protocol: Protocol = g.udp ? 'udp' : 'tcp';
  const clients = g.v6 ? CLIENTS6 : CLIENTS4;
  return {
    protocol, client: clients[g.c % clients.length], cport: g.cport,
    vip: g.v6 ? V6 : V4.tcp, vport: g.udp ? 53 : g.persist ? 443 : 80,
  };
}

describe('connLookupBatch', () => {
  it('equals the table (connections()) for random IPv4/IPv6 tables, templates and misses', async () => {
    await fc.assert(fc.asyncProperty(fc.array(keyArb, { minLength: 1, maxLength: 40 }), fc.array(keyArb, { maxLength: 60 }),
      async (made, asked) => {
        const d = await table();
        for (const g of made) {
          const k = toKey(g);
          d.schedule({ protocol: k.protocol, client: { address: k.client, port: k.cport }, virtual: { address: k.vip, port: k.vport }, now: 0 });
        }
        const probes = [...made, ...asked].map(toKey);
        // Near misses: one field changed (port, protocol, family of the VIP, virtual port).
        const near = probes.flatMap((k): Key[] => [
          { ...k, cport: (k.cport + 1) & 0xffff }, { ...k, vport: k.vport + 1 },
          { ...k, protocol: k.protocol === 'tcp' ? 'udp' : 'tcp' }, { ...k, protocol: 'sctp' },
        ]);
        check(d, [...probes, ...near]);
      }), { numRuns: 60 });
  });

  it('agrees with the packet path (ACK in) on hits and misses', async () => {
    const d = await table();
    const made = Array.from({ length: 50 }, (_, i) => toKey({ v6: i % 3 === 0, udp: false, persist: i % 5 === 0, c: i, cport: 2000 + (i % 7) }));
    for (const k of made) d.schedule({ protocol: k.protocol, client: { address: k.client, port: k.cport }, virtual: { address: k.vip, port: k.vport }, now: 0 });
    const probes = [...made, ...made.map((k) => ({ ...k, cport: k.cport + 100 }))];
    const got = batch(d, probes).ids;
    expect(got.filter((x) => x !== 0).length).toBeGreaterThan(10);
    probes.forEach((k, i) => {
      const r = d.packet({ protocol: 'tcp', direction: 'in', client: { address: k.client, port: k.cport }, virtual: { address: k.vip, port: k.vport }, flags: 0x10 }, 1)[0];
      if (got[i] === 0) expect(r.ok).toBe(false);
      else expect(r.ok && r.id).toBe(got[i]);
    });
  });

  it('finds every entry while the index is doubling, and after entries are freed', async () => {
    const d = await table(8);
    const keys: Key[] = [];
    // 256 buckets double past 512 entries; the move takes 2 old buckets per insert.
    for (let i = 0; i < 600; i++) {
      const k: Key = { protocol: 'tcp', client: `198.18.${10 + (i >> 8)}.${i & 255}`, cport: 1024 + (i % 3), vip: V4.tcp, vport: 80 };
      keys.push(k);
      d.schedule({ protocol: 'tcp', client: { address: k.client, port: k.cport }, virtual: { address: k.vip, port: k.vport }, now: 0 });
    }
    check(d, [...keys, ...keys.map((k) => ({ ...k, cport: k.cport + 3 }))]);
    // SYN entries expire after 60 s (SYN_RECV); ids of freed entries must not come back.
    const before = batch(d, keys.slice(0, 10)).ids;
    expect(before.every((x) => x !== 0)).toBe(true);
    d.advance(10_000);
    expect(batch(d, keys.slice(0, 10))).toEqual({ hits: 0, ids: new Array(10).fill(0) });
  });

  it('returns zeros on an empty table and rejects batches over MAX_BATCH', async () => {
    const d = await table();
    expect(batch(d, [toKey({ v6: false, udp: false, persist: false, c: 0, cport: 1 })])).toEqual({ hits: 0, ids: [0] });
    expect(coreOf(d).x.connLookupBatch(L.MAX_BATCH + 1)).toBeLessThan(0);
  });
});
