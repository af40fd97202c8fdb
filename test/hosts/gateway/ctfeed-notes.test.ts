// The conntrack feed's table of queued-packet notes (ctfeed.ts NoteTable)
// against a Map of the same notes: adds, takes, expiry and growth in random
// order, with few slots so probe chains wrap and deletions shift notes back.
import { describe, expect, it } from 'vitest';
import { NoteTable } from '../../../hosts/gateway/ctfeed.js';

/** A small deterministic generator (xorshift32). */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x % n;
  };
}

describe('NoteTable', () => {
  it('holds what a Map of the same notes holds, through adds, takes, expiry and growth', () => {
    const r = rng(7);
    const t = new NoteTable(1 << 20, 8);
    const model = new Map<string, { pkts: number; bytes: number; tick: number }>();
    // Few distinct flows, so the same tuple comes back often (a client port used again).
    const flow = () => [r(2) ? 6 : 17, 0xc6122800 + r(4), 10000 + r(40), 0xc6122900 + r(3), 8080 + r(2)] as const;
    let tick = 0;
    for (let step = 0; step < 20000; step++) {
      const [p, ca, cp, ra, rp] = flow();
      const key = `${p} ${ca} ${cp} ${ra} ${rp}`;
      const what = r(10);
      if (what < 5) {
        const len = 40 + r(1400);
        expect(t.add(p, ca, cp, ra, rp, len, tick)).toBe(true);
        const m = model.get(key) ?? { pkts: 0, bytes: 0, tick };
        m.pkts++;
        m.bytes += len;
        model.set(key, m);
      } else if (what < 9) {
        const m = model.get(key);
        expect(t.take(p, ca, cp, ra, rp)).toBe(m !== undefined);
        if (m) {
          expect([t.takenPkts, t.takenBytes]).toEqual([m.pkts, m.bytes]);
          model.delete(key);
        }
      } else if (r(50) === 0) {
        tick++;
        if (tick % 5 === 0) {
          t.expire(tick - 3);
          for (const [k, m] of model) if (m.tick < tick - 3) model.delete(k);
        }
      }
      expect(t.size).toBe(model.size);
    }
    // Whatever is left is found whole, then the table is empty.
    for (const [k, m] of model) {
      const [p, ca, cp, ra, rp] = k.split(' ').map(Number);
      expect(t.take(p, ca, cp, ra, rp)).toBe(true);
      expect([t.takenPkts, t.takenBytes]).toEqual([m.pkts, m.bytes]);
    }
    expect(t.size).toBe(0);
  });

  it('keeps no more notes than its bound (further flows are not noted), and clear() empties it', () => {
    const t = new NoteTable(3, 4);
    for (let i = 0; i < 3; i++) expect(t.add(6, 1, 1000 + i, 2, 80, 60, 0)).toBe(true);
    expect(t.add(6, 1, 2000, 2, 80, 60, 0)).toBe(false);
    expect(t.add(6, 1, 1000, 2, 80, 52, 0)).toBe(true); // a known flow still counts
    expect(t.take(6, 1, 1000, 2, 80)).toBe(true);
    expect([t.takenPkts, t.takenBytes]).toEqual([2, 112]);
    t.clear();
    expect(t.size).toBe(0);
    expect(t.take(6, 1, 1001, 2, 80)).toBe(false);
  });
});
