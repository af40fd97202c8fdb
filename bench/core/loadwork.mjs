// The least-load workload of shared/baselines/picks.mjs: every pick adds one
// active connection to the chosen dest, and every 8th pick removes one from
// dest (k*7) mod n. The core learns the counts through destSetConns (what the
// connection table will do itself once it lands), a plain scan just bumps
// its own counters. Both sides keep their counts from zero, in list order.
import { lcScan, wlcScan, lcScanTyped, wlcScanTyped, plainDests } from './plain.mjs';
import { NOW, slotOf } from './setup.mjs';
import { sink } from './harness.mjs';

/** Counts the host mirrors for the core, indexed by dest slot. */
function mirror() {
  return new Int32Array(1 << 17);
}

/** A load-applying step for the core: after a pick of dest `id` (pick number k). */
function coreLoad(x, svc, act) {
  const ids = svc.ids;
  const n = ids.length;
  return (id, k) => {
    const s = slotOf(id);
    x.destSetConns(id, ++act[s], 0);
    if ((k & 7) === 0) {
      const other = ids[(k * 7) % n];
      const so = slotOf(other);
      if (act[so] > 0) x.destSetConns(other, --act[so], 0);
    }
  };
}

/**
 * Core-side cases for one service: SDK single (Director.schedule), raw n=1
 * (schedule(1) + destSetConns, the pick-for-pick IPVS workload) and batched
 * (schedule(B), then the load changes for the B decisions).
 */
export function coreLoadCases(director, svc, dv, flows, label, batch) {
  const x = director.core.x;
  const act = mirror();
  const apply = coreLoad(x, svc, act);
  let k = 0;
  const single = {
    name: `${label} single`, ops: 256,
    fn: () => {
      for (let i = 0; i < 256; i++) {
        const d = director.schedule(flows[k & 1023]);
        apply(d.destId, k++);
      }
    },
  };
  const raw1 = {
    name: `${label} n=1`, ops: 256,
    fn: () => {
      const w = dv.words();
      const at = dv.destWord(0);
      for (let i = 0; i < 256; i++) {
        x.schedule(1, NOW);
        apply(w[at], k++);
      }
    },
  };
  const batched = {
    name: `${label} batch`, ops: batch,
    fn: () => {
      x.schedule(batch, NOW);
      const w = dv.words();
      for (let i = 0; i < batch; i++) apply(w[dv.destWord(i)], k++);
    },
  };
  return { single, raw1, batched };
}

/** Plain scan cases (objects and typed arrays) for lc or wlc over `weights`. */
export function plainLoadCases(kind, weights) {
  const n = weights.length;
  const objs = plainDests(weights);
  const scan = kind === 'lc' ? lcScan : wlcScan;
  const w = Int32Array.from(weights);
  const act = new Int32Array(n);
  const inact = new Int32Array(n);
  const scanT = kind === 'lc' ? lcScanTyped : wlcScanTyped;
  let k1 = 0;
  let k2 = 0;
  const objects = {
    name: `${kind} plain scan (objects)`, ops: 1024,
    fn: () => {
      for (let i = 0; i < 1024; i++, k1++) {
        const b = scan(objs);
        objs[b].activeconns++;
        if ((k1 & 7) === 0 && objs[(k1 * 7) % n].activeconns > 0) objs[(k1 * 7) % n].activeconns--;
        sink.v += b;
      }
    },
  };
  const typed = {
    name: `${kind} plain scan (typed arrays)`, ops: 1024,
    fn: () => {
      for (let i = 0; i < 1024; i++, k2++) {
        const b = scanT(w, act, inact);
        act[b]++;
        if ((k2 & 7) === 0 && act[(k2 * 7) % n] > 0) act[(k2 * 7) % n]--;
        sink.v += b;
      }
    },
  };
  return { objects, typed };
}

/**
 * Do the core (pick-for-pick, n=1) and the plain scan make the same choices?
 * Runs on a fresh service from zero counts; returns picks compared and the
 * first mismatch (-1 when none).
 */
export function sameChoices(director, svc, dv, kind, picks) {
  const x = director.core.x;
  const index = new Map(svc.ids.map((id, i) => [id, i]));
  const objs = plainDests(svc.weights);
  const scan = kind === 'lc' ? lcScan : wlcScan;
  const act = mirror();
  const apply = coreLoad(x, svc, act);
  const w = dv.words();
  for (let k = 0; k < picks; k++) {
    x.schedule(1, NOW);
    const id = w[dv.destWord(0)];
    const b = scan(objs);
    if (index.get(id) !== b) return { picks, mismatch: k };
    apply(id, k);
    objs[b].activeconns++;
    if ((k & 7) === 0 && objs[(k * 7) % objs.length].activeconns > 0) objs[(k * 7) % objs.length].activeconns--;
  }
  return { picks, mismatch: -1 };
}
