// fo golden sequences (reference §1.7): the highest weight (> 0) among
// non-OVERLOADed dests, the earliest in list order on equal weights.
import { describe, it, expect } from 'vitest';
import { bed, addr } from './load.helpers.js';
import { tcp80 } from '../helpers.js';

describe('fo', () => {
  it('highest weight wins whatever the load; equal weights go to the earliest in list', async () => {
    const b = await bed('fo', [{ n: 1, weight: 5 }, { n: 2, weight: 10 }, { n: 3, weight: 10, uThreshold: 2 }]);
    expect(b.pick()).toBe('3'); // list 3, 2, 1: 3 and 2 tie
    b.load(3, 1, 0);
    expect(b.pick()).toBe('3');
    b.load(3, 1, 1); // OVERLOAD
    expect(b.pick()).toBe('2');
    b.d.editDest(tcp80, { address: addr(2), weight: 0 });
    expect(b.pick()).toBe('1');
    b.load(3, 0, 0); // 0*4 < 2*3: cleared
    expect(b.pick()).toBe('3');
    b.d.editDest(tcp80, { address: addr(1), weight: 11 });
    expect(b.pick()).toBe('1');
  });

  it('weight 0 and OVERLOAD leave nothing -> null and CNT_NO_DEST', async () => {
    const b = await bed('fo', [{ n: 1, weight: 0 }, { n: 2, uThreshold: 1 }]);
    b.load(2, 0, 1);
    expect(b.picks(2)).toEqual(['-', '-']);
    expect(b.noDest()).toBe(2);
  });
});
