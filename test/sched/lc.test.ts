// lc golden sequences (reference §1.0, §1.3), derived by hand. Dests are named
// by their last octet; adding 1, 2, 3 makes the list 3, 2, 1 (newest first).
import { describe, it, expect } from 'vitest';
import { bed, addr } from './load.helpers.js';
import { tcp80 } from '../helpers.js';

describe('lc', () => {
  it('least overhead (active×256 + inactive), ties to the earliest in list order', async () => {
    const b = await bed('lc', [{ n: 1 }, { n: 2 }, { n: 3 }]);
    const seq = [b.pick()]; // all idle -> head
    b.load(3, 1, 0); seq.push(b.pick()); // 3:256 2:0 1:0
    b.load(2, 0, 1); seq.push(b.pick()); // 3:256 2:1 1:0
    b.load(1, 0, 300); seq.push(b.pick()); // 3:256 2:1 1:300
    b.load(2, 1, 0); seq.push(b.pick()); // 3:256 2:256 1:300 -> tie, 3 first
    b.load(3, 1, 1); seq.push(b.pick()); // 3:257 2:256
    expect(seq).toEqual(['3', '2', '1', '2', '3', '2']);
  });

  it('ignores weight except that weight 0 is never picked', async () => {
    const b = await bed('lc', [{ n: 1 }, { n: 2, weight: 100 }, { n: 3, weight: 5 }]);
    b.load(3, 0, 5); b.load(2, 0, 3); b.load(1, 0, 4);
    expect(b.pick()).toBe('2');
    b.d.editDest(tcp80, { address: addr(2), weight: 0 });
    expect(b.pick()).toBe('1');
    b.d.addDest(tcp80, { address: addr(4), weight: 0 }); // idle head, weight 0
    expect(b.picks(3)).toEqual(['1', '1', '1']);
    b.d.editDest(tcp80, { address: addr(2), weight: 1 });
    expect(b.pick()).toBe('2');
  });

  it('compares overheads unsigned (2^23 active conns is a large overhead, not a negative one)', async () => {
    const b = await bed('lc', [{ n: 1 }, { n: 2 }]);
    b.load(2, 2 ** 23, 0); // overhead 2^31
    b.load(1, 0, 5);
    expect(b.pick()).toBe('1');
  });

  it('skips OVERLOADed dests; upper/lower thresholds set and clear the flag', async () => {
    const b = await bed('lc', [{ n: 1, uThreshold: 2 }, { n: 2 }, { n: 3, uThreshold: 3, lThreshold: 1 }]);
    b.load(3, 0, 3); // 3 >= u 3 -> OVERLOAD
    b.load(2, 0, 5); b.load(1, 0, 1);
    expect(b.pick()).toBe('1');
    b.load(1, 1, 1); // 2 >= u 2 -> OVERLOAD; 3 too -> only 2
    expect(b.pick()).toBe('2');
    b.load(3, 0, 2); // 2 < l 1? no: stays OVERLOADed
    expect(b.pick()).toBe('2');
    b.load(3, 0, 0); // 0 < l 1: cleared
    expect(b.pick()).toBe('3');
    b.load(1, 0, 1); // no l: 1*4 < 2*3 clears
    b.load(3, 0, 5); // OVERLOAD again
    expect(b.pick()).toBe('1');
  });

  it('-e clears OVERLOAD only when the new u_threshold is 0 or above the old one', async () => {
    const b = await bed('lc', [{ n: 1, uThreshold: 2 }, { n: 2 }]);
    b.load(1, 0, 2); // OVERLOAD
    b.load(2, 0, 9);
    expect(b.pick()).toBe('2');
    b.d.editDest(tcp80, { address: addr(1), uThreshold: 2 });
    expect(b.pick()).toBe('2');
    b.d.editDest(tcp80, { address: addr(1), uThreshold: 1 });
    expect(b.pick()).toBe('2');
    b.d.editDest(tcp80, { address: addr(1), uThreshold: 3 });
    expect(b.pick()).toBe('1');
    b.load(1, 0, 3); // 3 >= 3
    expect(b.pick()).toBe('2');
    b.d.editDest(tcp80, { address: addr(1), uThreshold: 0 });
    expect(b.pick()).toBe('1');
  });

  it('none available -> null and CNT_NO_DEST counts each failure', async () => {
    const b = await bed('lc', []);
    expect(b.pick()).toBe('-');
    expect(b.noDest()).toBe(1);
    b.add({ n: 1, weight: 0 });
    b.add({ n: 2, uThreshold: 1 });
    b.load(2, 0, 1);
    expect(b.picks(2)).toEqual(['-', '-']);
    expect(b.noDest()).toBe(3);
    b.load(2, 0, 0);
    expect(b.pick()).toBe('2');
    expect(b.noDest()).toBe(3);
  });

  it('a deleted and re-added dest goes back to the head', async () => {
    const b = await bed('lc', [{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(b.pick()).toBe('3');
    b.d.deleteDest(tcp80, { address: addr(3) });
    expect(b.pick()).toBe('2');
    b.d.addDest(tcp80, { address: addr(3) });
    expect(b.pick()).toBe('3');
    b.d.deleteDest(tcp80, { address: addr(2) });
    const id2 = b.d.addDest(tcp80, { address: addr(2) }); // list 2, 3, 1
    expect(b.pick()).toBe('2');
    b.d.setDestConns(id2, 1, 0);
    expect(b.pick()).toBe('3');
  });

  it('keeps working across -E scheduler changes (state rebuilt from the list)', async () => {
    const b = await bed('rr', [{ n: 1 }, { n: 2 }, { n: 3 }]);
    b.load(3, 0, 2); b.load(2, 0, 1); b.load(1, 0, 3);
    b.d.editService(tcp80, { scheduler: 'lc' });
    expect(b.pick()).toBe('2');
    b.d.editService(tcp80, { scheduler: 'wlc' });
    b.d.editService(tcp80, { scheduler: 'lc' });
    b.load(1, 0, 0);
    expect(b.pick()).toBe('1');
    b.d.editService(tcp80, { scheduler: 'lc' }); // same scheduler: re-init
    expect(b.pick()).toBe('1');
  });

  it('with connection tracking each pick binds a connection (active after its SYN, §2.8), so idle dests rotate', async () => {
    const b = await bed('lc', [{ n: 1 }, { n: 2 }, { n: 3 }], 1, true);
    expect(b.picks(7)).toEqual(['3', '2', '1', '3', '2', '1', '3']);
    expect(b.d.dests(tcp80).map((x) => [x.activeconns, x.inactconns])).toEqual([[3, 0], [2, 0], [2, 0]]);
  });
});
