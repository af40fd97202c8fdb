import { describe, it, expect } from 'vitest';
import { director, tcp80, flowFrom } from '../helpers.js';
import type { Director, ServiceOptions } from '../../sdk/index.js';
import { InvalidOperationError } from '../../sdk/errors.js';
import { ip4, mhTable, mhHash, mhSlot, mhPick, clients, MH_KEY1, MH_KEY2, type MhDest } from './hashref.js';

function pickIds(d: Director, addrs: string[], cport = 10000): number[] {
  return d.scheduleBatch(addrs.map((a) => flowFrom(a, cport)), 0).map((r) => (r.ok ? r.destId : 0));
}

/** mh service with dests 198.18.1.<i> (given weights, added in order); the core's table and the rules' table. */
async function setup(weights: number[], opts: ServiceOptions = {}, bits = 6, uThreshold = 0) {
  const d = await director(1, { connections: false }); // bare picks: load comes from setDestConns
  d.addService(tcp80, { scheduler: 'mh', ...opts });
  const ids = weights.map((w, i) => d.addDest(tcp80, { address: `198.18.1.${i + 1}`, weight: w, uThreshold }));
  const list: MhDest[] = weights.map((w, i) => ({ id: ids[i], addr: ip4(`198.18.1.${i + 1}`), port: 80, lastWeight: w })).reverse();
  const m = opts.mhTableSize ?? 4093;
  return { d, ids, m, table: d.schedTable(tcp80), want: mhTable(list, m, bits) };
}

function histogram(t: number[]): Map<number, number> {
  const h = new Map<number, number>();
  for (const x of t) h.set(x, (h.get(x) ?? 0) + 1);
  return h;
}

describe('mh table', () => {
  it('M = 251, three dests of weight 1: permutations, first claims and histogram', async () => {
    const { table, want, ids } = await setup([1, 1, 1], { mhTableSize: 251 }, 4);
    const [d1, d2, d3] = ids;
    // hsiphash(0xC6120101 + 80) under key1 = 637243566 → offset 248; key2 → skip 101.
    expect(mhHash(MH_KEY1, ip4('198.18.1.1'), 80, 0)).toBe(637243566);
    expect([1, 2, 3].map((i) => mhHash(MH_KEY1, ip4(`198.18.1.${i}`), 80, 0) % 251)).toEqual([248, 79, 176]);
    expect([1, 2, 3].map((i) => (mhHash(MH_KEY2, ip4(`198.18.1.${i}`), 80, 0) % 250) + 1)).toEqual([101, 216, 181]);
    // List .3 .2 .1: pass 1 claims 176, 79, 248; pass 2 claims 176+181, 79+216, 248+101 (mod 251).
    expect(table.length).toBe(251);
    expect([table[176], table[79], table[248], table[106], table[44], table[98]]).toEqual([d3, d2, d1, d3, d2, d1]);
    // 251 = 3 × 83 + 2: the first two in list order get one slot more.
    expect([...histogram(table)].sort((a, b) => a[0] - b[0])).toEqual([[d1, 83], [d2, 84], [d3, 84]]);
    expect(table).toEqual(want);
  });

  it('default M = 4093; weights 3,2,1 give slots in proportion', async () => {
    const { table, want, ids } = await setup([3, 2, 1]);
    expect(table.length).toBe(4093);
    expect(table).toEqual(want);
    const h = histogram(table);
    // 4093 = 682 passes × 6 + 1: the head (weight 1, added last) takes the extra slot.
    expect(ids.map((id) => h.get(id))).toEqual([2046, 1364, 683]);
  });

  it('other IPVS primes are selectable (tab bits = config index / 2)', async () => {
    // Max weight 50 needs 6 bits: shift 2 at 509 (4 bits), 1 at 2039 (5), 0 at 131071 (8).
    for (const [m, bits] of [[509, 4], [2039, 5], [131071, 8]] as const) {
      const { table, want } = await setup([50, 1, 20, 9], { mhTableSize: m }, bits);
      expect(table.length).toBe(m);
      expect(table).toEqual(want);
    }
  });

  it('gcd and rshift scale big weights: 1000,10,1 → turns 62,1,1 at M=4093 (shift 4)', async () => {
    const { table, want, ids } = await setup([1000, 10, 1]);
    expect(table).toEqual(want);
    const h = histogram(table);
    // 4093 = 63 passes × 64 + 61: the head (weight 1) and weight 10 get 64 each.
    expect(ids.map((id) => h.get(id))).toEqual([4093 - 128, 64, 64]);
    const g = await setup([4, 8, 12]); // gcd 4 → turns 1, 2, 3
    expect(g.table).toEqual(g.want);
    expect(g.ids.map((id) => histogram(g.table).get(id))).toEqual([682, 1364, 2047]);
  });

  it('uses last_weight: editing to weight 0 keeps the table; weight-0 adds are left out', async () => {
    const { d, table, ids } = await setup([1, 2, 1]);
    d.editDest(tcp80, { address: '198.18.1.2', weight: 0 });
    expect(d.schedTable(tcp80)).toEqual(table);
    d.editDest(tcp80, { address: '198.18.1.2', weight: 2 });
    expect(d.schedTable(tcp80)).toEqual(table);
    const z = d.addDest(tcp80, { address: '198.18.1.9', weight: 0 });
    expect(d.schedTable(tcp80)).toEqual(table);
    expect(d.schedTable(tcp80).includes(z)).toBe(false);
    d.deleteDest(tcp80, { address: '198.18.1.2' });
    expect(histogram(d.schedTable(tcp80)).get(ids[1])).toBeUndefined();
  });

  it('no positive last_weight → empty table, every lookup fails', async () => {
    const { d, table } = await setup([0, 0]);
    expect(table).toEqual(new Array(4093).fill(0));
    expect(d.schedule(flowFrom('198.18.9.9'))).toBeNull();
  });

  it('more dests than M: the add fails with EINVAL and changes nothing', async () => {
    const d = await director();
    d.addService(tcp80, { scheduler: 'mh', mhTableSize: 251 });
    for (let i = 0; i < 251; i++) d.addDest(tcp80, { address: `198.18.${2 + (i >> 8)}.${i & 255}` });
    expect(() => d.addDest(tcp80, { address: '198.18.9.9' })).toThrow(InvalidOperationError);
    expect(d.dests(tcp80).length).toBe(251);
    expect(new Set(d.schedTable(tcp80)).size).toBe(251);
    // -E to mh with too small a table is refused too; the old scheduler stays.
    d.editService(tcp80, { scheduler: 'rr' });
    d.addDest(tcp80, { address: '198.18.9.9' });
    expect(() => d.editService(tcp80, { scheduler: 'mh', mhTableSize: 251 })).toThrow(InvalidOperationError);
    expect(d.service(tcp80).scheduler).toBe('rr');
    d.editService(tcp80, { scheduler: 'mh', mhTableSize: 509 });
    expect(new Set(d.schedTable(tcp80)).size).toBe(252);
  });
});

describe('mh lookup', () => {
  it('slot = hsiphash(client addr) % M; weight 0 / OVERLOAD fail without mh-fallback, re-hash with it', async () => {
    for (const fallback of [false, true]) {
      const { d, ids, table } = await setup([1, 1, 1, 1], fallback ? { flags: ['mh-fallback'] } : {}, 6, 100000);
      const addrs = clients(400);
      expect(pickIds(d, addrs)).toEqual(addrs.map((a) => table[mhSlot(ip4(a), 0, 4093)]));
      d.editDest(tcp80, { address: '198.18.1.2', weight: 0 });
      d.setDestConns(ids[2], 100000, 0); // u_threshold reached → OVERLOAD
      const usable = (id: number) => id === ids[0] || id === ids[3];
      const got = pickIds(d, addrs, 20000);
      expect(got).toEqual(addrs.map((a) => mhPick(table, usable, ip4(a), 0, fallback)));
      expect(got.includes(0)).toBe(!fallback);
      expect(got.some((x) => x === ids[1] || x === ids[2])).toBe(false);
    }
  });

  it('mh-port adds the source port; without it ports are ignored', async () => {
    for (const port of [false, true]) {
      const { d, table } = await setup([1, 1, 1], port ? { flags: ['mh-port'] } : {});
      const c = ip4('198.18.9.9');
      const got = Array.from({ length: 40 }, (_, i) => d.schedule(flowFrom('198.18.9.9', 3000 + i))?.destId ?? 0);
      expect(got).toEqual(got.map((_, i) => table[mhSlot(c, port ? 3000 + i : 0, 4093)]));
      expect(new Set(got).size).toBe(port ? 3 : 1);
    }
  });

  it('IPv6 clients and dests are folded by XOR of the four words', async () => {
    const d = await director();
    const v6 = { protocol: 'tcp' as const, address: '2001:db8::1', port: 443 };
    d.addService(v6, { scheduler: 'mh', mhTableSize: 251 });
    const fold = (w: number[]) => (w[0] ^ w[1] ^ w[2] ^ w[3]) >>> 0;
    const ids = [0xa, 0xb].map((x) => d.addDest(v6, { address: `2001:db8::${x.toString(16)}` }));
    const list = [0xb, 0xa].map((x, i) => ({ id: ids[1 - i], addr: fold([0x20010db8, 0, 0, x]), port: 443, lastWeight: 1 }));
    const table = d.schedTable(v6);
    expect(table).toEqual(mhTable(list, 251, 4));
    for (let i = 0; i < 30; i++) {
      const w = [0x20010db8, 0x10000 * i, 7, 0x1234 + i];
      const addr = w.map((x) => `${(x >>> 16).toString(16)}:${(x & 0xffff).toString(16)}`).join(':');
      const r = d.schedule({ protocol: 'tcp', client: { address: addr, port: 5000 + i }, virtual: { address: '2001:db8::1', port: 443 }, now: 0 });
      expect(r?.destId).toBe(table[mhSlot(fold(w), 0, 251)]);
    }
  });
});

describe('mh disruption and determinism', () => {
  it('one of five dests leaving moves close to the ideal 1/5 of 10k clients', async () => {
    const { d, ids } = await setup([1, 1, 1, 1, 1]);
    const addrs = clients(10000);
    const before = pickIds(d, addrs, 10000);
    d.deleteDest(tcp80, { address: '198.18.1.3' });
    const after = pickIds(d, addrs, 20000);
    const ideal = before.filter((b) => b === ids[2]).length;
    const moved = before.filter((b, i) => b !== after[i]).length;
    // Every client of the leaving dest moves; Maglev moves only a few others.
    expect(after.includes(ids[2])).toBe(false);
    expect(ideal).toBeGreaterThan(1700);
    expect(ideal).toBeLessThan(2300);
    expect(moved).toBeGreaterThanOrEqual(ideal);
    expect(moved).toBeLessThan(ideal * 1.2);
    // The exact count from the rules' tables.
    const list = (ws: number[]) => ws.map((i) => ({ id: ids[i - 1], addr: ip4(`198.18.1.${i}`), port: 80, lastWeight: 1 }));
    const t0 = mhTable(list([5, 4, 3, 2, 1]), 4093, 6);
    const t1 = mhTable(list([5, 4, 2, 1]), 4093, 6);
    const slots = addrs.map((a) => mhSlot(ip4(a), 0, 4093));
    expect(moved).toBe(slots.filter((s) => t0[s] !== t1[s]).length);
  });

  it('two fresh instances (different seeds) build the same table and make the same picks', async () => {
    const run = async (seed: number) => {
      const d = await director(seed);
      d.addService(tcp80, { scheduler: 'mh', flags: ['mh-port', 'mh-fallback'], mhTableSize: 1021 });
      for (const [a, w] of [['198.18.1.1', 3], ['198.18.1.2', 1], ['198.18.1.3', 2]] as const) d.addDest(tcp80, { address: a, weight: w });
      const name = new Map(d.dests(tcp80).map((x) => [x.id, x.address]));
      return {
        table: d.schedTable(tcp80).map((id) => name.get(id)),
        picks: d.scheduleBatch(clients(1000).map((a, i) => flowFrom(a, 1024 + i)), 0).map((r) => (r.ok ? r.dest.address : '-')),
      };
    };
    expect(await run(1)).toEqual(await run(2 ** 40 + 5));
  });
});
