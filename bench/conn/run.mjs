#!/usr/bin/env node
// `node bench/conn/run.mjs [--quick] [--render]` — the connection-table suite
// (bench/run.mjs starts it too). Needs `npm run build` (release
// core in build/, SDK in dist/). Full mode writes bench/REPORT-conn.md and
// bench/out/conn.json; --quick writes bench/out/REPORT-conn.quick.md and
// bench/out/conn.quick.json (smaller sizes; never replaces the report).
// --render rebuilds the markdown from the last JSON; --sizes a,b runs only
// those sizes (development: bench/out/*.dev.*).
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import os from 'node:os';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const rendering = args.includes('--render');

for (const f of ['../../dist/sdk/index.js', '../../build/wasmvs.wasm']) {
  if (!existsSync(here(f))) {
    console.error(`bench/conn: ${f.slice(6)} is missing; run \`npm run build\` first`);
    process.exit(2);
  }
}

const { settings, gc } = await import('./harness.mjs');
const { runSize } = await import('./suite.mjs');
const { renderReport } = await import('./report.mjs');

const cfg = settings(quick);
// --sizes 1e6,4e6: only these table sizes (development; the JSON goes to conn.dev.json, no report).
const sizesArg = args.indexOf('--sizes');
const dev = sizesArg >= 0;
if (dev) cfg.sizes = args[sizesArg + 1].split(',').map(Number);
const t0 = Date.now();
const log = (s) => console.log(`[conn ${((Date.now() - t0) / 1000).toFixed(0).padStart(3)}s] ${s}`);
const jsonFile = here(`../out/conn${dev ? '.dev' : quick ? '.quick' : ''}.json`);

/** Bytes per entry of each JS baseline, one child process per variant. */
function jsMemory(N) {
  return ['map-smi', 'map-obj', 'map-smi-cons', 'typed'].map((variant) => {
    const r = spawnSync(process.execPath, ['--expose-gc', here('./jsmem.mjs'), variant, String(N)], { encoding: 'utf8', timeout: 120e3 });
    if (r.status !== 0) return { variant, N, error: (r.stderr || r.error?.message || `exit ${r.status}`).trim().slice(0, 300) };
    return JSON.parse(r.stdout.trim().split('\n').pop());
  });
}

function machine() {
  const wasm = statSync(here('../../build/wasmvs.wasm'));
  return {
    core: { bytes: wasm.size, built: wasm.mtime.toISOString() },
    node: process.version, v8: process.versions.v8, cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length,
    loadStart: os.loadavg().map((x) => x.toFixed(2)).join(' '), date: new Date().toISOString(),
  };
}

let res;
if (rendering) {
  res = JSON.parse(readFileSync(jsonFile, 'utf8'));
} else {
  res = { quick, machine: machine(), settings: { ...cfg }, notes: [], sizes: [] };
  // Warm-up (discarded): V8 tiers the core and the JS baselines up before anything is timed.
  const warm = { ...cfg, time: 20, warmupTime: 5, rounds: 1, R: 1 << 14 };
  for (let k = 0; k < 2; k++) await runSize(warm, 50000, () => {}, []);
  gc();
  log('warmed up');
  for (const N of cfg.sizes) {
    try {
      res.sizes.push(await runSize(cfg, N, log, res.notes));
    } catch (e) {
      res.notes.push(`N=${N}: ${e.message}`);
      log(`N=${N} failed: ${e.message}`);
    }
    gc();
  }
  // Memory against N in finer steps: the allocator's doubling shows as steps in the delta.
  const { memoryAt } = await import('./core.mjs');
  res.memoryCurve = [];
  for (const N of cfg.memCurve) {
    res.memoryCurve.push(await memoryAt(N));
    gc();
  }
  res.jsMemory = jsMemory(cfg.memN);
  log(`JS baseline memory at ${cfg.memN}: ${res.jsMemory.map((m) => `${m.variant} ${m.perEntry?.toFixed(1) ?? m.error} B`).join(', ')}`);
  res.seconds = (Date.now() - t0) / 1000;
  res.machine.loadEnd = os.loadavg().map((x) => x.toFixed(2)).join(' ');
  mkdirSync(here('../out'), { recursive: true });
  writeFileSync(jsonFile, JSON.stringify(res, null, 1));
}
const target = dev ? here('../out/REPORT-conn.dev.md') : quick ? here('../out/REPORT-conn.quick.md') : here('../REPORT-conn.md');
const analysisFile = here('./ANALYSIS.md');
writeFileSync(target, renderReport(res, existsSync(analysisFile) && !quick ? readFileSync(analysisFile, 'utf8') : ''));
log(`wrote ${target}${rendering ? '' : ` (${res.seconds.toFixed(0)} s)`}`);
