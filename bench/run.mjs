#!/usr/bin/env node
// `npm run bench [-- --quick] [-- --only picks,services,boundary,maglev,conn] [-- --render]`
// Runs the benchmark suites against the built package (dist/ + build/, so run
// `npm run build` first) and writes markdown reports plus bench/out/*.json.
// Full mode writes bench/REPORT-core.md (committed); --quick writes
// bench/out/REPORT-core.quick.md so a development run never replaces it.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import os from 'node:os';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const onlyArg = args.find((a) => a.startsWith('--only'));
const only = onlyArg ? (onlyArg.includes('=') ? onlyArg.split('=')[1] : args[args.indexOf(onlyArg) + 1]).split(',') : null;
const want = (name) => only === null || only.includes(name);

for (const f of ['../dist/sdk/index.js', '../build/wasmvs.wasm']) {
  if (!existsSync(here(f))) {
    console.error(`bench: ${f.slice(3)} is missing; run \`npm run build\` first`);
    process.exit(2);
  }
}

const { settings, machine } = await import('./core/harness.mjs');
const { runPicks } = await import('./core/picks.mjs');
const { runServices } = await import('./core/services.mjs');
const { runBoundary } = await import('./core/boundary.mjs');
const { runMaglev } = await import('./core/maglev.mjs');
const { renderReport } = await import('./core/report.mjs');
const { runSameWork, renderSameWork } = await import('./core/samework.mjs');

const cfg = settings(quick);
const t0 = Date.now();
const log = (s) => console.log(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(3)}s] ${s}`);
const jsonFile = here(`./out/core${quick ? '.quick' : ''}.json`);
// --render: rebuild the markdown from the last run's JSON (e.g. after editing core/ANALYSIS.md).
const rendering = args.includes('--render');
// --only merges the parts it runs into the last run's JSON.
const previous = (rendering || only) && existsSync(jsonFile) ? JSON.parse(readFileSync(jsonFile, 'utf8')) : {};
const res = rendering ? previous : { ...previous, quick, machine: machine(), notes: [] };
if (!rendering) await runSuites();

async function runSuites() {
  if (want('boundary')) {
    res.boundary = await runBoundary(cfg);
    log(`boundary: ${res.boundary.derived.perItemBad.toFixed(2)} ns/item (af=0 batch)`);
  }
  if (want('maglev')) {
    res.maglev = await runMaglev(cfg);
    log(`maglev: ${(res.maglev.rows[0].ns / 1e6).toFixed(2)} ms per rebuild (M=${res.maglev.mhTableSize})`);
  }
  if (want('services')) res.services = await runServices(cfg, [100, 5000, 20000, 30000, 100000], log);
  if (want('picks')) res.picks = await runPicks(cfg, [1, 10, 100, 1000], log);
  if (want('samework')) {
    res.samework = await runSameWork(cfg);
    log(`same work: ${res.samework.rows.map((r) => `${r.sched} ${r.ratio.toFixed(2)}x`).join(', ')}`);
  }

  res.seconds = (Date.now() - t0) / 1000;
  res.loadEnd = os.loadavg().map((x) => x.toFixed(2)).join(' ');
  for (const r of res.picks?.rows ?? []) {
    if (r.connsKept) res.notes.push(`${r.sched} n=${r.n}: the core returned connection ids for one-packet flows (a connection table is active).`);
    for (const m of r.missingPeers ?? []) res.notes.push(`peer unavailable for ${r.sched} n=${r.n}: ${m}`);
  }
  res.notes = [...new Set(res.notes)];
  mkdirSync(here('./out'), { recursive: true });
  writeFileSync(jsonFile, JSON.stringify(res, null, 1));
}

if (res.picks && res.services && res.boundary && res.maglev) {
  const analysisFile = here('./core/ANALYSIS.md');
  const analysis = existsSync(analysisFile) ? readFileSync(analysisFile, 'utf8') : '';
  const md = renderReport(res, quick ? '' : analysis) + (res.samework ? `\n\n${renderSameWork(res.samework)}\n` : '');
  const target = quick ? here('./out/REPORT-core.quick.md') : here('./REPORT-core.md');
  writeFileSync(target, md);
  log(`wrote ${target}`);
} else {
  log('JSON written to bench/out/; the markdown report needs every part (run once without --only)');
}
log(rendering ? 'rendered' : `done in ${res.seconds.toFixed(0)} s`);
// The connection-table suite (part `conn`) runs in its own process: its JS baselines hold GBs of heap.
if (want('conn')) {
  const r = (await import('node:child_process')).spawnSync(process.execPath, [here('./conn/run.mjs'), ...args.filter((a) => a === '--quick' || a === '--render')], { stdio: 'inherit' });
  if (r.status !== 0) process.exitCode = r.status ?? 1;
}
