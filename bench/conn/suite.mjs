// One table size: build the core table (background entries + expiry
// cohorts), measure insert, lookups (core, typed-array table, Map<string>)
// and expiry, in that order, on the same keys and the same lookup stream.
import { measure, timeOnce, sink, gc, median } from './harness.mjs';
import { makeCore, drive, decisionStatus, decisionConn, lookupConn, wasmBytes, cohortPlan, LONG, SHORT } from './core.mjs';
import { staging, FW } from './keys.mjs';
import { buildTyped, buildMap, mapLookupBatchBuild, mapLookupBatchKeys } from './jstables.mjs';

const LOOKUP_NOW = 27;

export async function runSize(cfg, N, log, notes) {
  const plan = cohortPlan(N);
  const bg = N - plan.total;
  const c = await makeCore();
  const mem0 = wasmBytes(c);
  // 1. insert the background entries at t=1 (SYN through schedule) and establish them (first ACK).
  const ins = drive(c, 'schedule', 0, bg, 1);
  const est = drive(c, 'packet', 0, bg, 1);
  if (ins.ok !== bg || est.ok !== bg) notes.push(`N=${N}: ${ins.ok}/${bg} inserts and ${est.ok}/${bg} first ACKs succeeded (status of a failed one: ${decisionStatus(c, 0)})`);
  // 2. the expiry cohorts, each at its own second with the SHORT timeout.
  c.d.setTimeouts({ tcp: SHORT });
  let from = bg;
  plan.sizes.forEach((s, k) => {
    drive(c, 'schedule', from, from + s, 10 + 2 * k);
    drive(c, 'packet', from, from + s, 10 + 2 * k);
    from += s;
  });
  c.d.setTimeouts({ tcp: LONG });
  const live = c.d.connectionCount();
  if (live !== N) notes.push(`N=${N}: ${live} live entries after inserting ${N}`);
  const mem = { before: mem0, after: wasmBytes(c), table: c.x.connMemory(), live };
  log(`N=${N}: insert ${(ins.ns / bg).toFixed(0)} ns/conn, wasm memory +${((mem.after - mem.before) / 2 ** 20).toFixed(1)} MiB`);

  // One-shot inserts of a small table are a few batches long: repeat them on fresh tables.
  if (bg <= 1e5) ins.ns = median([ins.ns, ...(await Promise.all([1, 2, 3, 4].map(() => makeCore())))
    .map((r) => drive(r, 'schedule', 0, bg, 1).ns)]);
  // 3. lookups of known connections: the same R random keys for every implementation.
  const stg = staging(bg, cfg.R);
  const lookups = lookupCases(cfg, c, stg, N);
  const jsBuild = lookups.jsBuild;
  log(`N=${N}: lookups done`);

  // 4. expiry: one second at a time over the cohorts, then everything else at once.
  const expiry = runExpiry(c, plan, bg, notes, N);
  log(`N=${N}: expiry done (bulk ${(expiry.bulk.ns / Math.max(1, expiry.bulk.n)).toFixed(0)} ns/entry)`);
  return {
    N, background: bg, cohorts: plan, insert: { ns: ins.ns / bg, firstAckNs: est.ns / bg }, jsBuild,
    memory: mem, lookups: lookups.rows, expiry,
  };
}

function lookupCases(cfg, c, stg, N) {
  const { x, flowW, B } = c;
  const nb = stg.R / B;
  const out = new Int32Array(B);
  let b = 0;
  let s = 0;
  const batchSlice = () => stg.flows.subarray(b * B * FW, (b + 1) * B * FW);
  // Validate before timing: every staged lookup hits in every implementation.
  c.core.words().set(stg.flows.subarray(0, B * FW), flowW);
  const hits = x.packetBatch(B, LOOKUP_NOW);
  // The bare lookup must find the very connections the packet path just used.
  const bare = x.connLookupBatch(B);
  let bareOk = bare === B;
  for (let k = 0; k < B && bareOk; k++) bareOk = lookupConn(c, k) === decisionConn(c, k) && lookupConn(c, k) !== 0;
  if (!bareOk) throw new Error(`N=${N}: connLookupBatch check failed (${bare}/${B} hits or ids differ from packetBatch)`);
  const reps = N <= 1e5 ? 5 : 1;
  const typed = timeOnce(() => buildTyped(N));
  const mapped = timeOnce(() => buildMap(N));
  for (let k = 1; k < reps; k++) {
    typed.more = [...(typed.more ?? [typed.ns]), timeOnce(() => buildTyped(N)).ns];
    mapped.more = [...(mapped.more ?? [mapped.ns]), timeOnce(() => buildMap(N)).ns];
  }
  if (reps > 1) {
    typed.ns = median(typed.more);
    mapped.ns = median(mapped.more);
  }
  const t = typed.v;
  const { map, keys } = mapped.v;
  t.lookupBatch(stg.flows, 0, B, out);
  const typedOk = out.every((v, k) => v === stg.idx[k]);
  mapLookupBatchBuild(map, stg.flows, 0, B, out);
  const mapOk = out.every((v, k) => v === stg.idx[k]);
  if (hits !== B || !typedOk || !mapOk) throw new Error(`N=${N}: lookup check failed (core ${hits}/${B}, typed ${typedOk}, map ${mapOk})`);
  const S = 256;
  const cases = [
    { name: 'core single: packetBatch(1)', ops: S, fn: () => {
      const u32 = c.core.words();
      for (let k = 0; k < S; k++) {
        const w = s * FW;
        for (let j = 0; j < FW; j++) u32[flowW + j] = stg.flows[w + j];
        sink.v += x.packetBatch(1, LOOKUP_NOW);
        s = s + 1 === stg.R ? 0 : s + 1;
      }
    } },
    { name: 'core batched: packetBatch(1024)', ops: B, fn: () => {
      c.core.words().set(batchSlice(), flowW);
      sink.v += x.packetBatch(B, LOOKUP_NOW);
      b = b + 1 === nb ? 0 : b + 1;
    } },
    { name: 'core bare batched lookup: connLookupBatch(1024)', ops: B, fn: () => {
      c.core.words().set(batchSlice(), flowW);
      sink.v += x.connLookupBatch(B);
      b = b + 1 === nb ? 0 : b + 1;
    } },
    { name: 'host: copy 1024 flow records', ops: B, fn: () => {
      c.core.words().set(batchSlice(), flowW);
      b = b + 1 === nb ? 0 : b + 1;
    } },
    { name: 'typed single', ops: S, fn: () => {
      for (let k = 0; k < S; k++) {
        const w = s * FW;
        sink.v += t.lookup(stg.flows[w + 2], stg.flows[w + 6], stg.flows[w + 10], (stg.flows[w] >>> 8) & 255);
        s = s + 1 === stg.R ? 0 : s + 1;
      }
    } },
    { name: 'typed batched', ops: B, fn: () => {
      t.lookupBatch(stg.flows, b * B, B, out);
      sink.v += out[B - 1];
      b = b + 1 === nb ? 0 : b + 1;
    } },
    { name: 'Map<string> single, key prebuilt', ops: S, fn: () => {
      for (let k = 0; k < S; k++) {
        sink.v += map.get(keys[stg.idx[s]]);
        s = s + 1 === stg.R ? 0 : s + 1;
      }
    } },
    { name: 'Map<string> batched, key prebuilt', ops: B, fn: () => {
      mapLookupBatchKeys(map, keys, stg.idx, b * B, B, out);
      sink.v += out[B - 1];
      b = b + 1 === nb ? 0 : b + 1;
    } },
    { name: 'Map<string> batched, key built from the record', ops: B, fn: () => {
      mapLookupBatchBuild(map, stg.flows, b * B, B, out);
      sink.v += out[B - 1];
      b = b + 1 === nb ? 0 : b + 1;
    } },
  ];
  const rows = measure(cfg, cases);
  const jsBuild = { typedNs: typed.ns / N, mapNs: mapped.ns / N, typedBytes: t.bytes() };
  return { rows, jsBuild };
}

function runExpiry(c, plan, bg, notes, N) {
  gc();
  const pre = c.x.advance(29);
  if (pre !== 0) notes.push(`N=${N}: ${pre} entries expired before the cohorts were due`);
  const steps = [];
  for (let t = 30; t < 30 + 2 * plan.sizes.length; t++) {
    const r = timeOnce(() => c.x.advance(t));
    const due = (t & 1) === 0 ? plan.sizes[(t - 30) >> 1] : 0;
    if (r.v !== due) notes.push(`N=${N}: advance(${t}) expired ${r.v}, ${due} were due`);
    steps.push({ t, due, expired: r.v, ns: r.ns, live: c.x.connCount() });
  }
  const bySize = {};
  for (const s of steps) (bySize[s.due] ??= []).push(s.ns);
  const perDue = Object.entries(bySize).map(([due, ns]) => ({ due: +due, ns: median(ns), samples: ns.length }))
    .sort((a, b) => a.due - b.due);
  const liveBefore = c.x.connCount();
  const bulk = timeOnce(() => c.x.advance(LONG + 100));
  if (bulk.v !== bg) notes.push(`N=${N}: bulk expiry freed ${bulk.v}, ${bg} were due`);
  return { steps, perDue, liveAtSteps: N, bulk: { ns: bulk.ns, n: bulk.v, liveBefore, liveAfter: c.x.connCount() } };
}
