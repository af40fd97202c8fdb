import { describe, it, expect } from 'vitest';
import { Director } from '../../sdk/index.js';
import type { ServiceKey } from '../../sdk/index.js';
import { coreOf } from '../../sdk/core/index.js';

/** Bare scheduler picks: no connection entries, so only setDestConns moves the counters. */
const director = () => Director.create({ seed: 1, flavor: 'debug', connections: false });

// lblc keys its cache by the flow's destination (virtual) address, so these
// tests use a fwmark service: any virtual address carrying mark 1 reaches it.
const fwm: ServiceKey = { fwmark: 1 };
const addrOf = (letter: string) => `198.18.1.${letter.charCodeAt(0) - 64}`;
const letterOf = (addr: string) => String.fromCharCode(64 + Number(addr.split('.')[3]));

let cport = 10000;
/** Pick for a flow to virtual address `vip` at time `now`; the dest letter or '-'. */
function pick(d: Director, vip: string, now = 0): string {
  if (cport > 65000) cport = 10000;
  const r = d.schedule({ protocol: 'tcp', client: { address: '198.18.9.9', port: cport++ }, virtual: { address: vip, port: 80 }, fwmark: 1, now });
  return r === null ? '-' : letterOf(r.dest.address);
}

/** lblc on a fwmark service with dests added in the given order (list is newest first). */
async function setup(letters: string[], sched: 'lblc' | 'lblcr' = 'lblc', u: Record<string, number> = {}) {
  const d = await director();
  d.addService(fwm, { scheduler: sched });
  const ids: Record<string, number> = {};
  for (const k of letters) ids[k] = d.addDest(fwm, { address: addrOf(k), weight: 1, uThreshold: u[k] ?? 0 });
  return { d, ids };
}

const X = '198.18.0.10';
const Y = '198.18.0.11';

describe('lblc', () => {
  it('the same destination address sticks to its dest while wlc would choose another', async () => {
    const { d, ids } = await setup(['A', 'B', 'C']); // list C B A
    expect(pick(d, X)).toBe('C'); // wlc: all idle, ties keep the first
    d.setDestConns(ids.C, 1, 0); // C busier, but active 1 is not above weight 1
    expect(pick(d, Y)).toBe('B');
    expect(pick(d, X)).toBe('C');
    expect(pick(d, Y)).toBe('B');
  });

  it('moves when its dest is lblc-overloaded: active > weight and some dest has active*2 < weight', async () => {
    const { d, ids } = await setup(['A', 'B', 'C']);
    expect(pick(d, X)).toBe('C');
    d.setDestConns(ids.C, 2, 0);
    d.setDestConns(ids.B, 1, 0);
    d.setDestConns(ids.A, 1, 0); // nobody is clearly better: C keeps X
    expect(pick(d, X)).toBe('C');
    d.setDestConns(ids.A, 0, 0); // A has 0*2 < 1: X moves by wlc (A has the lowest overhead)
    expect(pick(d, X)).toBe('A');
    d.setDestConns(ids.C, 0, 0);
    expect(pick(d, X)).toBe('A'); // the entry now points at A
  });

  it('"clearly better" means activeconns * 2 < weight', async () => {
    const d = await director();
    d.addService(fwm, { scheduler: 'lblc' });
    const A = d.addDest(fwm, { address: addrOf('A'), weight: 2 });
    const B = d.addDest(fwm, { address: addrOf('B'), weight: 1 });
    expect(pick(d, X)).toBe('B'); // list B A: tie at overhead 0 keeps B
    d.setDestConns(B, 2, 0);
    d.setDestConns(A, 1, 0); // 1*2 < 2 is false: B stays although A is below its weight
    expect(pick(d, X)).toBe('B');
    d.setDestConns(A, 0, 0);
    expect(pick(d, X)).toBe('A');
  });

  it('a cached dest is reused even when OVERLOADed (only new addresses skip it)', async () => {
    const { d, ids } = await setup(['A', 'B', 'C'], 'lblc', { C: 1 });
    expect(pick(d, X)).toBe('C');
    d.setDestConns(ids.C, 0, 1); // OVERLOAD set by the upper threshold
    expect(d.destById(ids.C).overloaded).toBe(true);
    expect(pick(d, X)).toBe('C');
    expect(pick(d, Y)).toBe('B');
  });

  it('moves when its dest is deleted, and stays moved when the dest comes back', async () => {
    const { d } = await setup(['A', 'B', 'C']);
    expect(pick(d, X)).toBe('C');
    d.deleteDest(fwm, { address: addrOf('C') });
    expect(pick(d, X)).toBe('B');
    d.addDest(fwm, { address: addrOf('C'), weight: 1 }); // list C B A again
    expect(pick(d, X)).toBe('B');
    expect(pick(d, Y)).toBe('C');
  });

  it('moves when its dest gets weight 0', async () => {
    const { d } = await setup(['A', 'B', 'C']);
    expect(pick(d, X)).toBe('C');
    d.editDest(fwm, { address: addrOf('C'), weight: 0 });
    expect(pick(d, X)).toBe('B');
    d.editDest(fwm, { address: addrOf('C'), weight: 1 });
    expect(pick(d, X)).toBe('B');
  });

  it('-E keeps the cache with the same scheduler and starts a new one with another', async () => {
    const { d, ids } = await setup(['A', 'B', 'C']);
    expect(pick(d, X)).toBe('C');
    d.setDestConns(ids.C, 1, 0);
    d.editService(fwm, { scheduler: 'lblc' });
    expect(pick(d, X)).toBe('C');
    d.editService(fwm, { scheduler: 'wlc' });
    d.editService(fwm, { scheduler: 'lblc' });
    expect(pick(d, X)).toBe('B');
  });

  it('no dest with weight > 0: no destination available', async () => {
    const { d } = await setup([]);
    expect(pick(d, X)).toBe('-');
    d.addDest(fwm, { address: addrOf('A'), weight: 0 });
    expect(pick(d, X)).toBe('-');
  });

  it('with connection tracking on, bound connections steer wlc while cached addresses stick', async () => {
    const d = await Director.create({ seed: 1, flavor: 'debug', connections: true });
    d.addService(fwm, { scheduler: 'lblc' });
    for (const k of ['A', 'B', 'C']) d.addDest(fwm, { address: addrOf(k), weight: 1 });
    // Each new connection starts inactive (overhead +1), so wlc spreads new addresses.
    expect([X, Y, '198.18.0.12'].map((v) => pick(d, v))).toEqual(['C', 'B', 'A']);
    expect([X, X, Y, X].map((v) => pick(d, v))).toEqual(['C', 'C', 'B', 'C']);
    expect(d.dests(fwm).map((r) => [letterOf(r.address), r.activeconns + r.inactconns])).toEqual([['C', 4], ['B', 2], ['A', 1]]);
  });

  it('IPv6: keys compare the whole address, not just the folded bucket key', async () => {
    const d = await director();
    const svc: ServiceKey = { fwmark: 1, af: 6 };
    d.addService(svc, { scheduler: 'lblc' });
    const ids = ['2001:db8::a', '2001:db8::b'].map((address) => d.addDest(svc, { address, weight: 1 }));
    const p = (vip: string) =>
      d.schedule({ protocol: 'tcp', client: { address: '2001:db8::99', port: cport++ }, virtual: { address: vip, port: 80 }, fwmark: 1, now: 0 })?.dest.address;
    // Same first word and the same XOR fold (words 1 and 2 swapped): same bucket.
    const v1 = '2001:db8:0:1:0:2::5';
    const v2 = '2001:db8:0:2:0:1::5';
    expect(p(v1)).toBe('2001:db8::b');
    d.setDestConns(ids[1], 1, 0);
    expect(p(v2)).toBe('2001:db8::a');
    expect(p(v1)).toBe('2001:db8::b');
    expect(p(v2)).toBe('2001:db8::a');
  });
});

describe('lblc cache expiry (driven by schedTick)', () => {
  // The GC timer is armed at the first time seen (a pick at 0 -> runs at 60,
  // 120, ...). Every 30th run is a full sweep of entries idle >= 24 h, so an
  // entry last used at 0 goes in the run at 86400 (the 1440th), not before.
  async function cachedOnC() {
    const { d, ids } = await setup(['A', 'B', 'C']);
    expect(pick(d, X, 0)).toBe('C');
    d.setDestConns(ids.C, 1, 0); // from now on wlc would choose B
    return d;
  }

  it('an entry idle for 24 h goes at the first full sweep at or after lastuse + 24 h', async () => {
    const kept = await cachedOnC();
    coreOf(kept).x.schedTick(86340);
    expect(pick(kept, X, 86340)).toBe('C');

    const gone = await cachedOnC();
    coreOf(gone).x.schedTick(86400);
    expect(pick(gone, X, 86400)).toBe('B');
  });

  it('the same, reached by many small ticks', async () => {
    const d = await cachedOnC();
    for (let t = 0; t <= 86340; t += 7) coreOf(d).x.schedTick(t);
    coreOf(d).x.schedTick(86399);
    expect(pick(d, X, 86399)).toBe('C'); // refreshes lastuse to 86399
    for (let t = 86399; t <= 172799; t += 61) coreOf(d).x.schedTick(t);
    coreOf(d).x.schedTick(172800); // the first full sweep at or after 86399 + 86400
    expect(pick(d, X, 172800)).toBe('B');
  });

  it('runs on an empty table still count towards the next full sweep', async () => {
    async function scenario(tickAt: number): Promise<string> {
      const { d, ids } = await setup(['A', 'B', 'C']);
      expect(pick(d, X, 0)).toBe('C');
      coreOf(d).x.schedTick(86400); // the entry goes: empty table, counter back to 1
      coreOf(d).x.schedTick(87000); // 10 more runs on the empty table: counter 11
      expect(pick(d, X, 87000)).toBe('C'); // a new entry, lastuse 87000
      d.setDestConns(ids.C, 1, 0); // from now on wlc would choose B
      coreOf(d).x.schedTick(tickAt);
      return pick(d, X, tickAt);
    }
    // Full sweeps at 86400 + 1800 k; the first at or after 87000 + 86400 = 173400 is 174600.
    expect(await scenario(174599)).toBe('C');
    expect(await scenario(174600)).toBe('B');
  });

  it('a pick refreshes lastuse', async () => {
    const d = await cachedOnC();
    expect(pick(d, X, 1000)).toBe('C');
    coreOf(d).x.schedTick(86400);
    expect(pick(d, X, 86400)).toBe('C');
    const e = await cachedOnC();
    expect(pick(e, X, 1000)).toBe('C');
    coreOf(e).x.schedTick(88200); // 1000 + 86400 = 87400 -> the sweep at 88200
    expect(pick(e, X, 88200)).toBe('B');
  });

  it('over 16384 entries, runs evict entries idle >= 6 min, bucket by bucket, until the goal', async () => {
    const vipsOf = (n: number) => Array.from({ length: n }, (_, i) => `198.19.${i >> 8}.${i & 255}`);
    let vips = vipsOf(17000);
    const flows = (now: number) =>
      vips.map((v, i) => ({ protocol: 'tcp' as const, client: { address: '198.18.9.9', port: 1024 + (i % 60000) }, virtual: { address: v, port: 80 }, fwmark: 1, now }));
    // hash_32(addr, 10) buckets, modelled here independently of the core.
    const bucket = (v: string) => {
      const n = v.split('.').reduce((a, o) => a * 256 + Number(o), 0) >>> 0;
      return Math.imul(n, 0x61c88647) >>> 22;
    };
    const perBucket = new Array<number>(1024).fill(0);
    for (const v of vips) perBucket[bucket(v)]++;
    // goal = (17000 - 16384) * 4 / 3 = 821; whole buckets 1, 2, ... go until it is met.
    let expected = 0;
    for (let j = 1; expected < 821; j++) expected += perBucket[j];

    async function run(tickAt: number): Promise<number> {
      const { d, ids } = await setup(['A', 'B', 'C']);
      d.scheduleBatch(flows(0));
      coreOf(d).x.schedTick(tickAt);
      // New dest D, the others loaded but not lblc-overloaded: a cached address
      // stays where it was, an evicted one goes to D.
      const D = d.addDest(fwm, { address: addrOf('D'), weight: 1 });
      for (const k of ['A', 'B', 'C']) d.setDestConns(ids[k], 1, 1_000_000);
      const out = d.scheduleBatch(flows(tickAt));
      return out.filter((r) => r.ok && r.destId === D).length;
    }
    expect(await run(359)).toBe(0); // runs at 60..300: nothing idle for 6 min yet
    expect(await run(360)).toBe(expected);
    vips = vipsOf(16384); // exactly max_size: no partial sweep
    expect(await run(420)).toBe(0);
  });

  it('memory stays flat once the pools have grown', async () => {
    const { d } = await setup(['A', 'B', 'C']);
    const flows = (now: number) =>
      Array.from({ length: 2000 }, (_, i) => ({
        protocol: 'tcp' as const, client: { address: '198.18.9.9', port: 1024 + i }, virtual: { address: `198.19.${i >> 8}.${i & 255}`, port: 80 }, fwmark: 1, now,
      }));
    // Every round's entries expire before the next round makes them again.
    const DAY = 86400;
    const round = (now: number) => {
      expect(d.scheduleBatch(flows(now)).every((r) => r.ok)).toBe(true);
      d.advance(now + DAY + 1800);
    };
    round(0);
    const bytes = coreOf(d).x.memory.buffer.byteLength;
    for (let t = 1; t <= 20; t++) round(t * 2 * DAY);
    expect(coreOf(d).x.memory.buffer.byteLength).toBe(bytes);
  });
});
