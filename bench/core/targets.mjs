// The core's targets, computed from one run's results: each with the figure,
// the baseline measured in the same run and met/missed by how much. The first
// set ("v2:") is the flat-record core's; the original set follows,
// unchanged, so no goal silently moves.
import { fmtNs, fmtRatio } from './harness.mjs';

const verdict = (ok, by) => (ok ? `met (${by})` : `**missed** (${by})`);

function lookupRatio(res) {
  const at = (n) => res.services.find((r) => r.n === n);
  const a = at(100);
  const b = at(30000);
  if (!a || !b) return null;
  const r = b.batch.ns / a.batch.ns;
  const rs = b.single.ns / a.single.ns;
  const rh = b.hot.ns / a.hot.ns;
  return {
    name: 'new-flow decision @30,000 ÷ @100 services', goal: '≤ 1.1',
    measured: `${r.toFixed(2)} batched over 16 Ki services (${fmtNs(b.batch.ns)} vs ${fmtNs(a.batch.ns)}); ${rh.toFixed(2)} with the same 1024 flows; ${rs.toFixed(2)} single (SDK)`,
    baseline: `@100: ${fmtNs(a.batch.ns)}`,
    verdict: verdict(r <= 1.1, r <= 1.1 ? `${r.toFixed(2)} ≤ 1.1` : `${r.toFixed(2)} vs ≤ 1.1: ${fmtRatio(r / 1.1)} the limit; ${rh <= 1.1 ? 'met' : 'also missed'} with a cache-resident 1024-flow set (${rh.toFixed(2)})`),
  };
}

function addCost(res) {
  const r = res.services.find((x) => x.n === 20000);
  if (!r) return null;
  // Judged on CPU time: on the shared machine the wall time includes waiting for a CPU.
  const ns = r.addSdk.cpuNs ?? r.addSdk.ns;
  const core = r.addCore.cpuNs ?? r.addCore.ns;
  return {
    name: 'add 1 service + 1 dest @20,000 services', goal: '≤ 10 µs',
    measured: `SDK ${fmtNs(r.addSdk.cpuNs)} CPU (${fmtNs(r.addSdk.ns)} wall); core only ${fmtNs(r.addCore.cpuNs)} CPU (${fmtNs(r.addCore.ns)} wall)`,
    baseline: `@100: SDK ${fmtNs(res.services[0].addSdk.cpuNs)} CPU, core only ${fmtNs(res.services[0].addCore.cpuNs)} CPU`,
    verdict: verdict(ns <= 10000, ns <= 10000 ? `${fmtRatio(10000 / ns)} headroom` : `SDK ${fmtRatio(ns / 10000)} the limit; core only ${core <= 10000 ? `within it (${fmtRatio(10000 / core)} headroom)` : `${fmtRatio(core / 10000)} the limit`}`),
  };
}

function leastConn(res, sched) {
  const r = res.picks.rows.find((x) => x.sched === sched && x.n === 100);
  if (!r || !r.raw1) return null;
  const plain = (r.others ?? []).filter((o) => o.kind === 'plain');
  const best = plain.reduce((a, b) => (a.ns <= b.ns ? a : b));
  const ratio = best.ns / r.raw1.ns;
  const rb = best.ns / r.batch.ns;
  const same = r.identity && r.identity.mismatch < 0 ? 'identical choices' : '**choices differ**';
  const t = (r.others ?? []).find((o) => o.kind === 'tracked');
  const tracked = t ? `; connection table on: ${fmtNs(t.ns)} per new connection (${fmtRatio(best.ns / t.ns)})` : '';
  return {
    name: `${sched} @100 dests vs plain scan`, goal: '≥ 5× faster, IPVS-identical',
    measured: `${fmtRatio(ratio)} pick-for-pick (n=1, ${fmtNs(r.raw1.ns)}); ${fmtRatio(rb)} batched (${fmtNs(r.batch.ns)})${tracked}; ${same}`,
    baseline: `${best.name}: ${fmtNs(best.ns)}`,
    verdict: verdict(ratio >= 5 && same === 'identical choices', ratio >= 5 ? `${fmtRatio(ratio)} ≥ 5×` : `${fmtRatio(ratio)} vs ≥ 5×: ${fmtRatio(5 / ratio)} short`),
  };
}

function boundary(res) {
  const d = res.boundary.derived;
  return {
    name: 'batched boundary cost per decision', goal: '≤ 1.5 ns',
    measured: `${fmtNs(d.perItemBad)}/item (record in + check + failure record out, batch 1024); call overhead ${fmtNs(d.callOverhead)} = ${d.perItemAmortisedCall.toFixed(3)} ns/item amortised`,
    baseline: `single call schedule(1): ${fmtNs(res.boundary.rows[2].ns)}`,
    verdict: verdict(d.perItemBad <= 1.5, `per-item record path ${fmtRatio(d.perItemBad / 1.5)} the limit; the amortised call alone is ${d.perItemAmortisedCall <= 1.5 ? 'within it' : 'over it'}`),
  };
}

function maglev(res) {
  const m = res.maglev;
  // Judged on CPU time (see addCost); the wall time is shown too.
  const total = m.rows[0].cpuNs ?? m.rows[0].ns;
  return {
    name: `Maglev build, M=${m.mhTableSize}, 100 dests`, goal: '≤ 5 ms',
    measured: m.implemented ? `${fmtNs(m.rows[0].cpuNs)} CPU (${fmtNs(m.rows[0].ns)} wall) per rebuilding editDest (${fmtNs(m.buildNs)} CPU net of an rr editDest); addDest ${fmtNs(m.rows[5].cpuNs)} CPU` : 'mh not implemented',
    baseline: `plain JS build M=65521: ${fmtNs(m.rows[3].ns)}`,
    verdict: m.implemented ? verdict(total <= 5e6, total <= 5e6 ? `${fmtRatio(5e6 / total)} headroom` : `${fmtRatio(total / 5e6)} the limit`) : 'not measurable',
  };
}

/** Core v2: the batched decision against a plain TypeScript director doing the same work. */
function sameWork(res) {
  if (!res.samework) return [];
  return res.samework.rows.map((r) => ({
    name: `v2: ${r.sched} batched decision vs plain TypeScript (same work)`, goal: '≤ 1.0×',
    measured: `${fmtNs(r.core)} per decision (${r.okCore}/1024 decided)`,
    baseline: `plain: ${fmtNs(r.plain)} (${r.okPlain}/1024)`,
    verdict: verdict(r.ratio <= 1, `${r.ratio.toFixed(2)}×`),
  }));
}

function recordPath(res) {
  const d = res.boundary.derived;
  return {
    name: 'v2: per-item record path (read, check, write the failure)', goal: '≤ 3 ns',
    measured: `${fmtNs(d.perItemBad)}/item (batch 1024)`, baseline: '22.5 ns before core v2',
    verdict: verdict(d.perItemBad <= 3, `${fmtNs(d.perItemBad)}`),
  };
}

function leastConnV2(res, sched, n, goal) {
  const r = res.picks.rows.find((x) => x.sched === sched && x.n === n);
  if (!r || !r.raw1) return null;
  const best = (r.others ?? []).filter((o) => o.kind === 'plain').reduce((a, b) => (a.ns <= b.ns ? a : b));
  const ratio = best.ns / r.raw1.ns;
  const same = r.identity && r.identity.mismatch < 0;
  return {
    name: `v2: ${sched} pick for pick @${n} dests vs plain scan`, goal: `≥ ${goal}×, identical choices`,
    measured: `${fmtRatio(ratio)} (n=1 ${fmtNs(r.raw1.ns)}: pick and count in one call, the host's destConnEnd every 8th pick); ${same ? 'identical choices' : '**choices differ**'}`,
    baseline: `${best.name}: ${fmtNs(best.ns)}`,
    verdict: verdict(ratio >= goal && same, `${fmtRatio(ratio)}`),
  };
}

function lookupRatioV2(res) {
  const at = (n) => res.services.find((r) => r.n === n);
  const a = at(100);
  const b = at(30000);
  if (!a || !b) return null;
  const r = b.batch.ns / a.batch.ns;
  return {
    name: 'v2: new-flow decision @30,000 ÷ @100 services (16 Ki random services)', goal: '≤ 1.5',
    measured: `${r.toFixed(2)} (${fmtNs(b.batch.ns)} vs ${fmtNs(a.batch.ns)})`, baseline: '5.3 before core v2',
    verdict: verdict(r <= 1.5, r.toFixed(2)),
  };
}

// Director.schedule, one call: through the documented fast path (a flow made
// once with prepareFlow, as the target allows: "accept pre-parsed addresses
// through a documented fast API"), with the FlowInput-object figure beside it.
function sdkSingle(res) {
  const r = res.picks.rows.find((x) => x.sched === 'rr' && x.n === 1);
  const w = res.picks.rows.find((x) => x.sched === 'wlc' && x.n === 100);
  const out = [];
  if (r?.single) {
    const ns = r.prepared?.ns ?? r.single.ns;
    out.push({
      name: 'v2: Director.schedule, one call, rr', goal: '≤ 150 ns',
      measured: r.prepared ? `${fmtNs(r.prepared.ns)} with a prepared flow (prepareFlow); ${fmtNs(r.single.ns)} with a FlowInput object` : fmtNs(r.single.ns),
      baseline: '334 ns before core v2',
      verdict: verdict(ns <= 150, fmtNs(ns)),
    });
  }
  if (w?.single) {
    const best = (w.others ?? []).filter((o) => o.kind === 'plain').reduce((a, b) => (a.ns <= b.ns ? a : b));
    const ns = w.prepared?.ns ?? w.single.ns;
    const ratio = best.ns / ns;
    const input = `${fmtNs(w.single.ns)} with a FlowInput object (${fmtRatio(best.ns / w.single.ns)})`;
    out.push({
      name: 'v2: Director.schedule, wlc @100 dests vs a naive JS scan', goal: '≥ 1.5×',
      measured: `${w.prepared ? `${fmtNs(w.prepared.ns)} per call with a prepared flow; ${input}` : fmtNs(w.single.ns)} (connections: 'count'; endDestConn every 8th pick)`,
      baseline: `${best.name}: ${fmtNs(best.ns)}`,
      verdict: verdict(ratio >= 1.5, fmtRatio(ratio)),
    });
  }
  return out;
}

function memoryPerService(res) {
  const r = res.services.find((x) => x.n === 100000);
  if (!r || !r.mem?.wasmFilled) return null;
  const per = Number.isFinite(r.mem.allocated) ? r.mem.allocated / r.n : r.mem.wasmFilled / r.n;
  return {
    name: 'v2: memory, one service + one dest @100,000 services', goal: '≤ 256 B',
    measured: `${per.toFixed(0)} B (allocator bytes for the fill ÷ services; wasm memory ${(r.mem.wasmFilled / r.n).toFixed(0)} B per service incl. page rounding and the I/O regions)`, baseline: '655 B with eager stats blocks (about 0.9 KiB before core v2)',
    verdict: verdict(per <= 256, `${per.toFixed(0)} B`),
  };
}

export function targets(res) {
  return [
    ...sameWork(res), recordPath(res), leastConnV2(res, 'lc', 100, 3), leastConnV2(res, 'wlc', 100, 3),
    leastConnV2(res, 'lc', 1000, 5), leastConnV2(res, 'wlc', 1000, 5), lookupRatioV2(res), ...sdkSingle(res), memoryPerService(res),
    lookupRatio(res), addCost(res), leastConn(res, 'lc'), leastConn(res, 'wlc'), boundary(res), maglev(res),
  ].filter(Boolean);
}
