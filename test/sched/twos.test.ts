// twos (reference §1.9): two weighted random draws from the seeded PRNG; the
// first eligible dest gets (W1+1)/(sum+1) of the draws; choice 2 wins only
// when it is strictly less loaded per weight. Seeds are fixed, so the
// statistical checks below are deterministic; their bounds are generous.
import { describe, it, expect } from 'vitest';
import { bed, addr } from './load.helpers.js';
import { tcp80 } from '../helpers.js';

function counts(seq: string[]): Record<string, number> {
  const c: Record<string, number> = {};
  for (const s of seq) c[s] = (c[s] ?? 0) + 1;
  return c;
}

const three = [{ n: 1, weight: 1 }, { n: 2, weight: 2 }, { n: 3, weight: 3 }];

describe('twos', () => {
  it('same seed -> same picks in two fresh directors; another seed -> different picks', async () => {
    const a = await bed('twos', three, 42);
    const b = await bed('twos', three, 42);
    const c = await bed('twos', three, 43);
    for (const x of [a, b, c]) { x.load(3, 1, 0); x.load(2, 0, 7); }
    const sa = a.picks(500);
    expect(b.picks(500)).toEqual(sa);
    expect(c.picks(500)).not.toEqual(sa);
  });

  it('idle dests: choice 1 is (W+1)/(sum+1) for the first eligible, W/(sum+1) for the rest', async () => {
    const b = await bed('twos', three, 7); // list 3, 2, 1; sum 6: 4/7, 2/7, 1/7
    const n = 14000;
    const c = counts(b.picks(n));
    expect(c['3'] / n).toBeGreaterThan(4 / 7 - 0.05);
    expect(c['3'] / n).toBeLessThan(4 / 7 + 0.05);
    expect(c['2'] / n).toBeGreaterThan(2 / 7 - 0.05);
    expect(c['2'] / n).toBeLessThan(2 / 7 + 0.05);
    expect(c['1'] / n).toBeGreaterThan(1 / 7 - 0.04);
    expect(c['1'] / n).toBeLessThan(1 / 7 + 0.04);
  });

  it('a loaded choice 1 loses to a less loaded choice 2', async () => {
    const b = await bed('twos', [{ n: 1 }, { n: 2 }], 9); // list 2, 1; draws hit 2 with p 2/3
    b.load(2, 10, 0);
    // 2 is picked only when both draws land on it: (2/3)^2 = 4/9.
    const n = 9000;
    const c = counts(b.picks(n));
    expect(c['2'] / n).toBeGreaterThan(4 / 9 - 0.05);
    expect(c['2'] / n).toBeLessThan(4 / 9 + 0.05);
  });

  it('never picks weight 0 or OVERLOADed dests; none -> null and CNT_NO_DEST', async () => {
    const b = await bed('twos', [{ n: 1, weight: 0 }, { n: 2, weight: 3, uThreshold: 2 }, { n: 3, weight: 1 }], 3);
    b.load(2, 0, 2);
    const c = counts(b.picks(300));
    expect(c).toEqual({ 3: 300 });
    b.d.editDest(tcp80, { address: addr(3), weight: 0 });
    expect(b.picks(2)).toEqual(['-', '-']);
    expect(b.noDest()).toBe(2);
  });
});
