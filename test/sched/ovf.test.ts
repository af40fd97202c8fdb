// ovf golden sequences (reference §1.8): skip OVERLOAD, weight 0 and
// activeconns > weight; of the rest the highest weight, earliest on ties.
import { describe, it, expect } from 'vitest';
import { bed, addr } from './load.helpers.js';
import { tcp80 } from '../helpers.js';

describe('ovf', () => {
  it('fills the heaviest dest up to its weight in active conns, then overflows', async () => {
    const b = await bed('ovf', [{ n: 1, weight: 3 }, { n: 2, weight: 2 }, { n: 3, weight: 3 }]);
    const seq = [b.pick()]; // list 3, 2, 1: 3 and 1 tie at weight 3
    b.load(3, 3); seq.push(b.pick()); // 3 <= 3 still eligible
    b.load(3, 4); seq.push(b.pick()); // 4 > 3: skip -> 1
    b.load(1, 4); seq.push(b.pick()); // -> 2
    b.load(2, 3); seq.push(b.pick()); // none
    b.load(2, 2, 100); seq.push(b.pick()); // inactive conns do not count
    expect(seq).toEqual(['3', '3', '1', '2', '-', '2']);
    expect(b.noDest()).toBe(1);
  });

  it('skips weight 0 and OVERLOADed dests', async () => {
    const b = await bed('ovf', [{ n: 1, weight: 1 }, { n: 2, weight: 0 }, { n: 3, weight: 7, uThreshold: 5 }]);
    expect(b.pick()).toBe('3');
    b.load(3, 2, 3); // 5 >= 5: OVERLOAD, though 2 <= 7
    expect(b.pick()).toBe('1');
    b.d.editDest(tcp80, { address: addr(1), weight: 0 });
    expect(b.pick()).toBe('-');
    b.d.editDest(tcp80, { address: addr(3), weight: 7, uThreshold: 0 }); // -e with u 0 clears
    expect(b.pick()).toBe('3');
  });
});
