// Director.applyPacked: packed configuration records (packed.ts) validated in
// JS, then applied with one core call (cfgBatch) per BULK_MAX records. The
// checks are those of spec.ts and of the control handler, so a record fails
// with the error its ConfigCmd would get.
import type { Core } from './core/core.js';
import { layout as L } from './core/abi.gen.js';
import { errorFromStatus, invalid, SchedulerNotFoundError, OutOfRangeError, WasmvsError } from './errors.js';
import { schedulerName } from './schedulers.js';
import { PACKED_WORDS, P_OP, P_VADDR, P_VPORT, P_SCHED, P_RADDR, P_RPORT, P_WEIGHT, P_U, P_L, packedProtocol, isServiceOp } from './packed.js';

export interface PackedFailure { index: number; error: WasmvsError }
export interface PackedOutcome {
  /** Records applied or attempted (all of them unless stopOnError stopped early). */
  done: number;
  failures: PackedFailure[];
}

const INT_MAX = 2147483647;
const W = L.BULK_RECORD_SIZE / 4;
const SVC = L.BULK_SVC / 4;
const DST = L.BULK_DST / 4;

// The writer below stores whole words: the spec layouts must keep these offsets.
if (L.SVC_AF !== 0 || L.SVC_PROTO !== 1 || L.SVC_PORT !== 2 || L.SVC_ADDR !== 8 || L.SVC_SCHED !== 24 || L.SVC_NETMASK !== 36
  || L.DST_AF !== 0 || L.DST_METHOD !== 1 || L.DST_PORT !== 2 || L.DST_ADDR !== 4 || L.DST_WEIGHT !== 20
  || L.DST_UTHRESH !== 24 || L.DST_LTHRESH !== 28 || L.BULK_SVC % 4 !== 0 || L.BULK_DST % 4 !== 0) {
  throw new Error('bulk.ts: record layout changed');
}

/** The error a record gets before it reaches the core, or null when it is well formed. */
function check(words: Uint32Array, p: number): WasmvsError | null {
  const w0 = words[p + P_OP];
  const op = w0 & 0xff;
  if (op < L.BULK_ADD_SERVICE || op > L.BULK_DELETE_DEST || packedProtocol(w0) === undefined || words[p + P_VPORT] > 0xffff) {
    return invalid.vaddr();
  }
  if (op === L.BULK_ADD_SERVICE || op === L.BULK_EDIT_SERVICE) {
    if (schedulerName(words[p + P_SCHED]).startsWith('#')) return new SchedulerNotFoundError();
    // Packed services are never persistent.
    if (words[p + P_VPORT] === 0) return invalid.zeroPort();
    return null;
  }
  if (isServiceOp(op)) return null;
  if (words[p + P_RPORT] > 0xffff) return invalid.raddr();
  if (op === L.BULK_DELETE_DEST) return null;
  // The control handler's check comes first (IPVS: ERANGE for l > u).
  if (words[p + P_L] > words[p + P_U]) return new OutOfRangeError('lower threshold is higher than upper threshold');
  if (words[p + P_WEIGHT] > 0xffff) return invalid.weight();
  if (words[p + P_U] > INT_MAX) return invalid.uThreshold();
  if (words[p + P_L] > INT_MAX) return invalid.lThreshold();
  if (((w0 >>> 16) & 0xff) > L.METHOD_ROUTE) return invalid.method((w0 >>> 16) & 0xff);
  return null;
}

/** Write record `p` of `words` as core record `r` at word index `base`. */
function store(m: Uint32Array, base: number, r: number, words: Uint32Array, p: number): void {
  const q = base + r * W;
  m.fill(0, q, q + W);
  const w0 = words[p + P_OP];
  m[q] = w0 & 0xff;
  const s = q + SVC;
  m[s] = 4 | (((w0 >>> 8) & 0xff) << 8) | (words[p + P_VPORT] << 16);
  m[s + 2] = words[p + P_VADDR];
  m[s + 6] = words[p + P_SCHED];
  m[s + 9] = 0xffffffff;
  const d = q + DST;
  m[d] = 4 | (((w0 >>> 16) & 0xff) << 8) | (words[p + P_RPORT] << 16);
  m[d + 1] = words[p + P_RADDR];
  m[d + 5] = words[p + P_WEIGHT];
  m[d + 6] = words[p + P_U];
  m[d + 7] = words[p + P_L];
}

/**
 * Apply `count` packed records in order. Without stopOnError every record is
 * tried and failures are listed; with it the first failure ends the run
 * (records before it stay applied: the caller rolls back if it must).
 */
export function applyPacked(core: Core, words: Uint32Array, count: number, stopOnError: boolean): PackedOutcome {
  if (!Number.isInteger(count) || count < 0 || count * PACKED_WORDS > words.length) throw invalid.vaddr();
  const failures: PackedFailure[] = [];
  const base = (core.base + L.REGION_BULK) / 4;
  let i = 0;
  while (i < count) {
    const m = core.words();
    const idx: number[] = [];
    // Fill a chunk with the well-formed records; the others fail here, in order.
    while (i < count && idx.length < L.BULK_MAX) {
      const p = i * PACKED_WORDS;
      const bad = check(words, p);
      if (bad) {
        if (idx.length > 0) break;
        failures.push({ index: i++, error: bad });
        if (stopOnError) return { done: i, failures };
        continue;
      }
      store(m, base, idx.length, words, p);
      idx.push(i++);
    }
    if (idx.length === 0) continue;
    const n = core.x.cfgBatch(idx.length, stopOnError ? 1 : 0);
    if (n < 0) throw errorFromStatus(n, 'other');
    const out = core.words();
    for (let r = 0; r < n; r++) {
      const st = out[base + r * W + L.BULK_STATUS / 4] | 0;
      if (st >= 0) continue;
      const at = idx[r];
      failures.push({ index: at, error: errorFromStatus(st, isServiceOp(words[at * PACKED_WORDS] & 0xff) ? 'service' : 'dest') });
      if (stopOnError) return { done: at + 1, failures };
    }
  }
  return { done: count, failures };
}
