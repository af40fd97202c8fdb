// Properties of the least-load schedulers: the indexed lc/wlc/sed/nq pick
// exactly what the literal IPVS scan picks (ipvs.model.ts) over random
// add/delete/edit/load/-E sequences, also when every pick counts its new
// connection in the core (connections: 'count') and connections end; and 10^7
// batched decisions leave the core's memory flat.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Director } from '../../sdk/index.js';
import { flowSpec } from '../../sdk/spec.js';
import { tcp80, flowFrom } from '../helpers.js';
import { addr, loadDirector } from './load.helpers.js';
import { scanPick, setConns, setThresholds, type MDest, type LeastSched } from './ipvs.model.js';
import { coreOf } from '../../sdk/core/index.js';

const SCHEDS: LeastSched[] = ['lc', 'wlc', 'sed', 'nq'];

type Op =
  | { t: 'add' | 'edit'; n: number; weight: number; u: number; l: number }
  | { t: 'del'; n: number }
  | { t: 'load'; n: number; active: number; inactive: number }
  | { t: 'end'; n: number; active: boolean }
  | { t: 'resched'; s: LeastSched | 'rr' };

const thresholds = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 20 }))
  .chain((u) => fc.record({ u: fc.constant(u), l: fc.integer({ min: 0, max: u }) }));
/** Mostly small counts, sometimes huge (u32 overhead wrap-around included). */
const count = fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 12 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 2 ** 24 + 4 }) });

/** Relative frequencies of add, edit, del, load, resched and (counting directors only) end. */
type Mix = [number, number, number, number, number] | [number, number, number, number, number, number];

function opArb(pool: number, [add, edit, del, load, resched, end = 0]: Mix = [3, 2, 1, 8, 1]): fc.Arbitrary<Op> {
  const n = fc.integer({ min: 1, max: pool });
  const spec = fc.record({ n, weight: fc.integer({ min: 0, max: 20 }), t: thresholds });
  return fc.oneof(
    { weight: add, arbitrary: spec.map(({ n, weight, t }) => ({ t: 'add' as const, n, weight, ...t })) },
    { weight: edit, arbitrary: spec.map(({ n, weight, t }) => ({ t: 'edit' as const, n, weight, ...t })) },
    { weight: del, arbitrary: n.map((n) => ({ t: 'del' as const, n })) },
    { weight: load, arbitrary: fc.record({ n, active: count, inactive: count }).map((r) => ({ t: 'load' as const, ...r })) },
    { weight: resched, arbitrary: fc.constantFrom<LeastSched | 'rr'>('lc', 'wlc', 'sed', 'nq', 'rr').map((s) => ({ t: 'resched' as const, s })) },
    ...(end > 0 ? [{ weight: end, arbitrary: fc.record({ n, active: fc.boolean() }).map((r) => ({ t: 'end' as const, ...r })) }] : []),
  );
}

/** Applies ops to the core and the model side by side. */
class Twin {
  list: MDest[] = [];
  ids = new Map<number, number>();
  trash = new Map<number, MDest>();
  /** count: the core counts each pick's connection (connections: 'count'), the model binds it too. */
  constructor(readonly d: Director, public sched: LeastSched | 'rr', readonly count = false) {}

  apply(op: Op): void {
    const i = 'n' in op ? this.list.findIndex((x) => x.n === op.n) : -1;
    const m = i >= 0 ? this.list[i] : undefined;
    if (op.t === 'add' && !m) {
      const id = this.d.addDest(tcp80, { address: addr(op.n), weight: op.weight, uThreshold: op.u, lThreshold: op.l });
      // A deleted dest waits in the trash (§2.2; the clock never moves here) and
      // comes back with its counters, flags and id.
      const old = this.trash.get(op.n);
      if (old) expect(id).toBe(this.ids.get(op.n));
      this.trash.delete(op.n);
      this.ids.set(op.n, id);
      const nd: MDest = old ?? { n: op.n, weight: 0, u: 0, l: 0, active: 0, inactive: 0, overloaded: false };
      nd.weight = op.weight;
      setThresholds(nd, op.u, op.l);
      this.list.unshift(nd);
    } else if (op.t === 'edit' && m) {
      this.d.editDest(tcp80, { address: addr(op.n), weight: op.weight, uThreshold: op.u, lThreshold: op.l });
      m.weight = op.weight;
      setThresholds(m, op.u, op.l);
    } else if (op.t === 'del' && m) {
      this.d.deleteDest(tcp80, { address: addr(op.n) });
      this.list.splice(i, 1);
      this.trash.set(op.n, m);
    } else if (op.t === 'load' && m) {
      this.d.setDestConns(this.ids.get(op.n)!, op.active, op.inactive);
      setConns(m, op.active, op.inactive);
    } else if (op.t === 'end' && m) {
      const had = op.active ? m.active : m.inactive;
      expect(this.d.endDestConn(this.ids.get(op.n)!, op.active)).toBe(had > 0);
      if (had > 0) setConns(m, m.active - (op.active ? 1 : 0), m.inactive - (op.active ? 0 : 1));
    } else if (op.t === 'resched') {
      this.d.editService(tcp80, { scheduler: op.s });
      this.sched = op.s;
    }
  }

  /** Core pick vs scan pick (skipped while the service runs rr). */
  check(port: number): void {
    if (this.sched === 'rr') return;
    const got = this.d.schedule(flowFrom('198.18.9.9', port))?.dest.address ?? null;
    const want = scanPick(this.sched, this.list);
    expect(got).toBe(want === null ? null : addr(want.n));
    // ip_vs_bind_dest: a new connection is counted inactive, then the OVERLOAD rule.
    if (this.count && want !== null) setConns(want, want.active, want.inactive + 1);
  }

  /** The core's list, flags and counters agree with the model's. */
  checkState(): void {
    const snap = this.d.dests(tcp80).map((x) => [x.address, x.weight, x.overloaded, x.activeconns, x.inactconns]);
    expect(snap).toEqual(this.list.map((x) => [addr(x.n), x.weight, x.overloaded, x.active, x.inactive]));
  }
}

async function runDifferential(sched: LeastSched, pool: number, prefill: number, ops: Op[], count = false): Promise<void> {
  const d = await loadDirector(5, count ? 'count' : false);
  d.addService(tcp80, { scheduler: sched });
  const t = new Twin(d, sched, count);
  for (let n = 1; n <= prefill; n++) t.apply({ t: 'add', n, weight: 1 + (n % 7), u: 0, l: 0 });
  let port = 1024;
  for (const op of ops) {
    t.apply(op);
    t.check(port++);
  }
  t.checkState();
}

describe('heap-backed least-load schedulers = the IPVS scan', () => {
  for (const sched of SCHEDS) {
    it(`${sched}: up to 7 dests, random add/delete/edit/load/-E sequences`, async () => {
      await fc.assert(fc.asyncProperty(fc.array(opArb(7), { maxLength: 80 }), (ops) => runDifferential(sched, 7, 0, ops)),
        { numRuns: 150, seed: 0x5eed + sched.length });
    });

    it(`${sched}: 100 dests, load churn`, async () => {
      await fc.assert(fc.asyncProperty(fc.array(opArb(100), { minLength: 50, maxLength: 300 }), (ops) => runDifferential(sched, 100, 100, ops)),
        { numRuns: 20, seed: 0xbeef + sched.length, endOnFailure: true }); // long runs: report, don't shrink
    });

    // Removals from the middle of a big heap (delete, weight 0, OVERLOAD) move
    // the last leaf into the hole; it may have to rise or sink.
    it(`${sched}: 40 dests, removal-heavy churn`, async () => {
      await fc.assert(fc.asyncProperty(fc.array(opArb(40, [4, 4, 3, 8, 0]), { minLength: 100, maxLength: 300 }), (ops) => runDifferential(sched, 40, 40, ops)),
        { numRuns: 25, seed: 0xcafe + sched.length, endOnFailure: true });
    });

    // lc and wlc keep services of up to 256 dests in flat mode (one key per dest,
    // a SIMD minimum): growing past it moves to the tree, and -E rebuilds.
    it(`${sched}: 300 dests, past the flat limit and back below it`, async () => {
      await fc.assert(fc.asyncProperty(fc.array(opArb(300, [1, 2, 4, 6, 1]), { minLength: 100, maxLength: 250 }), (ops) => runDifferential(sched, 300, 300, ops)),
        { numRuns: 4, seed: 0xf1a7 + sched.length, endOnFailure: true });
    });

    // Every check is a pick that counts its connection in the core; ends come back.
    it(`${sched}: counting picks, up to 7 dests, random sequences with connection ends`, async () => {
      await fc.assert(fc.asyncProperty(fc.array(opArb(7, [3, 2, 1, 2, 1, 6]), { maxLength: 80 }), (ops) => runDifferential(sched, 7, 0, ops, true)),
        { numRuns: 150, seed: 0xc0de + sched.length });
    });

    it(`${sched}: counting picks, 100 dests`, async () => {
      await fc.assert(fc.asyncProperty(fc.array(opArb(100, [1, 2, 1, 2, 0, 6]), { minLength: 100, maxLength: 400 }), (ops) => runDifferential(sched, 100, 100, ops, true)),
        { numRuns: 15, seed: 0xd00d + sched.length, endOnFailure: true });
    });

    // Long runs of picks and ends with no configuration change: lc and wlc in
    // flat mode keep the tie set and its next level exact across them (an end
    // on a least-loaded dest makes a new least key, the old tie set waits as
    // the next level); an occasional load setting moves keys either way.
    it(`${sched}: counting picks and connection ends only, 100 dests`, async () => {
      await fc.assert(fc.asyncProperty(fc.array(opArb(100, [0, 0, 0, 1, 0, 12]), { minLength: 400, maxLength: 1500 }), (ops) => runDifferential(sched, 100, 100, ops, true)),
        { numRuns: 10, seed: 0x71e5 + sched.length, endOnFailure: true });
    });

    // The bench's pick-for-pick workload (bench/core/loadwork.mjs): every pick
    // counts, every 8th one connection of dest (k*7) mod 100 ends.
    it(`${sched}: counting picks, 100 dests, an end every 8th pick (the bench workload)`, async () => {
      const d = await loadDirector(5, 'count');
      d.addService(tcp80, { scheduler: sched });
      const t = new Twin(d, sched, true);
      for (let n = 1; n <= 100; n++) t.apply({ t: 'add', n, weight: 1 + (n % 4), u: 0, l: 0 });
      for (let k = 0; k < 3000; k++) {
        t.check(1024 + k);
        if ((k & 7) === 0) t.apply({ t: 'end', n: 1 + ((k * 7) % 100), active: false });
      }
      t.checkState();
    });
  }
});

/** Fill the flow region once with `n` flows to tcp80 from distinct client ports. */
function fillFlows(d: Director, n: number): void {
  for (let i = 0; i < n; i++) coreOf(d).writeFlow(i, flowSpec(flowFrom(`198.18.${8 + (i >> 8)}.${i & 255}`, 20000 + i)));
}

describe('memory stays flat', () => {
  it('10^7 batched wlc decisions over 100 dests with load changes do not grow memory', async () => {
    const d = await loadDirector(11);
    d.addService(tcp80);
    const ids: number[] = [];
    for (let n = 1; n <= 100; n++) ids.push(d.addDest(tcp80, { address: addr(n), weight: 1 + (n % 5), uThreshold: n % 3 === 0 ? 40 : 0 }));
    const BATCH = 1024;
    fillFlows(d, BATCH);
    const round = (k: number) => {
      expect(coreOf(d).x.schedule(BATCH, k)).toBeGreaterThan(0);
      d.setDestConns(ids[k % 100], k % 37, (k * 7) % 50); // heap updates, OVERLOAD flips
    };
    for (let k = 0; k < 200; k++) round(k); // warm-up
    const before = coreOf(d).x.memory.buffer.byteLength;
    const calls = Math.ceil(1e7 / BATCH);
    for (let k = 0; k < calls; k++) round(k);
    expect(coreOf(d).x.memory.buffer.byteLength).toBe(before);
    expect(d.counter(0)).toBeGreaterThanOrEqual(1e7); // CNT_SCHEDULED
  }, 300_000);
});
