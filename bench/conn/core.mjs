// The wasmvs connection table driven through the built package (release
// core, dist/ SDK): a TCP service, bulk inserts through the batched schedule
// path, ACK packets through the packet path, the bare batched lookup
// (connLookupBatch) and expiry cohorts. `now` is
// always passed in; the core never reads a clock.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Director } from 'wasmvs';
import { layout as L } from '../../dist/sdk/core/abi.gen.js';
import { FW, packFlow, flowSpec, SYN, ACK } from './keys.mjs';
import { coreOf } from 'wasmvs/core';

export const SEED = 0xc0ffee;
const VIP = { protocol: 'tcp', address: '198.19.255.254', port: 80 };
/** TCP ESTABLISHED timeout of the long-lived (background) entries; < one wheel turn (4096 s). */
export const LONG = 3000;
/** ESTABLISHED timeout of the expiry cohorts. */
export const SHORT = 20;

/**
 * The release core compiled once for the whole run, so every table of the
 * suite runs the same (tiered-up, after warmUp) machine code; a fresh compile
 * per table would start in V8's baseline tier and make the first one-shot
 * phases (inserts, expiry) measure the compiler instead of the table.
 */
let module = null;

export async function makeCore() {
  module ??= new WebAssembly.Module(readFileSync(fileURLToPath(new URL('../../build/wasmvs.wasm', import.meta.url))));
  const d = await Director.create({ seed: SEED, wasm: module, clock: () => 0 });
  d.setTimeouts({ tcp: LONG });
  d.addService(VIP, { scheduler: 'rr' });
  for (let i = 1; i <= 8; i++) d.addDest(VIP, { address: `198.19.0.${i}`, port: 8080, method: 'masq' });
  const flowW = (coreOf(d).base + L.REGION_FLOWS) >>> 2;
  if ((coreOf(d).base + L.REGION_FLOWS) % 4 !== 0) throw new Error('flow region not word aligned');
  checkLayout(d, flowW);
  return { d, core: coreOf(d), x: coreOf(d).x, flowW, B: coreOf(d).maxBatch };
}

/** The bench packs flow records itself; make sure it writes what core.writeFlow writes. */
function checkLayout(d, flowW) {
  coreOf(d).writeFlow(0, flowSpec(12345, SYN));
  const want = Array.from(coreOf(d).words().subarray(flowW, flowW + FW));
  const u32 = coreOf(d).words();
  packFlow(u32, flowW, 12345, SYN);
  const got = Array.from(u32.subarray(flowW, flowW + FW));
  if (want.join() !== got.join()) throw new Error(`flow layout mismatch: sdk ${want} bench ${got}`);
}

/**
 * Entries [from, to) through schedule() (SYN: each creates a connection) or
 * packetBatch() (ACK, direction in: a lookup of a known connection) at `now`,
 * in batches of the core's maximum. Times only the core calls.
 */
export function drive(c, kind, from, to, now) {
  let ns = 0;
  let ok = 0;
  const flags = kind === 'schedule' ? SYN : ACK;
  for (let i = from; i < to; i += c.B) {
    const n = Math.min(c.B, to - i);
    const u32 = c.core.words();
    for (let k = 0; k < n; k++) packFlow(u32, c.flowW + k * FW, i + k, flags);
    const t0 = process.hrtime.bigint();
    const r = kind === 'schedule' ? c.x.schedule(n, now) : c.x.packetBatch(n, now);
    ns += Number(process.hrtime.bigint() - t0);
    if (r < 0) throw new Error(`${kind} returned status ${r}`);
    ok += r;
  }
  return { ns, ok, n: to - from };
}

/** Status of decision k of the last batch (negative = failed). */
export function decisionStatus(c, k) {
  return c.core.words()[((c.core.base + L.REGION_DECISIONS + k * L.DECISION_SIZE) >>> 2) + (L.DEC_STATUS >>> 2)] | 0;
}

/** Connection id of decision k of the last packetBatch. */
export function decisionConn(c, k) {
  return c.core.words()[((c.core.base + L.REGION_DECISIONS + k * L.DECISION_SIZE) >>> 2) + (L.DEC_CONN >>> 2)];
}

/** Connection id k written by the last connLookupBatch (u32 words at REGION_LIST). */
export function lookupConn(c, k) {
  return c.core.words()[((c.core.base + L.REGION_LIST) >>> 2) + k];
}

/** Wasm memory size in bytes. */
export const wasmBytes = (c) => c.x.memory.buffer.byteLength;

/**
 * Expiry cohorts: sizes cycling [E, E/10, E/100] (at least 1), K of them.
 * Cohort k is created and established at second 10 + 2k with the SHORT
 * timeout, so it expires exactly at 30 + 2k and the odd seconds between
 * have nothing due.
 */
export function cohortPlan(N, K = 9) {
  const E = Math.max(1, Math.min(10000, Math.floor(N / 20)));
  const sizes = Array.from({ length: K }, (_, k) => Math.max(1, Math.floor(E / 10 ** (k % 3))));
  return { E, sizes, total: sizes.reduce((a, b) => a + b, 0) };
}

/** Wasm memory delta and the table's own bytes per entry after inserting N entries into a fresh table. */
export async function memoryAt(N) {
  const c = await makeCore();
  const before = wasmBytes(c);
  const r = drive(c, 'schedule', 0, N, 1);
  return { N, ok: r.ok, before, after: wasmBytes(c), table: c.x.connMemory() };
}
