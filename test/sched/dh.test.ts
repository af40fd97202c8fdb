import { describe, it, expect } from 'vitest';
import { director, flowFrom } from '../helpers.js';
import type { Director, ServiceKey } from '../../sdk/index.js';
import { hash32, ip4, dhTable } from './hashref.js';

// A fwmark service takes any virtual address, so one service can show the
// destination-address hashing.
const fwm: ServiceKey = { fwmark: 1 };
const A = '198.18.1.1';
const B = '198.18.1.2';
const C = '198.18.1.3';

/** Virtual addresses 198.18.0.1 .. 198.18.0.n. */
const vips = (n: number) => Array.from({ length: n }, (_, i) => `198.18.0.${i + 1}`);

function pickFor(d: Director, vip: string, cport = 40000): number {
  return d.schedule({ ...flowFrom('198.18.9.9', cport, 80, 'tcp', vip), fwmark: 1 })?.destId ?? 0;
}

/** A, B (weight 0), C added in that order: list C, B, A. */
async function abc() {
  const d = await director(1, { connections: false }); // bare picks: load comes from setDestConns
  d.addService(fwm, { scheduler: 'dh' });
  const a = d.addDest(fwm, { address: A });
  const b = d.addDest(fwm, { address: B, weight: 0 });
  const c = d.addDest(fwm, { address: C, uThreshold: 1000 });
  return { d, a, b, c };
}

describe('dh table', () => {
  it('cycles the list in list order, one bucket each, weight ignored and weight 0 included', async () => {
    const { d, a, b, c } = await abc();
    const t = d.schedTable(fwm);
    expect(t.length).toBe(256);
    expect(t.slice(0, 7)).toEqual([c, b, a, c, b, a, c]);
    expect(t[255]).toBe(c); // 255 % 3 = 0
    expect(t).toEqual(dhTable([c, b, a]));
  });

  it('is rebuilt on add and delete; an edit leaves it alone', async () => {
    const { d, a, b, c } = await abc();
    d.editDest(fwm, { address: A, weight: 7 });
    expect(d.schedTable(fwm)).toEqual(dhTable([c, b, a]));
    d.deleteDest(fwm, { address: C });
    expect(d.schedTable(fwm).slice(0, 4)).toEqual([b, a, b, a]);
    const e = d.addDest(fwm, { address: '198.18.1.5' });
    expect(d.schedTable(fwm)).toEqual(dhTable([e, b, a]));
    for (const x of [A, B, '198.18.1.5']) d.deleteDest(fwm, { address: x });
    expect(d.schedTable(fwm)).toEqual(new Array(256).fill(0));
    expect(pickFor(d, '198.18.0.1')).toBe(0);
  });
});

describe('dh lookup', () => {
  it('hashes the virtual (destination) address: bucket hash_32(vaddr, 8); the client does not matter', async () => {
    const { d, a, c } = await abc();
    // 198.18.0.1 → bucket 188 (188 % 3 = 2: A); 198.18.0.3 → 128 (128 % 3 = 2: A);
    // 198.18.1.1 → 133 (133 % 3 = 1: B, weight 0).
    expect([hash32(ip4('198.18.0.1'), 8), hash32(ip4('198.18.0.3'), 8), hash32(ip4('198.18.1.1'), 8)]).toEqual([188, 128, 133]);
    expect(pickFor(d, '198.18.0.1')).toBe(a);
    expect(pickFor(d, '198.18.0.3')).toBe(a);
    expect(pickFor(d, '198.18.1.1')).toBe(0);
    const t = d.schedTable(fwm);
    const ids = vips(200).map((v, i) => pickFor(d, v, 1000 + i));
    const want = vips(200).map((v) => t[hash32(ip4(v), 8)]);
    // The weight-0 dest is in the table but never chosen: no fallback.
    expect(ids).toEqual(want.map((id) => (id === d.dests(fwm)[1].id ? 0 : id)));
    expect(ids.filter((x) => x === c).length).toBeGreaterThan(30);
    const other = d.schedule({ ...flowFrom('198.18.200.7', 5555, 80, 'tcp', '198.18.0.1'), fwmark: 1 });
    expect(other?.destId).toBe(a);
  });

  it('an OVERLOADed bucket dest fails until the flag clears', async () => {
    const { d, c } = await abc();
    const vip = vips(60).find((v) => d.schedTable(fwm)[hash32(ip4(v), 8)] === c)!;
    expect(pickFor(d, vip, 1)).toBe(c);
    d.setDestConns(c, 0, 1000); // u_threshold reached
    expect(d.destById(c).overloaded).toBe(true);
    expect(pickFor(d, vip, 2)).toBe(0);
    d.setDestConns(c, 0, 749); // below 3/4 of it
    expect(pickFor(d, vip, 3)).toBe(c);
  });

  it('IPv6 virtual addresses are folded by XOR of the four words', async () => {
    const d = await director();
    const k6: ServiceKey = { fwmark: 2, af: 6 };
    d.addService(k6, { scheduler: 'dh' });
    for (const x of ['2001:db8::a', '2001:db8::b', '2001:db8::c', '2001:db8::d']) d.addDest(k6, { address: x });
    const t = d.schedTable(k6);
    for (let i = 0; i < 40; i++) {
      const w = [0x20010db8, 0, i * 0x01010101, 0x00000001 + i];
      const vip = w.map((x) => `${(x >>> 16).toString(16)}:${(x & 0xffff).toString(16)}`).join(':');
      const fold = (w[0] ^ w[1] ^ w[2] ^ w[3]) >>> 0;
      const r = d.schedule({ protocol: 'udp', fwmark: 2, client: { address: '2001:db8::99', port: 53 }, virtual: { address: vip, port: 53 }, now: 0 });
      expect(r?.destId).toBe(t[hash32(fold, 8)]);
    }
  });

  it('two fresh instances (different seeds) make the same picks', async () => {
    const run = async (seed: number) => {
      const d = await director(seed);
      d.addService(fwm, { scheduler: 'dh' });
      for (const x of [A, B, C]) d.addDest(fwm, { address: x });
      return vips(100).map((v, i) => d.schedule({ ...flowFrom('198.18.9.9', 1000 + i, 80, 'tcp', v), fwmark: 1 })?.dest.address);
    };
    expect(await run(3)).toEqual(await run(44));
  });
});
