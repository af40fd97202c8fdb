// Pick cost per scheduler and size: SDK single (Director.schedule, with
// FlowInput objects and with the same flows from prepareFlow), raw n=1
// (schedule(1) on a prepared flow record) and batched (schedule(1024) over a
// flow region filled once), side by side with plain implementations of the
// IPVS rules and npm peers. Least-load schedulers run the picks.mjs workload.
import { measure, memory, sink } from './harness.mjs';
import { makeDirector, pickService, fwFlow, fwFlowSpec, fillFlows, decisionView, NOW } from './setup.mjs';
import { coreLoadCases, plainLoadCases, sameChoices } from './loadwork.mjs';
import { peerCases, plainCases, clientKeys } from './peers.mjs';
import { makeRr, makeWrr, plainDests } from './plain.mjs';
import { trackedCase } from './tracked.mjs';
import { prepareFlow } from 'wasmvs';
import { coreOf } from 'wasmvs/core';

export const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'sed', 'nq', 'dh', 'sh', 'mh', 'lblc', 'lblcr', 'fo', 'ovf', 'twos'];
/** Schedulers whose choice depends on connection counts: they get the load workload. */
const LOADED = new Set(['lc', 'wlc', 'sed', 'nq']);
const BATCH = 1024;

/** Do the core's choices equal the plain IPVS rule's, from a fresh service? */
function identity(director, dv, sched, n, mark) {
  if (!['rr', 'wrr', 'lc', 'wlc'].includes(sched)) return null;
  const svc = pickService(director, mark, sched, n);
  fillFlows(director, BATCH, (k) => fwFlowSpec(mark, k));
  if (sched === 'lc' || sched === 'wlc') return sameChoices(director, svc, dv, sched, n >= 1000 ? 2048 : 4096);
  const ok = coreOf(director).x.schedule(BATCH, NOW);
  if (ok !== BATCH) return { picks: BATCH, mismatch: ok };
  const index = new Map(svc.ids.map((id, i) => [id, i]));
  const pick = (sched === 'rr' ? makeRr : makeWrr)(plainDests(svc.weights));
  const w = dv.words();
  for (let i = 0; i < BATCH; i++) {
    if (index.get(w[dv.destWord(i)]) !== pick()) return { picks: BATCH, mismatch: i };
  }
  return { picks: BATCH, mismatch: -1 };
}

/** Core cases for a scheduler without load: single, n=1, batch. */
function coreCases(director, flows, sched, prepared) {
  const x = coreOf(director).x;
  let k = 0;
  return {
    single: {
      name: `${sched} single`, ops: 256,
      fn: () => { for (let i = 0; i < 256; i++) sink.v ^= director.schedule(flows[k++ & 1023]) === null ? 1 : 0; },
    },
    prepared: {
      name: `${sched} single, prepared flows`, ops: 256,
      fn: () => { for (let i = 0; i < 256; i++) sink.v ^= director.schedule(prepared[k++ & 1023]) === null ? 1 : 0; },
    },
    raw1: { name: `${sched} n=1`, ops: 256, fn: () => { for (let i = 0; i < 256; i++) sink.v += x.schedule(1, NOW); } },
    batched: { name: `${sched} batch`, ops: BATCH, fn: () => { sink.v += x.schedule(BATCH, NOW); } },
  };
}

async function oneSize(cfg, director, dv, sched, n, si, keys) {
  const mark = 100 + si;
  const svc = pickService(director, mark, sched, n);
  const fill = () => fillFlows(director, BATCH, (k) => fwFlowSpec(mark, k));
  fill();
  const ok = coreOf(director).x.schedule(BATCH, NOW);
  const row = { sched, n, okShare: ok / BATCH, loaded: LOADED.has(sched), connsKept: false };
  row.identity = identity(director, dv, sched, n, 200 + si);
  fill();
  if (ok === 0) {
    row.status = 'not implemented (no pick)';
    return row;
  }
  row.status = ok === BATCH ? 'ok' : `partial (${ok}/${BATCH})`;
  row.connsKept = coreOf(director).readDecision(0).conn !== 0;
  const flows = Array.from({ length: 1024 }, (_, k) => fwFlow(mark, k));
  const prepared = flows.map(prepareFlow);
  const core = row.loaded ? coreLoadCases(director, svc, dv, flows, sched, BATCH, prepared) : coreCases(director, flows, sched, prepared);
  const cases = [core.single, core.raw1, core.batched, core.prepared].map((c) => ({ ...c, kind: 'core', beforeAll: fill }));
  if (sched === 'lc' || sched === 'wlc') {
    const p = plainLoadCases(sched, svc.weights);
    cases.push({ ...p.objects, kind: 'plain' }, { ...p.typed, kind: 'plain' });
    const t = await trackedCase(sched, n);
    if (t && t.ok === BATCH && t.kept) cases.push(t.case);
  }
  cases.push(...plainCases(sched, svc.weights));
  const peers = await peerCases(sched, svc.weights, keys);
  cases.push(...peers.cases);
  row.missingPeers = peers.missing;
  const res = measure(cfg, cases);
  row.single = res[0];
  row.raw1 = res[1];
  row.batch = res[2];
  row.prepared = res[3];
  row.others = res.slice(4).map((r, i) => ({ ...r, kind: cases[i + 4].kind }));
  return row;
}

/** Run every scheduler at every size; returns rows and per-director memory. */
export async function runPicks(cfg, sizes, log, scheds = SCHEDULERS) {
  const keys = clientKeys();
  const rows = [];
  const mem = [];
  for (const sched of scheds) {
    const before = memory(null);
    const director = await makeDirector({ count: LOADED.has(sched) });
    const dv = decisionView(director);
    const created = memory(director);
    for (const [si, n] of sizes.entries()) {
      const row = await oneSize(cfg, director, dv, sched, n, si, keys);
      rows.push(row);
      log(`picks ${sched} n=${n}: ${row.status}` + (row.batch ? ` batch ${row.batch.ns.toFixed(1)} ns` : ''));
    }
    const after = memory(director);
    mem.push({ sched, heapBefore: before.heapUsed, heapAfter: after.heapUsed, wasmCreated: created.wasm, wasmAfter: after.wasm });
  }
  return { rows, mem };
}
