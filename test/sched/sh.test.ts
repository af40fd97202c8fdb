import { describe, it, expect } from 'vitest';
import { director, tcp80, flowFrom } from '../helpers.js';
import type { Director } from '../../sdk/index.js';
import { hash32, ip4, shTable, shPick, clients } from './hashref.js';

const X = '198.18.1.1';
const Y = '198.18.1.2';
const Z = '198.18.1.3';

/** Dest id chosen for each client (0 = none); `cport` varies per phase so no flow repeats. */
function pickIds(d: Director, addrs: string[], cport = 10000): number[] {
  return d.scheduleBatch(addrs.map((a) => flowFrom(a, cport)), 0).map((r) => (r.ok ? r.destId : 0));
}

/** sh service with weights 2 (X) and 1 (Y): list X, Y. */
async function twoOne(flags: ('sh-fallback' | 'sh-port')[] = []) {
  const d = await director();
  d.addService(tcp80, { scheduler: 'sh', flags });
  const y = d.addDest(tcp80, { address: Y, weight: 1 });
  const x = d.addDest(tcp80, { address: X, weight: 2, uThreshold: 1000 });
  return { d, x, y };
}

describe('sh table', () => {
  it('weights 2,1 (list X,Y) fill X,X,Y,X,X,Y,... over 256 buckets', async () => {
    const { d, x, y } = await twoOne();
    const t = d.schedTable(tcp80);
    expect(t.length).toBe(256);
    expect(t.slice(0, 16)).toEqual([x, x, y, x, x, y, x, x, y, x, x, y, x, x, y, x]);
    expect(t).toEqual(shTable([{ id: x, weight: 2 }, { id: y, weight: 1 }]));
  });

  it('weight 0 and weight 1 both take one bucket; rebuilt on edit, add and delete', async () => {
    const { d, x, y } = await twoOne();
    d.editDest(tcp80, { address: X, weight: 0 });
    expect(d.schedTable(tcp80).slice(0, 6)).toEqual([x, y, x, y, x, y]);
    const z = d.addDest(tcp80, { address: Z, weight: 3 }); // list Z, X, Y
    expect(d.schedTable(tcp80).slice(0, 10)).toEqual([z, z, z, x, y, z, z, z, x, y]);
    d.deleteDest(tcp80, { address: X });
    expect(d.schedTable(tcp80)).toEqual(shTable([{ id: z, weight: 3 }, { id: y, weight: 1 }]));
    d.deleteDest(tcp80, { address: Z });
    d.deleteDest(tcp80, { address: Y });
    expect(d.schedTable(tcp80)).toEqual(new Array(256).fill(0));
    expect(d.schedule(flowFrom('198.18.9.9'))).toBeNull();
  });
});

describe('sh lookup', () => {
  it('hashes the client address: bucket hash_32(addr, 8)', async () => {
    const { d, x, y } = await twoOne();
    // 198.18.9.9 = 0xC6120909 → bucket 215 (215 % 3 = 2: Y); 198.18.0.2 → 30 (X).
    expect(hash32(ip4('198.18.9.9'), 8)).toBe(215);
    expect(hash32(ip4('198.18.0.2'), 8)).toBe(30);
    expect(d.schedule(flowFrom('198.18.9.9', 1111))?.destId).toBe(y);
    expect(d.schedule(flowFrom('198.18.0.2', 2222))?.destId).toBe(x);
    const t = d.schedTable(tcp80);
    const addrs = clients(300);
    expect(pickIds(d, addrs)).toEqual(addrs.map((a) => t[hash32(ip4(a), 8)]));
  });

  it('without sh-fallback a weight-0 or OVERLOADed bucket dest fails; with it the probe finds the next', async () => {
    for (const fallback of [false, true]) {
      const { d, x, y } = await twoOne(fallback ? ['sh-fallback'] : []);
      const addrs = clients(300);
      const t = d.schedTable(tcp80);
      // OVERLOAD (u_threshold 1000 reached) does not change the table.
      d.setDestConns(x, 1000, 0);
      expect(d.destById(x).overloaded).toBe(true);
      const usable = (id: number) => id === y;
      const got = pickIds(d, addrs, 20000);
      expect(got).toEqual(addrs.map((a) => shPick(t, usable, ip4(a), fallback)));
      expect(got.includes(0)).toBe(!fallback);
      expect(got.includes(x)).toBe(false);
      // Below 3/4 of the threshold the flag clears and X is hashed to again.
      d.setDestConns(x, 749, 0);
      expect(pickIds(d, addrs, 30000)).toEqual(addrs.map((a) => t[hash32(ip4(a), 8)]));
      // Weight 0 rebuilds (X keeps one bucket) and is then never chosen.
      d.editDest(tcp80, { address: X, weight: 0 });
      const t0 = d.schedTable(tcp80);
      expect(pickIds(d, addrs, 40000)).toEqual(addrs.map((a) => shPick(t0, usable, ip4(a), fallback)));
    }
  });

  it('sh-fallback probes from bucket 2*ihash linearly (pinned case)', async () => {
    const d = await director();
    d.addService(tcp80, { scheduler: 'sh', flags: ['sh-fallback'] });
    const ids = [5, 4, 3, 2, 1].map((i) => d.addDest(tcp80, { address: `198.18.1.${i}` })); // list .1 .. .5
    const list = ids.reverse();
    // 198.18.9.9 → ihash 215; buckets cycle the list so bucket b holds list[b % 5].
    // With the primary (215 % 5 = 0 → .1) disabled the probes are 430 & 255 = 174 (.5),
    // 175 (.1), 176 (.2): a walk from ihash itself would find .2 first.
    d.editDest(tcp80, { address: '198.18.1.1', weight: 0 });
    expect(d.schedule(flowFrom('198.18.9.9', 1))?.dest.address).toBe('198.18.1.5');
    expect(list[174 % 5]).toBe(d.schedule(flowFrom('198.18.9.9', 2))?.destId);
    d.editDest(tcp80, { address: '198.18.1.5', weight: 0 });
    expect(d.schedule(flowFrom('198.18.9.9', 3))?.dest.address).toBe('198.18.1.2');
  });

  it('sh-port adds the source port before hashing; without it ports are ignored', async () => {
    for (const port of [false, true]) {
      const { d } = await twoOne(port ? ['sh-port'] : []);
      const t = d.schedTable(tcp80);
      const c = ip4('198.18.9.9');
      const got = Array.from({ length: 64 }, (_, i) => d.schedule(flowFrom('198.18.9.9', 1000 + i))?.destId ?? 0);
      const want = Array.from({ length: 64 }, (_, i) => t[hash32(c + (port ? 1000 + i : 0), 8)]);
      expect(got).toEqual(want);
      expect(new Set(got).size).toBe(port ? 2 : 1);
    }
  });

  it('IPv6 clients are folded by XOR of the four words', async () => {
    const d = await director();
    const v6 = { protocol: 'tcp' as const, address: '2001:db8::1', port: 80 };
    d.addService(v6, { scheduler: 'sh' });
    for (const a of ['2001:db8::a', '2001:db8::b', '2001:db8::c']) d.addDest(v6, { address: a });
    const t = d.schedTable(v6);
    for (let i = 0; i < 50; i++) {
      const w = [0x20010db8, i * 0x10001, 0x00030004, (0x5000 + i * 7) >>> 0];
      const addr = w.map((x) => `${(x >>> 16).toString(16)}:${(x & 0xffff).toString(16)}`).join(':');
      const fold = (w[0] ^ w[1] ^ w[2] ^ w[3]) >>> 0;
      const r = d.schedule({ protocol: 'tcp', client: { address: addr, port: 4000 + i }, virtual: { address: '2001:db8::1', port: 80 }, now: 0 });
      expect(r?.destId).toBe(t[hash32(fold, 8)]);
    }
  });
});

describe('sh disruption and determinism', () => {
  it('one of five dests leaving moves far more than the ideal 1/5 of 10k clients (exact count from the rules)', async () => {
    const d = await director();
    d.addService(tcp80, { scheduler: 'sh' });
    for (let i = 1; i <= 5; i++) d.addDest(tcp80, { address: `198.18.1.${i}` });
    const addrs = clients(10000);
    const before = pickIds(d, addrs, 10000);
    const gone = d.dests(tcp80)[2];
    d.deleteDest(tcp80, { address: gone.address });
    const after = pickIds(d, addrs, 20000);
    const moved = before.filter((b, i) => b !== after[i]).length;
    const ideal = before.filter((b) => b === gone.id).length;
    // Refill cycles 4 dests over buckets that cycled 5: a bucket keeps its dest
    // only where both cycles agree. The rules give the exact count.
    const ids = d.dests(tcp80).map((x) => x.id);
    const tBefore = shTable([...ids.slice(0, 2), gone.id, ...ids.slice(2)].map((id) => ({ id, weight: 1 })));
    const tAfter = shTable(ids.map((id) => ({ id, weight: 1 })));
    const want = addrs.filter((a) => tBefore[hash32(ip4(a), 8)] !== tAfter[hash32(ip4(a), 8)]).length;
    expect(moved).toBe(want);
    expect(ideal).toBeGreaterThan(1700);
    expect(ideal).toBeLessThan(2300);
    expect(moved).toBeGreaterThan(3 * ideal);
  });

  it('two fresh instances (different seeds) build the same table and make the same picks', async () => {
    const run = async (seed: number) => {
      const d = await director(seed);
      d.addService(tcp80, { scheduler: 'sh', flags: ['sh-port'] });
      for (const [a, w] of [[X, 3], [Y, 1], [Z, 2]] as const) d.addDest(tcp80, { address: a, weight: w });
      const name = new Map(d.dests(tcp80).map((x) => [x.id, x.address]));
      return {
        table: d.schedTable(tcp80).map((id) => name.get(id)),
        picks: d.scheduleBatch(clients(1000).map((a, i) => flowFrom(a, 1024 + i)), 0).map((r) => (r.ok ? r.dest.address : '-')),
      };
    };
    expect(await run(1)).toEqual(await run(987654321));
  });
});
