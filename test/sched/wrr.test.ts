import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { tcp80, VIP } from '../helpers.js';
import { Director } from '../../sdk/index.js';

/** Bare scheduler picks: no connection entries, so only setDestConns moves the counters. */
const director = () => Director.create({ seed: 1, flavor: 'debug', connections: false });

// Dest letters: A = 198.18.1.1, B = .2, C = .3, ... Added in the order given,
// so the IPVS list is the reverse (newest first).
const addrOf = (letter: string) => `198.18.1.${letter.charCodeAt(0) - 64}`;
const letterOf = (addr: string) => (addr === '-' ? '-' : String.fromCharCode(64 + Number(addr.split('.')[3])));

let port = 10000;
/** Addresses of n picks with never-reused client ports (so no existing connection can answer). */
function pickAddrs(d: Director, n: number, vport = 80): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    if (port > 65000) port = 10000;
    const r = d.schedule({ protocol: 'tcp', client: { address: '198.18.9.9', port: port++ }, virtual: { address: '198.18.0.1', port: vport }, now: 0 });
    out.push(r === null ? '-' : r.dest.address);
  }
  return out;
}
const seq = (d: Director, n: number): string => pickAddrs(d, n).map(letterOf).join('');

async function wrr(weights: Record<string, number>, opts: Record<string, { u?: number }> = {}): Promise<{ d: Director; ids: Record<string, number> }> {
  const d = await director();
  d.addService(tcp80, { scheduler: 'wrr' });
  const ids: Record<string, number> = {};
  for (const [k, w] of Object.entries(weights)) {
    ids[k] = d.addDest(tcp80, { address: addrOf(k), weight: w, uThreshold: opts[k]?.u ?? 0 });
  }
  return { d, ids };
}

// Adding dests one by one moves cw too: after A=4 alone di = 4, mw = 1, cw = 1;
// adding B=3 gives di = 1, mw = 4 and cw stays 1 (1 <= mw, di = 1). So a fresh
// service first finishes a pass at cw = 1 from the head, then cycles from cw = mw.
describe('wrr', () => {
  it('weights A=4 B=3 C=2 (list C B A): a cw=1 pass, then cycles of passes cw = 4, 3, 2, 1', async () => {
    const { d } = await wrr({ A: 4, B: 3, C: 2 });
    expect(seq(d, 3)).toBe('CBA');
    expect(seq(d, 9)).toBe('A' + 'BA' + 'CBA' + 'CBA');
    expect(seq(d, 9)).toBe('ABACBACBA');
  });

  it('gcd > 1: A=4 B=2 gives di = 2, mw = 3, passes cw = 3, 1', async () => {
    const { d } = await wrr({ A: 4, B: 2 });
    // After A: di 4, mw 1, cw 1; after B: di 2, mw 3, cw = floor(1/2)*2 + 1 = 1.
    expect(seq(d, 2)).toBe('BA');
    expect(seq(d, 6)).toBe('A' + 'BA' + 'A' + 'BA');
  });

  it('an edit mid-cycle resets the cursor to the head and keeps cw on the new grid', async () => {
    const a = await wrr({ A: 4, B: 3, C: 2 });
    expect(seq(a.d, 5)).toBe('CBA' + 'AB'); // cursor on B, cw = 3
    // Same weight: cursor := head, cw stays 3 (di = 1): the cw=3 pass restarts at the head.
    a.d.editDest(tcp80, { address: addrOf('C'), weight: 2 });
    expect(seq(a.d, 10)).toBe('BA' + 'CBA' + 'CBA' + 'A' + 'B');

    const b = await wrr({ A: 4, B: 3, C: 2 });
    expect(seq(b.d, 5)).toBe('CBA' + 'AB');
    // B := 6: di = gcd(2, 6, 4) = 2, mw = 6 - 1 = 5, cw = floor(3/2)*2 + 1 = 3.
    b.d.editDest(tcp80, { address: addrOf('B'), weight: 6 });
    expect(seq(b.d, 11)).toBe('BA' + 'CBA' + 'B' + 'BA' + 'CBA');

    const c = await wrr({ A: 4, B: 3, C: 2 });
    expect(seq(c.d, 7)).toBe('CBA' + 'ABAC'); // cursor on C, cw = 2
    // B := 2: di = 2, mw = 3, cw = floor(2/2)*2 + 1 = 3 (not 2): passes cw = 3, 1.
    c.d.editDest(tcp80, { address: addrOf('B'), weight: 2 });
    expect(seq(c.d, 8)).toBe('A' + 'CBA' + 'A' + 'CBA');
  });

  it('adding and deleting a dest reset the state too', async () => {
    const { d } = await wrr({ A: 4, B: 3, C: 2 });
    expect(seq(d, 7)).toBe('CBA' + 'ABAC'); // cursor on C, cw = 2
    d.addDest(tcp80, { address: addrOf('D'), weight: 1 }); // list D C B A, cursor head, cw 2
    expect(seq(d, 7)).toBe('CBA' + 'DCBA'); // cursor on A, cw = 1
    d.deleteDest(tcp80, { address: addrOf('D') }); // list C B A, cursor head, cw 1
    expect(seq(d, 9)).toBe('CBA' + 'A' + 'BA' + 'CBA');
  });

  it('weight 0 dests are never picked; all weight 0 fails', async () => {
    // A=0: mw 0, cw 0; B=2: di 2, mw 1, cw := 1; C=1: di 1, mw 2, cw 1.
    const { d } = await wrr({ A: 0, B: 2, C: 1 });
    expect(seq(d, 2)).toBe('CB');
    expect(seq(d, 6)).toBe('B' + 'CB' + 'B' + 'CB');
    const z = await wrr({ A: 0, B: 0 });
    expect(seq(z.d, 2)).toBe('--');
  });

  it('skips OVERLOADed dests', async () => {
    const { d, ids } = await wrr({ A: 4, B: 3, C: 2 }, { A: { u: 1 } });
    d.setDestConns(ids.A, 0, 1); // A overloaded
    expect(seq(d, 2)).toBe('CB');
    expect(seq(d, 6)).toBe('B' + 'CB' + 'CB' + 'B');
  });

  it('all overloaded after a restart: fails at the starting dest and keeps cursor and cw there', async () => {
    const { d, ids } = await wrr({ A: 4, B: 3, C: 2 }, { A: { u: 1 }, B: { u: 1 }, C: { u: 1 } });
    expect(seq(d, 10)).toBe('CBA' + 'ABACBAC'); // cursor on C, cw = 1
    for (const k of ['A', 'B', 'C']) d.setDestConns(ids[k], 0, 1);
    expect(seq(d, 2)).toBe('--');
    for (const k of ['A', 'B', 'C']) d.setDestConns(ids[k], 0, 0);
    // Resumes after C at cw = 1.
    expect(seq(d, 11)).toBe('BA' + 'ABACBACBA');
  });

  it('all overloaded within the last pass: fails with the cursor at the head and cw = mw', async () => {
    const { d, ids } = await wrr({ A: 4, B: 3, C: 2 }, { A: { u: 1 }, B: { u: 1 }, C: { u: 1 } });
    expect(seq(d, 5)).toBe('CBA' + 'AB'); // cursor on B, cw = 3
    for (const k of ['A', 'B', 'C']) d.setDestConns(ids[k], 0, 1);
    expect(seq(d, 1)).toBe('-');
    for (const k of ['A', 'B', 'C']) d.setDestConns(ids[k], 0, 0);
    expect(seq(d, 9)).toBe('ABACBACBA');
  });

  it('-E with the same scheduler keeps the state (IPVS binds nothing anew)', async () => {
    const { d } = await wrr({ A: 4, B: 3, C: 2 });
    expect(seq(d, 5)).toBe('CBA' + 'AB'); // cursor on B, cw = 3
    d.editService(tcp80, { scheduler: 'wrr' });
    expect(seq(d, 4)).toBe('A' + 'CBA');
    d.editService(tcp80, { scheduler: 'rr' });
    d.editService(tcp80, { scheduler: 'wrr' }); // a new binding: head, cw = mw = 4
    expect(seq(d, 4)).toBe('A' + 'BA' + 'C');
  });

  it('no dests: no destination available', async () => {
    const d = await director();
    d.addService(tcp80, { scheduler: 'wrr' });
    expect(seq(d, 2)).toBe('--');
  });

  it('property: any sum(w)/gcd consecutive picks give each dest exactly w/gcd', async () => {
    const d = await director();
    const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
    let vport = 1000;
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 7 }), (weights) => {
        // A fresh service per run (ports 1000..): the dests are added one by one, so
        // the first pick is mid-cycle; any window of one period still has exact counts.
        const svc = { protocol: 'tcp' as const, address: VIP, port: ++vport };
        d.addService(svc, { scheduler: 'wrr' });
        weights.forEach((w, i) => d.addDest(svc, { address: `198.18.1.${i + 1}`, weight: w }));
        const g = weights.reduce(gcd);
        const cycle = weights.reduce((s, w) => s + w, 0) / g;
        for (let round = 0; round < 2; round++) {
          const counts = new Map<string, number>();
          for (const a of pickAddrs(d, cycle, svc.port)) counts.set(a, (counts.get(a) ?? 0) + 1);
          weights.forEach((w, i) => expect(counts.get(`198.18.1.${i + 1}`)).toBe(w / g));
        }
      }),
      { numRuns: 200, seed: 4242 },
    );
  });
});
