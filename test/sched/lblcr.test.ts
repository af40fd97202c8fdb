import { describe, it, expect } from 'vitest';
import { Director } from '../../sdk/index.js';
import type { ServiceKey } from '../../sdk/index.js';
import { coreOf } from '../../sdk/core/index.js';

/** Bare scheduler picks: no connection entries, so only setDestConns moves the counters. */
const director = () => Director.create({ seed: 1, flavor: 'debug', connections: false });

// Cache key = the flow's virtual address, so a fwmark service (mark 1) lets
// each test choose it freely.
const fwm: ServiceKey = { fwmark: 1 };
const addrOf = (letter: string) => `198.18.1.${letter.charCodeAt(0) - 64}`;
const letterOf = (addr: string) => String.fromCharCode(64 + Number(addr.split('.')[3]));
const X = '198.18.0.10';
const DAY = 86400;

let cport = 10000;
function pick(d: Director, vip: string, now = 0): string {
  if (cport > 65000) cport = 10000;
  const r = d.schedule({ protocol: 'tcp', client: { address: '198.18.9.9', port: cport++ }, virtual: { address: vip, port: 80 }, fwmark: 1, now });
  return r === null ? '-' : letterOf(r.dest.address);
}

async function setup(letters: string[]) {
  const d = await director();
  d.addService(fwm, { scheduler: 'lblcr' });
  const ids: Record<string, number> = {};
  for (const k of letters) ids[k] = d.addDest(fwm, { address: addrOf(k), weight: 1 });
  const load = (l: Record<string, [number, number]>) => {
    for (const [k, [a, i]] of Object.entries(l)) d.setDestConns(ids[k], a, i);
  };
  return { d, ids, load };
}

/** X's set grown to {A, B, C} (newest first) at time `now`. */
async function grownSet(now: number) {
  const s = await setup(['A', 'B', 'C']); // list C B A
  expect(pick(s.d, X, now)).toBe('C'); // set {C}
  s.load({ C: [2, 0] }); // C lblc-overloaded (B, A idle): wlc adds B
  expect(pick(s.d, X, now)).toBe('B'); // set {B, C}
  s.load({ B: [2, 0] }); // least member B (tie with C keeps B) is lblc-overloaded: wlc adds A
  expect(pick(s.d, X, now)).toBe('A'); // set {A, B, C}, lastmod = now
  return s;
}

describe('lblcr', () => {
  it('the set grows when its least-loaded member is lblc-overloaded, and picks its least-loaded member', async () => {
    const { d, load } = await grownSet(0);
    // Overheads A 256, B 0, C 256: B is the set's least loaded; plain lblc would keep A.
    load({ A: [1, 0], B: [0, 0], C: [1, 0] });
    expect(pick(d, X)).toBe('B');
    load({ A: [1, 5], B: [1, 3], C: [1, 1] }); // 261, 259, 257
    expect(pick(d, X)).toBe('C');
  });

  it('a member is reused while lblc-overloaded if no dest is clearly better', async () => {
    const { d, load } = await setup(['A', 'B', 'C']);
    expect(pick(d, X)).toBe('C');
    load({ A: [1, 0], B: [1, 0], C: [2, 0] }); // nobody has active*2 < weight
    expect(pick(d, X)).toBe('C');
  });

  it('members no longer in the service are skipped', async () => {
    const s = await setup(['A', 'B', 'C']);
    expect(pick(s.d, X)).toBe('C');
    s.load({ C: [2, 0] });
    expect(pick(s.d, X)).toBe('B'); // set {B, C}
    s.load({ C: [0, 0] });
    expect(pick(s.d, X)).toBe('B'); // tie: the newest member first
    s.d.deleteDest(fwm, { address: addrOf('B') });
    expect(pick(s.d, X)).toBe('C');
  });

  it('a member no longer in the service never wins, even when less loaded', async () => {
    const s = await setup(['A', 'B', 'C']);
    expect(pick(s.d, X)).toBe('C');
    s.load({ C: [2, 0] });
    expect(pick(s.d, X)).toBe('B'); // set {B, C}
    s.load({ B: [0, 5], C: [0, 0] });
    expect(pick(s.d, X)).toBe('C');
    s.d.deleteDest(fwm, { address: addrOf('C') });
    expect(pick(s.d, X)).toBe('B');
  });

  it('after lblcr_expiration without change, the weighted-most-loaded member leaves the set', async () => {
    const t0 = 100;
    const { d, load } = await grownSet(t0); // set {A, B, C}, lastmod = t0
    // Probe loads: set min is B if B is a member, else C; nobody lblc-overloaded.
    const probe = { A: [1, 10], B: [1, 0], C: [1, 5] } as Record<string, [number, number]>;
    load(probe);
    expect(pick(d, X, t0 + DAY)).toBe('B'); // not strictly after lastmod + 24 h: no trim
    // Most loaded: B and C tie at 768 (A 0), the first in set order (B) goes;
    // the pick itself is A, chosen before the trim.
    load({ A: [0, 0], B: [3, 0], C: [3, 0] });
    expect(pick(d, X, t0 + DAY + 1)).toBe('A');
    load(probe);
    expect(pick(d, X, t0 + DAY + 2)).toBe('C'); // B is gone
    // lastmod moved to t0 + DAY + 1: the next trim needs another full day.
    const trimC = { A: [0, 0], B: [0, 0], C: [3, 0] } as Record<string, [number, number]>;
    load(trimC);
    expect(pick(d, X, t0 + 2 * DAY + 1)).toBe('A');
    load(probe);
    expect(pick(d, X, t0 + 2 * DAY + 1)).toBe('C'); // C still a member
    load(trimC);
    expect(pick(d, X, t0 + 2 * DAY + 2)).toBe('A'); // C (most loaded) leaves: set {A}
    load(probe);
    expect(pick(d, X, t0 + 2 * DAY + 3)).toBe('A');
    expect(pick(d, X, t0 + 9 * DAY)).toBe('A'); // a one-member set is never trimmed
  });

  it('memory stays flat while sets grow and shrink', async () => {
    const { d, load } = await setup(['A', 'B', 'C']);
    const flows = (now: number) =>
      Array.from({ length: 1000 }, (_, i) => ({
        protocol: 'tcp' as const, client: { address: '198.18.9.9', port: 1024 + i }, virtual: { address: `198.19.${i >> 8}.${i & 255}`, port: 80 }, fwmark: 1, now,
      }));
    const round = (now: number) => {
      load({ A: [0, 0], B: [0, 0], C: [0, 0] });
      d.scheduleBatch(flows(now)); // sets {C}
      load({ C: [2, 0] });
      d.scheduleBatch(flows(now)); // {B, C}
      load({ B: [2, 0] });
      d.scheduleBatch(flows(now)); // {A, B, C}
      load({ A: [0, 0], B: [3, 0], C: [1, 0] });
      d.scheduleBatch(flows(now + DAY + 1)); // each set loses B
      d.advance(now + DAY + 2);
    };
    round(0);
    const bytes = coreOf(d).x.memory.buffer.byteLength;
    for (let t = 1; t <= 10; t++) round(t * 2 * DAY);
    expect(coreOf(d).x.memory.buffer.byteLength).toBe(bytes);
  });

  it('entries expire after 24 h idle (schedTick), then a new one-member set is made', async () => {
    const mk = async () => {
      const s = await setup(['A', 'B', 'C']);
      expect(pick(s.d, X, 0)).toBe('C');
      s.load({ C: [2, 0] });
      expect(pick(s.d, X, 0)).toBe('B'); // set {B, C}
      s.load({ C: [0, 0] });
      return s.d; // X -> B (set min, newest first) while the entry lives; wlc would give C
    };
    const kept = await mk();
    coreOf(kept).x.schedTick(DAY - 60);
    expect(pick(kept, X, DAY - 60)).toBe('B');
    const gone = await mk();
    coreOf(gone).x.schedTick(DAY);
    expect(pick(gone, X, DAY)).toBe('C');
  });
});
