// The one configuration pipeline. Every -A/-E/-D/-a/-e/-d, whether a single
// Director call or a record of a packed -R, becomes one core bulk record
// (op word, a service spec and a dest spec in the REGION_SPEC layouts,
// table/bulk.ts), is checked by checkRecord (ipvsadm's messages) and applied
// by cfgBatch, which runs the core's control.ts validators. spec.ts only
// encodes objects (addresses, names, types); packed.ts records are expanded
// here. A record fails with the same error on either path.
import type { Core, ServiceSpec, DestSpec } from './core/core.js';
import { layout as L } from './core/abi.gen.js';
import { errorFromStatus, invalid, SchedulerNotFoundError, OutOfRangeError, WasmvsError } from './errors.js';
import { schedulerName, MH_PRIMES } from './schedulers.js';
import { PACKED_WORDS, P_OP, P_VADDR, P_VPORT, P_SCHED, P_RADDR, P_RPORT, P_WEIGHT, P_U, P_L, packedProtocol, isServiceOp } from './packed.js';

export interface PackedFailure { index: number; error: WasmvsError }
export interface PackedOutcome {
  /** Records applied or attempted (all of them unless stopOnError stopped early). */
  done: number;
  failures: PackedFailure[];
}

const INT_MAX = 2147483647;
const MAX_PERSISTENT_TIMEOUT = 2678400;
/** Words per core record, and the service and dest specs' word offsets in it. */
const W = L.BULK_RECORD_SIZE / 4;
const SVC = L.BULK_SVC / 4;
const DST = L.BULK_DST / 4;

// The writers below store whole words: the spec layouts must keep these offsets.
if (L.SVC_AF !== 0 || L.SVC_PROTO !== 1 || L.SVC_PORT !== 2 || L.SVC_FWMARK !== 4 || L.SVC_ADDR !== 8 || L.SVC_SCHED !== 24
  || L.SVC_FLAGS !== 28 || L.SVC_TIMEOUT !== 32 || L.SVC_NETMASK !== 36 || L.SVC_MH_PRIME !== 40
  || L.DST_AF !== 0 || L.DST_METHOD !== 1 || L.DST_PORT !== 2 || L.DST_ADDR !== 4 || L.DST_WEIGHT !== 20
  || L.DST_UTHRESH !== 24 || L.DST_LTHRESH !== 28 || L.DST_TUN_TYPE !== 32 || L.DST_TUN_FLAGS !== 33 || L.DST_TUN_PORT !== 34
  || L.BULK_SVC % 4 !== 0 || L.BULK_DST % 4 !== 0 || L.BULK_OP !== 0 || L.BULK_STATUS !== 4) {
  throw new Error('bulk.ts: record layout changed');
}

const isDestOp = (op: number) => op >= L.BULK_ADD_DEST;
const opKind = (op: number): 'service' | 'dest' => (isServiceOp(op) ? 'service' : 'dest');

/**
 * The validator: the error core record `q` (word index in `m`) gets before it
 * reaches the core, or null. Checks on values (ranges, combinations); what
 * cannot be encoded at all (a bad address, an unknown name) was refused by
 * the encoder. The core then checks existence and memory (control.ts).
 */
export function checkRecord(m: Uint32Array, q: number): WasmvsError | null {
  const op = m[q];
  const s = q + SVC;
  const af = m[s] & 0xff;
  const fwmark = m[s + 1];
  const proto = (m[s] >>> 8) & 0xff;
  if ((af !== 4 && af !== 6) || (fwmark === 0 && proto !== L.PROTO_TCP && proto !== L.PROTO_UDP && proto !== L.PROTO_SCTP)) return invalid.vaddr();
  if (op === L.BULK_ADD_SERVICE || op === L.BULK_EDIT_SERVICE) {
    if (schedulerName(m[s + 6]).startsWith('#')) return new SchedulerNotFoundError();
    const flags = m[s + 7];
    const persistent = (flags & L.SVC_F_PERSISTENT) !== 0;
    if (persistent && (m[s + 8] < 1 || m[s + 8] > MAX_PERSISTENT_TIMEOUT)) return invalid.timeout(m[s + 8]);
    if (af === 6 && (m[s + 9] < 1 || m[s + 9] > 128)) return invalid.netmask6();
    if ((flags & L.SVC_F_ONEPACKET) && fwmark === 0 && proto !== L.PROTO_UDP) return invalid.ops();
    if (fwmark === 0 && (m[s] >>> 16) === 0 && !persistent) return invalid.zeroPort();
    if (m[s + 10] !== 0 && !MH_PRIMES.includes(m[s + 10])) return invalid.mhTableSize(m[s + 10]);
    return null;
  }
  if (!isDestOp(op) || op === L.BULK_DELETE_DEST) return null;
  const d = q + DST;
  const u = m[d + 6], l = m[d + 7];
  // ipvsadm's own checks first, then the kernel's (ip_vs_ctl.c: ERANGE for l > u).
  if (m[d + 5] > 0xffff) return invalid.weight();
  if (u > INT_MAX) return invalid.uThreshold();
  if (l > INT_MAX) return invalid.lThreshold();
  const method = (m[d] >>> 8) & 0xff;
  if (method > L.METHOD_ROUTE) return invalid.method(method);
  if ((m[d] & 0xff) !== af && method !== L.METHOD_TUNNEL) return invalid.family();
  if (l > u) return new OutOfRangeError('lower threshold is higher than upper threshold');
  return null;
}

/** Write `svc` as the service spec of the record at word `q` (the record is zeroed first). */
function writeRecord(m: Uint32Array, q: number, op: number, svc: ServiceSpec, dst: DestSpec | null): void {
  m.fill(0, q, q + W);
  m[q] = op;
  const s = q + SVC;
  m[s] = (svc.af & 0xff) | ((svc.proto & 0xff) << 8) | ((svc.port & 0xffff) << 16);
  m[s + 1] = svc.fwmark;
  const a = svc.addr;
  m[s + 2] = a[0]; m[s + 3] = a[1]; m[s + 4] = a[2]; m[s + 5] = a[3];
  m[s + 6] = svc.sched; m[s + 7] = svc.flags; m[s + 8] = svc.timeout; m[s + 9] = svc.netmask; m[s + 10] = svc.mhPrime;
  if (dst === null) return;
  const d = q + DST;
  m[d] = (dst.af & 0xff) | ((dst.method & 0xff) << 8) | ((dst.port & 0xffff) << 16);
  const b = dst.addr;
  m[d + 1] = b[0]; m[d + 2] = b[1]; m[d + 3] = b[2]; m[d + 4] = b[3];
  m[d + 5] = dst.weight; m[d + 6] = dst.uThreshold; m[d + 7] = dst.lThreshold;
  m[d + 8] = (dst.tunType & 0xff) | ((dst.tunFlags & 0xff) << 8) | ((dst.tunPort & 0xffff) << 16);
}

/**
 * One command through the pipeline (a batch of one): encode, check, apply.
 * Returns the record's status (an id, or OK); throws its error.
 */
export function applyOne(core: Core, op: number, svc: ServiceSpec, dst: DestSpec | null): number {
  const m = core.words();
  const q = (core.base + L.REGION_BULK) / 4;
  writeRecord(m, q, op, svc, dst);
  const bad = checkRecord(m, q);
  if (bad) throw bad;
  const n = core.x.cfgBatch(1, 1);
  if (n < 0) throw errorFromStatus(n, 'other');
  const st = core.words()[q + L.BULK_STATUS / 4] | 0;
  if (st < 0) throw errorFromStatus(st, opKind(op));
  return st;
}

/**
 * Packed record `p` of `words` as core record `r` at word index `base`, and
 * its error, or null. The error is the one the encoder and checkRecord give
 * the record this writes (an IPv4 service by address and port, no flags, an
 * IPv4 dest), worked out from the packed words without reading it back.
 * Every word of the record is written (no fill first).
 */
function expand(m: Uint32Array, base: number, r: number, words: Uint32Array, p: number): WasmvsError | null {
  const w0 = words[p + P_OP];
  const op = w0 & 0xff;
  const vport = words[p + P_VPORT];
  // packedProtocol: TCP, UDP or SCTP only, so checkRecord's address check passes.
  if (op < L.BULK_ADD_SERVICE || op > L.BULK_DELETE_DEST || packedProtocol(w0) === undefined || vport > 0xffff) {
    return invalid.vaddr();
  }
  const dest = isDestOp(op);
  const rport = words[p + P_RPORT];
  if (dest && rport > 0xffff) return invalid.raddr();
  const q = base + r * W;
  m[q] = op;
  m[q + 1] = 0;
  const s = q + SVC;
  const sched = words[p + P_SCHED];
  m[s] = 4 | (((w0 >>> 8) & 0xff) << 8) | (vport << 16);
  m[s + 1] = 0;
  m[s + 2] = words[p + P_VADDR]; m[s + 3] = 0; m[s + 4] = 0; m[s + 5] = 0;
  m[s + 6] = sched; m[s + 7] = 0; m[s + 8] = 0; m[s + 9] = 0xffffffff; m[s + 10] = 0; m[s + 11] = 0;
  const d = q + DST;
  if (!dest) {
    m.fill(0, d, q + W);
    if (op === L.BULK_DELETE_SERVICE) return null;
    // checkRecord for -A/-E here: no flags, no timeout, no mh table size, IPv4.
    if (sched !== knownSched) {
      if (schedulerName(sched).startsWith('#')) return new SchedulerNotFoundError();
      knownSched = sched;
    }
    return vport === 0 ? invalid.zeroPort() : null;
  }
  const method = (w0 >>> 16) & 0xff;
  const weight = words[p + P_WEIGHT], u = words[p + P_U], l = words[p + P_L];
  m[d] = 4 | (method << 8) | (rport << 16);
  m[d + 1] = words[p + P_RADDR]; m[d + 2] = 0; m[d + 3] = 0; m[d + 4] = 0;
  m[d + 5] = weight; m[d + 6] = u; m[d + 7] = l; m[d + 8] = 0;
  for (let k = d + 9; k < q + W; k++) m[k] = 0;
  if (op === L.BULK_DELETE_DEST) return null;
  // checkRecord's dest checks, in its order (both families are IPv4).
  if (weight > 0xffff) return invalid.weight();
  if (u > INT_MAX) return invalid.uThreshold();
  if (l > INT_MAX) return invalid.lThreshold();
  if (method > L.METHOD_ROUTE) return invalid.method(method);
  if (l > u) return new OutOfRangeError('lower threshold is higher than upper threshold');
  return null;
}
/** The last scheduler id expand found known (ids never become unknown). */
let knownSched = -1;

/**
 * Apply `count` packed records in order, BULK_MAX per core call. Without
 * stopOnError every record is tried and failures are listed; with it the
 * first failure ends the run (records before it stay applied: the caller
 * rolls back if it must).
 */
export function applyPacked(core: Core, words: Uint32Array, count: number, stopOnError: boolean): PackedOutcome {
  if (!Number.isInteger(count) || count < 0 || count * PACKED_WORDS > words.length) throw invalid.vaddr();
  const failures: PackedFailure[] = [];
  const base = (core.base + L.REGION_BULK) / 4;
  const idx = new Int32Array(L.BULK_MAX);
  let i = 0;
  while (i < count) {
    const m = core.words();
    let n = 0;
    // Fill a chunk with the well-formed records; the others fail here, in order.
    while (i < count && n < L.BULK_MAX) {
      const bad = expand(m, base, n, words, i * PACKED_WORDS);
      if (bad) {
        if (n > 0) break;
        failures.push({ index: i++, error: bad });
        if (stopOnError) return { done: i, failures };
        continue;
      }
      idx[n++] = i++;
    }
    if (n === 0) continue;
    const got = core.x.cfgBatch(n, stopOnError ? 1 : 0);
    if (got < 0) throw errorFromStatus(got, 'other');
    const out = core.words();
    for (let r = 0; r < got; r++) {
      const st = out[base + r * W + L.BULK_STATUS / 4] | 0;
      if (st >= 0) continue;
      const at = idx[r];
      failures.push({ index: at, error: errorFromStatus(st, opKind(words[at * PACKED_WORDS] & 0xff)) });
      if (stopOnError) return { done: at + 1, failures };
    }
  }
  return { done: count, failures };
}
