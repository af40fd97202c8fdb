// Focused run of the least-load rows of picks.mjs (lc/wlc at 100 and 1000
// dests, plus rr at 100 for the schedule(1) floor): `node bench/core/lcfocus.mjs [--quick]`.
import { settings } from './harness.mjs';
import { runPicks } from './picks.mjs';

const quick = process.argv.includes('--quick');
const cfg = settings(quick);
const { rows } = await runPicks(cfg, [100, 1000], () => {}, ['rr', 'lc', 'wlc']);
for (const r of rows) {
  const plain = (r.others ?? []).filter((o) => o.kind === 'plain');
  const best = plain.length ? plain.reduce((a, b) => (a.ns <= b.ns ? a : b)) : null;
  const f = (x) => x.toFixed(1);
  let line = `${r.sched} n=${r.n}: single ${f(r.single.ns)} prepared ${f(r.prepared.ns)} n=1 ${f(r.raw1.ns)} batch ${f(r.batch.ns)}`;
  if (best && (r.sched === 'lc' || r.sched === 'wlc')) {
    line += ` | best plain ${f(best.ns)} (${best.name}) | pick ratio ${(best.ns / r.raw1.ns).toFixed(2)}x` +
      ` | sdk ratio ${(best.ns / r.single.ns).toFixed(2)}x, prepared ${(best.ns / r.prepared.ns).toFixed(2)}x | identity ${r.identity?.mismatch}`;
  }
  console.log(line);
}
