// nq golden sequences (reference §1.6): the first idle dest (activeconns 0)
// in list order wins at once; otherwise the sed rule.
import { describe, it, expect } from 'vitest';
import { bed, addr } from './load.helpers.js';
import { tcp80 } from '../helpers.js';

describe('nq', () => {
  it('first idle in list order, then shortest expected delay', async () => {
    const b = await bed('nq', [{ n: 1, weight: 1 }, { n: 2, weight: 5 }, { n: 3, weight: 1 }]);
    const seq = [b.pick()]; // all idle: the head, whatever the weights
    b.load(3, 1); seq.push(b.pick()); // idle: 2, 1
    b.load(2, 1); seq.push(b.pick()); // idle: 1
    b.load(1, 1); seq.push(b.pick()); // sed: 3:2 2:0.4 1:2
    b.load(2, 4); seq.push(b.pick()); // 2:1
    b.load(2, 5); seq.push(b.pick()); // 2:1.2
    b.load(2, 9); seq.push(b.pick()); // 2:2 ties 3:2 -> 3 first
    b.load(1, 0, 50); seq.push(b.pick()); // 1 idle again (inactive does not matter)
    expect(seq).toEqual(['3', '2', '1', '2', '2', '2', '3', '1']);
  });

  it('an idle dest with weight 0 or OVERLOAD is not taken', async () => {
    const b = await bed('nq', [{ n: 1, weight: 2 }, { n: 2, uThreshold: 3 }]);
    b.add({ n: 3, weight: 0 }); // idle head with weight 0
    b.load(1, 1);
    b.load(2, 0, 3); // idle but OVERLOADed
    expect(b.pick()).toBe('1');
    b.load(1, 0, 0);
    b.d.editDest(tcp80, { address: addr(1), weight: 0 });
    expect(b.pick()).toBe('-');
    expect(b.noDest()).toBe(1);
    b.load(2, 0, 2); // 2*4 < 3*3: cleared
    expect(b.pick()).toBe('2');
  });
});
