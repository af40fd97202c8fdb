// The least-load workload of shared/baselines/picks.mjs, with the counter
// IPVS moves: every pick binds one new connection to the chosen dest (IPVS
// counts a new connection in inactconns: the dest's conn_flags carry
// IP_VS_CONN_F_INACTIVE), and every 8th pick one connection of dest
// (k*7) mod n ends, if it has one. Both sides keep their counts from zero, in
// list order, and do the same work per pick:
//   plain  scan, count the connection on the chosen dest, end one every 8th;
//   core   a director with `connections: 'count'`: schedule() picks and counts
//          the connection in the same core call (the index fixed in place),
//          and the host reports every 8th pick's end (destConnEnd), as a
//          plain program decrements its counter.
import { lcScan, wlcScan, lcScanTyped, wlcScanTyped, plainDests } from './plain.mjs';
import { NOW } from './setup.mjs';
import { sink } from './harness.mjs';
import { coreOf } from 'wasmvs/core';

/** The departure after pick number k (every 8th): one connection of dest (k*7) mod n ends. */
function coreEnd(x, svc) {
  const ids = svc.ids;
  const n = ids.length;
  // destConnEnd returns 0 (nothing changed) when the dest has no connection, as the plain side skips it.
  return (k) => {
    if ((k & 7) === 0) x.destConnEnd(ids[(k * 7) % n], 0);
  };
}

/**
 * Core-side cases for one service of a counting director: SDK single
 * (Director.schedule, ends through Director.endDestConn) with FlowInput
 * objects and with the same flows prepared (prepareFlow), raw n=1
 * (schedule(1), the pick-for-pick IPVS workload) and batched (schedule(B),
 * then the B picks' ends).
 */
export function coreLoadCases(director, svc, dv, flows, label, batch, prepared) {
  const x = coreOf(director).x;
  const end = coreEnd(x, svc);
  const ids = svc.ids;
  const n = ids.length;
  let k = 0;
  const single = {
    name: `${label} single`, ops: 256,
    fn: () => {
      for (let i = 0; i < 256; i++, k++) {
        const d = director.schedule(flows[k & 1023]);
        sink.v ^= d.destId;
        if ((k & 7) === 0) director.endDestConn(ids[(k * 7) % n]);
      }
    },
  };
  // The same calls with the same flows, prepared once (prepareFlow): the documented fast path.
  const single2 = {
    name: `${label} single, prepared flows`, ops: 256,
    fn: () => {
      for (let i = 0; i < 256; i++, k++) {
        const d = director.schedule(prepared[k & 1023]);
        sink.v ^= d.destId;
        if ((k & 7) === 0) director.endDestConn(ids[(k * 7) % n]);
      }
    },
  };
  const raw1 = {
    name: `${label} n=1`, ops: 256,
    fn: () => {
      for (let i = 0; i < 256; i++) {
        sink.v += x.schedule(1, NOW);
        end(k++);
      }
    },
  };
  const batched = {
    name: `${label} batch`, ops: batch,
    fn: () => {
      sink.v += x.schedule(batch, NOW);
      for (let i = 0; i < batch; i++) end(k++);
    },
  };
  return { single, prepared: single2, raw1, batched };
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
        objs[b].inactconns++;
        if ((k1 & 7) === 0 && objs[(k1 * 7) % n].inactconns > 0) objs[(k1 * 7) % n].inactconns--;
        sink.v += b;
      }
    },
  };
  const typed = {
    name: `${kind} plain scan (typed arrays)`, ops: 1024,
    fn: () => {
      for (let i = 0; i < 1024; i++, k2++) {
        const b = scanT(w, act, inact);
        inact[b]++;
        if ((k2 & 7) === 0 && inact[(k2 * 7) % n] > 0) inact[(k2 * 7) % n]--;
        sink.v += b;
      }
    },
  };
  return { objects, typed };
}

/**
 * Do the core (pick-for-pick, n=1, counting) and the plain scan make the
 * same choices? Runs on a fresh service from zero counts; returns picks
 * compared and the first mismatch (-1 when none).
 */
export function sameChoices(director, svc, dv, kind, picks) {
  const x = coreOf(director).x;
  const index = new Map(svc.ids.map((id, i) => [id, i]));
  const objs = plainDests(svc.weights);
  const scan = kind === 'lc' ? lcScan : wlcScan;
  const end = coreEnd(x, svc);
  const w = dv.words();
  for (let k = 0; k < picks; k++) {
    x.schedule(1, NOW);
    const id = w[dv.destWord(0)];
    const b = scan(objs);
    if (index.get(id) !== b) return { picks, mismatch: k };
    end(k);
    objs[b].inactconns++;
    if ((k & 7) === 0 && objs[(k * 7) % objs.length].inactconns > 0) objs[(k * 7) % objs.length].inactconns--;
  }
  return { picks, mismatch: -1 };
}
