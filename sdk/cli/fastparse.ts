// A fast path for the -R lines that make up nearly every big restore:
// -A/-E/-D/-a/-e/-d with -t/-u, dotted IPv4 with canonical decimal ports,
// a known -s, -r, -m/-g/-i, -w/-x/-y. A line of that shape becomes a packed
// record equal to what parseArgs would build (the tests compare the two);
// anything else (and anything that would be an error) returns false so that
// the full parser runs and prints ipvsadm's message. Works on character
// codes of the input text: no per-line strings or arrays.
import { PackedWriter, PACKED_OPS, P_OP, P_VADDR, P_VPORT, P_SCHED, P_RADDR, P_RPORT, P_WEIGHT, P_U, P_L } from '../src/packed.js';
import { schedulerId } from '../src/schedulers.js';
import { layout as L } from '../src/core/abi.gen.js';

const INT_MAX = 2147483647;
const SPACE = 32, TAB = 9, CR = 13, DASH = 45, COLON = 58, DOT = 46;
/** Most tokens a fast line has (`-a -t A -r B -m -w N -x N -y N` = 11). */
const MAX_TOKENS = 16;
const starts = new Int32Array(MAX_TOKENS);
const ends = new Int32Array(MAX_TOKENS);

const OPS: Record<number, number> = {
  65: PACKED_OPS['add-service'], 69: PACKED_OPS['edit-service'], 68: PACKED_OPS['delete-service'],
  97: PACKED_OPS['add-server'], 101: PACKED_OPS['edit-server'], 100: PACKED_OPS['delete-server'],
};
const METHOD: Record<number, number> = { 109: L.METHOD_MASQ, 103: L.METHOD_ROUTE, 105: L.METHOD_TUNNEL };
// Option bits; -u counts as -t and -g/-i as -m (one of each at most, as ipvsadm's matrix says).
const T = 1, S = 2, R = 4, M = 8, W = 16, X = 32, Y = 64;
const BIT: Record<number, number> = { 116: T, 117: T, 115: S, 114: R, 109: M, 103: M, 105: M, 119: W, 120: X, 121: Y };
/** Options each command may carry on the fast path (ipvsadm allows more; those go the slow way). */
const ALLOWED: Record<number, number> = {
  [PACKED_OPS['add-service']]: T | S, [PACKED_OPS['edit-service']]: T | S, [PACKED_OPS['delete-service']]: T,
  [PACKED_OPS['add-server']]: T | R | M | W | X | Y, [PACKED_OPS['edit-server']]: T | R | M | W | X | Y, [PACKED_OPS['delete-server']]: T | R,
};
const schedCache = new Map<string, number | undefined>();

/** Canonical decimal ("0" or no leading zero) of at most `digits` digits, value <= max; else -1. */
function decimal(s: string, from: number, to: number, digits: number, max: number): number {
  const n = to - from;
  if (n < 1 || n > digits || (n > 1 && s.charCodeAt(from) === 48)) return -1;
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v <= max ? v : -1;
}

let hpAddr = 0;
let hpPort = -1;
/** `a.b.c.d` or `a.b.c.d:port` in s[from, to): sets hpAddr/hpPort (-1 = no port); false when not that shape. */
function hostPort(s: string, from: number, to: number): boolean {
  let addr = 0, start = from, dots = 0, i = from;
  for (; i <= to; i++) {
    const c = i < to ? s.charCodeAt(i) : COLON;
    if (c !== DOT && c !== COLON) continue;
    const b = decimal(s, start, i, 3, 255);
    if (b < 0) return false;
    addr = addr * 256 + b;
    start = i + 1;
    if (c === COLON) break;
    if (++dots > 3) return false;
  }
  if (dots !== 3) return false;
  hpAddr = addr;
  hpPort = i >= to ? -1 : decimal(s, i + 1, to, 5, 65535);
  return i >= to || hpPort >= 0;
}

/** Split s[from, to) into tokens (space, tab, CR), dropping `ipvsadm`; the count, or -1 when too many. */
function tokenize(s: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to;) {
    let c = s.charCodeAt(i);
    if (c === SPACE || c === TAB || c === CR) { i++; continue; }
    const b = i;
    while (i < to && (c = s.charCodeAt(i)) !== SPACE && c !== TAB && c !== CR) i++;
    if (i - b === 7 && s.startsWith('ipvsadm', b)) continue;
    if (n === MAX_TOKENS) return -1;
    starts[n] = b; ends[n] = i; n++;
  }
  return n;
}

/** `-X` as a token: the letter's code, else 0. */
function shortOpt(s: string, k: number): number {
  return ends[k] - starts[k] === 2 && s.charCodeAt(starts[k]) === DASH ? s.charCodeAt(starts[k] + 1) : 0;
}

/** The line being parsed (one reused object: no allocation per line). */
const x = { proto: 0, method: 0, sched: -2, weight: 1, u: 0, l: 0, vAddr: -1, vPort: 0, rAddr: -1, rPort: -1, rBeforeSvc: false };

function scheduler(name: string): number | undefined {
  if (!schedCache.has(name)) schedCache.set(name, schedulerId(name));
  return schedCache.get(name);
}

/** Tokens 1..n-1 of the line into `x`, in ipvsadm's order of effects; false = not the fast shape. */
function options(s: string, n: number, allowed: number): boolean {
  let seen = 0;
  for (let k = 1; k < n; k++) {
    const c = shortOpt(s, k);
    const key = BIT[c] ?? 0;
    if ((key & allowed) === 0 || (key & seen) !== 0) return false;
    seen |= key;
    if (key === M) { x.method = METHOD[c]; continue; }
    if (++k >= n || s.charCodeAt(starts[k]) === DASH) return false;
    const a = starts[k], b = ends[k];
    if (key === T) {
      x.proto = c === 116 ? L.PROTO_TCP : L.PROTO_UDP;
      if (!hostPort(s, a, b) || hpPort < 0) return false;
      x.vAddr = hpAddr; x.vPort = hpPort;
    } else if (key === R) {
      if (!hostPort(s, a, b)) return false;
      x.rAddr = hpAddr; x.rPort = hpPort; x.rBeforeSvc = x.vAddr < 0;
    } else if (key === S) {
      const id = scheduler(s.slice(a, b));
      if (id === undefined) return false;
      x.sched = id;
    } else {
      const v = decimal(s, a, b, key === W ? 5 : 10, key === W ? 65535 : INT_MAX);
      if (v < 0) return false;
      if (key === W) x.weight = v; else if (key === X) x.u = v; else x.l = v;
    }
  }
  return true;
}

/**
 * Append the -R line s[from, to) to `out` when it has the fast shape; false =
 * use parseArgs (out unchanged). Blank and comment lines are not fast lines.
 */
export function fastRange(s: string, from: number, to: number, out: PackedWriter): boolean {
  const n = tokenize(s, from, to);
  if (n < 3) return false;
  const op = OPS[shortOpt(s, 0)];
  if (op === undefined) return false;
  x.proto = 0; x.method = L.METHOD_ROUTE; x.sched = -2; x.weight = 1; x.u = 0; x.l = 0;
  x.vAddr = -1; x.vPort = 0; x.rAddr = -1; x.rPort = -1; x.rBeforeSvc = false;
  if (!options(s, n, ALLOWED[op]) || x.vAddr < 0) return false;
  const dest = op >= PACKED_OPS['add-server'];
  // Port 0 is an error for a non-persistent -A/-E; parseArgs says so.
  if (!dest && op !== PACKED_OPS['delete-service'] && x.vPort === 0) return false;
  // A port-less -r before -t takes port 0 in ipvsadm: rare, left to parseArgs.
  if (dest && (x.rAddr < 0 || (x.rPort < 0 && x.rBeforeSvc))) return false;
  const p = out.next();
  const w = out.words;
  w[p + P_OP] = op | (x.proto << 8) | (x.method << 16);
  w[p + P_VADDR] = x.vAddr;
  w[p + P_VPORT] = x.vPort;
  w[p + P_SCHED] = x.sched === -2 ? WLC : x.sched;
  if (!dest) return true;
  // ipvsadm: a port-less -r takes the service's; DR and TUN always keep the VIP's port.
  const fixed = op !== PACKED_OPS['delete-server'] && (x.method === L.METHOD_ROUTE || x.method === L.METHOD_TUNNEL);
  w[p + P_RADDR] = x.rAddr;
  w[p + P_RPORT] = fixed || x.rPort < 0 ? x.vPort : x.rPort;
  w[p + P_WEIGHT] = x.weight;
  w[p + P_U] = x.u;
  w[p + P_L] = x.l;
  return true;
}

const WLC = schedulerId('wlc')!;

/** fastRange over an argv (tokens joined with spaces). */
export function fastLine(argv: readonly string[], out: PackedWriter): boolean {
  const s = argv.join(' ');
  return fastRange(s, 0, s.length, out);
}
