// wlc golden sequences (reference §1.0, §1.4), derived by hand. Adding 1, 2, 3
// makes the list 3, 2, 1. Comments give overhead/weight per dest.
import { describe, it, expect } from 'vitest';
import { bed, addr } from './load.helpers.js';
import { tcp80 } from '../helpers.js';

describe('wlc', () => {
  it('least overhead/weight; idle -> the newest dest; ties to the earliest in list order', async () => {
    const b = await bed('wlc', [{ n: 1, weight: 1 }, { n: 2, weight: 2 }, { n: 3, weight: 3 }]);
    const seq = [b.pick()]; // all 0
    b.load(3, 1); seq.push(b.pick()); // 3:85.3 2:0 1:0
    b.load(2, 1); seq.push(b.pick()); // 3:85.3 2:128 1:0
    b.load(1, 1); seq.push(b.pick()); // 3:85.3 2:128 1:256
    b.load(3, 2); seq.push(b.pick()); // 3:170.7 2:128 1:256
    b.load(2, 2); seq.push(b.pick()); // 3:170.7 2:256 1:256
    b.load(3, 3); seq.push(b.pick()); // all 256 -> 3 (head)
    b.load(1, 1, 1); seq.push(b.pick()); // 1:257
    b.load(3, 3, 1); seq.push(b.pick()); // 3:256.3 2:256
    expect(seq).toEqual(['3', '2', '1', '3', '2', '3', '3', '3', '2']);
  });

  it('compares by cross-multiplication: an exact tie keeps the earlier dest', async () => {
    const b = await bed('wlc', [{ n: 1, weight: 2 }, { n: 2, weight: 1 }]); // list 2, 1
    b.load(1, 1, 0); // 256/2 = 128
    b.load(2, 0, 128); // 128/1 = 128
    expect(b.pick()).toBe('2');
    b.load(2, 0, 129);
    expect(b.pick()).toBe('1');
    b.load(1, 1, 3); // 259/2 = 129.5 > 129
    expect(b.pick()).toBe('2');
  });

  it('never picks weight 0, not even an idle dest at the head', async () => {
    const b = await bed('wlc', [{ n: 1, weight: 1 }, { n: 2, weight: 0 }]); // list 2, 1
    b.load(1, 5, 0);
    expect(b.picks(3)).toEqual(['1', '1', '1']);
    b.d.editDest(tcp80, { address: addr(1), weight: 0 });
    expect(b.pick()).toBe('-');
    b.d.editDest(tcp80, { address: addr(2), weight: 4 });
    expect(b.pick()).toBe('2');
  });

  it('skips OVERLOADed dests and counts CNT_NO_DEST when none is left', async () => {
    const b = await bed('wlc', [{ n: 1, uThreshold: 4, lThreshold: 2 }, { n: 2, weight: 3, uThreshold: 2 }]);
    b.load(2, 1, 1); // 2 >= 2: OVERLOAD (though 256+1/3 beats 1's load below)
    b.load(1, 3, 0);
    expect(b.pick()).toBe('1');
    b.load(1, 3, 1); // 4 >= 4: OVERLOAD
    expect(b.pick()).toBe('-');
    expect(b.noDest()).toBe(1);
    b.load(1, 2, 0); // 2 < l 2? no: stays
    expect(b.pick()).toBe('-');
    b.load(2, 1, 0); // 1*4 < 2*3: cleared
    expect(b.pick()).toBe('2');
    b.load(1, 1, 0); // 1 < 2: cleared; 256/1 vs 2's 256/3
    expect(b.pick()).toBe('2');
    expect(b.noDest()).toBe(2);
  });

  it('follows a dest set of 7 through deletes, re-adds and weight edits', async () => {
    const defs = [1, 2, 3, 4, 5, 6, 7].map((n) => ({ n, weight: n }));
    const b = await bed('wlc', defs); // list 7..1
    for (const n of [7, 6, 5, 4, 3, 2, 1]) b.load(n, n, 0); // all 256
    expect(b.pick()).toBe('7');
    b.d.deleteDest(tcp80, { address: addr(7) });
    b.d.deleteDest(tcp80, { address: addr(6) });
    expect(b.pick()).toBe('5');
    b.d.editDest(tcp80, { address: addr(3), weight: 4 }); // 3: 768/4 = 192
    expect(b.pick()).toBe('3');
    b.add({ n: 7, weight: 1 }); // revived from the trash at the head, still 7 active: 1792
    expect(b.pick()).toBe('3');
    b.load(7, 0, 0);
    expect(b.pick()).toBe('7');
    b.load(7, 1, 0); // 256 vs 3's 192
    expect(b.pick()).toBe('3');
  });

  it('with connection tracking each pick binds a connection (active after its SYN)', async () => {
    const b = await bed('wlc', [{ n: 1, weight: 1 }, { n: 2, weight: 2 }, { n: 3, weight: 3 }], 1, true);
    // active/weight after each pick; ties go to the head (3)
    expect(b.picks(9)).toEqual(['3', '2', '1', '3', '2', '3', '3', '2', '1']);
    expect(b.d.dests(tcp80).map((x) => [x.activeconns, x.inactconns])).toEqual([[4, 0], [3, 0], [2, 0]]);
  });
});
