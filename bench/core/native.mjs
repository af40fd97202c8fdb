// The native core (wasm2c's C translation, in the addon) beside the
// WebAssembly core, same run, same work: a bare call from JS, and decisions
// per item inside one schedule(1024) call for five schedulers (scheduling
// only, and with the connection table on). Ratios native / wasm: above 1 is
// slower. `node bench/core/native.mjs [--quick]` (needs `npm run build:native`
// with wabt installed).
import { Director } from 'wasmvs';
import { coreOf } from 'wasmvs/core';
import { loadNativeCore } from '../../dist/native/addon.js';
import { measure, settings, sink, machine } from './harness.mjs';
import { pickService, fwFlowSpec, fillFlows, NOW, SEED } from './setup.mjs';

const B = 1024;
const cfg = settings(process.argv.includes('--quick'));
const n = loadNativeCore();
if (n.exports === null) {
  process.stderr.write(`native core unavailable: ${n.why}\n`);
  process.exit(1);
}

async function director(native, track) {
  return Director.create({ seed: SEED, flavor: 'release', clock: () => NOW, ...(track ? {} : { connections: false }),
    ...(native ? { exports: loadNativeCore().exports } : {}) });
}

const CASES = [['rr', 16, false], ['wlc', 100, false], ['mh', 64, false], ['sh', 64, false], ['lblc', 16, false], ['wlc', 100, true]];
const rows = [];
for (const kind of ['wasm', 'native']) {
  const cases = [];
  const d0 = await director(kind === 'native', false);
  const x0 = coreOf(d0).x;
  cases.push({ name: `${kind} bare call (abiVersion)`, ops: 256, fn: () => { for (let i = 0; i < 256; i++) sink.v += x0.abiVersion(); } });
  for (const [sched, dests, track] of CASES) {
    const d = await director(kind === 'native', track);
    pickService(d, 7, sched, dests);
    const x = coreOf(d).x;
    let k = 0;
    // Fresh flows each iteration (new clients: every one a decision, and with the table on a new entry).
    cases.push({ name: `${kind} schedule(1024) ${sched}${track ? ' +table' : ''}, per item`, ops: B,
      beforeEach: () => { fillFlows(d, B, (i) => fwFlowSpec(7, i), k); k = (k + B) % 60000; },
      fn: () => { sink.v += x.schedule(B, NOW); } });
  }
  rows.push(...measure(cfg, cases));
}
const m = machine?.() ?? {};
console.log(`# native core vs WebAssembly core (${new Date().toISOString()}, ${m.cpu ?? ''})`);
console.log('| case | wasm ns | native ns | native / wasm |');
console.log('|---|---:|---:|---:|');
const half = rows.length / 2;
for (let i = 0; i < half; i++) {
  const w = rows[i], v = rows[i + half];
  console.log(`| ${w.name.replace(/^wasm /, '')} | ${w.ns.toFixed(1)} | ${v.ns.toFixed(1)} | ${(v.ns / w.ns).toFixed(2)} |`);
}
