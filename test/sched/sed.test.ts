// sed golden sequences (reference §1.5): (active + 1) / weight, inactive
// ignored, strict cross-multiplied comparison, ties to the earliest in list.
import { describe, it, expect } from 'vitest';
import { bed, addr } from './load.helpers.js';
import { tcp80 } from '../helpers.js';

describe('sed', () => {
  it('shortest expected delay with list-order tie-breaks; inactive conns do not count', async () => {
    const b = await bed('sed', [{ n: 1, weight: 1 }, { n: 2, weight: 2 }, { n: 3, weight: 3 }]);
    const seq = [b.pick()]; // 3:1/3 2:1/2 1:1
    b.load(3, 1); seq.push(b.pick()); // 3:2/3 2:1/2
    b.load(2, 1); seq.push(b.pick()); // 3:2/3 2:1 1:1
    b.load(3, 2); seq.push(b.pick()); // all 1 -> 3
    b.load(3, 3); seq.push(b.pick()); // 3:4/3 2:1 1:1 -> 2
    b.load(2, 2); seq.push(b.pick()); // 2:3/2 1:1
    b.load(1, 0, 1000); seq.push(b.pick()); // inactive ignored
    expect(seq).toEqual(['3', '2', '3', '3', '2', '1', '1']);
  });

  it('never picks weight 0 or OVERLOADed dests; none -> null and CNT_NO_DEST', async () => {
    const b = await bed('sed', [{ n: 1, uThreshold: 1 }, { n: 2, weight: 0 }, { n: 3, weight: 9 }]);
    b.load(3, 20, 0);
    b.load(1, 0, 1); // OVERLOAD (inactive counts for thresholds)
    expect(b.pick()).toBe('3');
    b.d.editDest(tcp80, { address: addr(3), weight: 0 });
    expect(b.picks(2)).toEqual(['-', '-']);
    expect(b.noDest()).toBe(2);
    b.load(1, 0, 0);
    expect(b.pick()).toBe('1');
  });
});
