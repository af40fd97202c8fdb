// A fast path for the -R lines that make up nearly every big restore:
// -A/-E/-D/-a/-e/-d with -t/-u, dotted IPv4 with canonical decimal ports,
// a known -s, -r, -m/-g/-i, -w/-x/-y. A line of that shape becomes a packed
// record equal to what parseArgs would build (the tests compare the two);
// anything else (and anything that would be an error) returns false so that
// the full parser runs and prints ipvsadm's message.
//
// One pass over the line's bytes (the input as read, never decoded to a
// string: a UTF-8 byte below 0x80 is that ASCII character, and no byte of a
// multi-byte character is one, so every non-ASCII line goes the slow way):
// each token is read where it stands (no token arrays, no substrings, no
// per-line objects), options dispatch on a switch, and the record is written
// straight into the writer's words. This is most of a big -R's time in wasmvsadm.
import { PackedWriter, PACKED_OPS, P_OP, P_VADDR, P_VPORT, P_SCHED, P_RADDR, P_RPORT, P_WEIGHT, P_U, P_L } from '../src/packed.js';
import { SCHEDULERS, schedulerId } from '../src/schedulers.js';
import { layout as L } from '../src/core/abi.gen.js';

const INT_MAX = 2147483647;
const SPACE = 32, TAB = 9, CR = 13, NL = 10, DASH = 45, COLON = 58, DOT = 46;
/** Most tokens a fast line has (`-a -t A -r B -m -w N -x N -y N` = 11); more go the slow way, as before. */
const MAX_TOKENS = 16;
// Option bits; -u counts as -t and -g/-i as -m (one of each at most, as ipvsadm's matrix says).
const T = 1, S = 2, R = 4, M = 8, W = 16, X = 32, Y = 64;
const ADD_SERVICE = PACKED_OPS['add-service'], EDIT_SERVICE = PACKED_OPS['edit-service'], DELETE_SERVICE = PACKED_OPS['delete-service'];
const ADD_SERVER = PACKED_OPS['add-server'], EDIT_SERVER = PACKED_OPS['edit-server'], DELETE_SERVER = PACKED_OPS['delete-server'];
const WLC = schedulerId('wlc')!;
const SCHED_NAMES = Object.keys(SCHEDULERS);
const SCHED_IDS = SCHED_NAMES.map((n) => schedulerId(n)!);
const SCHED_BYTES = SCHED_NAMES.map((n) => ascii(n));
const IPVSADM = ascii('ipvsadm');

function ascii(t: string): Uint8Array {
  const b = new Uint8Array(t.length);
  for (let i = 0; i < t.length; i++) b[i] = t.charCodeAt(i);
  return b;
}

/** s[a, a + w.length) is w. */
export function bytesAt(s: Uint8Array, a: number, w: Uint8Array): boolean {
  if (a + w.length > s.length) return false;
  for (let i = 0; i < w.length; i++) if (s[a + i] !== w[i]) return false;
  return true;
}

/** The option bit of `-c`, 0 for anything else. */
function bit(c: number): number {
  switch (c) {
    case 116: case 117: return T; // t u
    case 115: return S; // s
    case 114: return R; // r
    case 109: case 103: case 105: return M; // m g i
    case 119: return W; // w
    case 120: return X; // x
    case 121: return Y; // y
    default: return 0;
  }
}

/** Options each command may carry on the fast path (ipvsadm allows more; those go the slow way). */
function allowed(op: number): number {
  return op === ADD_SERVICE || op === EDIT_SERVICE ? T | S : op === DELETE_SERVICE ? T
    : op === DELETE_SERVER ? T | R : T | R | M | W | X | Y;
}

/** Canonical decimal ("0" or no leading zero) of at most `digits` digits, value <= max; else -1. */
function decimal(s: Uint8Array, from: number, to: number, digits: number, max: number): number {
  const n = to - from;
  if (n < 1 || n > digits || (n > 1 && s[from] === 48)) return -1;
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = s[i] - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v <= max ? v : -1;
}

// Results of hostPort, and the tokens of the current line, live in typed arrays: a module
// variable above 2^30 would box every store (a heap number per token), and a module `let`
// costs a hole check on every access.
const hpAddr = new Uint32Array(1);
const hpPort = new Int32Array(1);
/** `a.b.c.d` or `a.b.c.d:port` in s[from, to): sets hpAddr/hpPort (-1 = no port); false when not that shape. */
function hostPort(s: Uint8Array, from: number, to: number): boolean {
  let addr = 0, octet = 0, digits = 0, dots = 0, i = from;
  for (; i < to; i++) {
    const c = s[i];
    if (c === DOT || c === COLON) {
      // An octet: 1..3 digits, no leading zero, at most 255.
      if (digits === 0 || octet > 255 || (digits > 1 && s[i - digits] === 48)) return false;
      addr = addr * 256 + octet;
      octet = 0; digits = 0;
      if (c === COLON) break;
      if (++dots > 3) return false;
      continue;
    }
    const d = c - 48;
    if (d < 0 || d > 9 || ++digits > 3) return false;
    octet = octet * 10 + d;
  }
  if (i === to) {
    if (digits === 0 || octet > 255 || (digits > 1 && s[i - digits] === 48)) return false;
    addr = addr * 256 + octet;
  }
  if (dots !== 3) return false;
  hpAddr[0] = addr;
  if (i >= to) { hpPort[0] = -1; return true; }
  const port = decimal(s, i + 1, to, 5, 65535);
  hpPort[0] = port;
  return port >= 0;
}

function scheduler(s: Uint8Array, a: number, b: number): number {
  for (let k = 0; k < SCHED_BYTES.length; k++) {
    const name = SCHED_BYTES[k];
    if (name.length === b - a && bytesAt(s, a, name)) return SCHED_IDS[k];
  }
  return -1;
}

function opOf(c: number): number {
  switch (c) {
    case 65: return ADD_SERVICE; case 69: return EDIT_SERVICE; case 68: return DELETE_SERVICE; // A E D
    case 97: return ADD_SERVER; case 101: return EDIT_SERVER; case 100: return DELETE_SERVER; // a e d
    default: return 0;
  }
}

/** Start and end of each token of the current line (`ipvsadm` dropped), up to MAX_TOKENS. */
const tok = new Int32Array(2 * MAX_TOKENS);
/** Lines the last fastLines call took. */
const taken = new Int32Array(1);

/**
 * Split the line that starts at `from` (up to its '\n' or `to`) into tok; the
 * number of tokens (more than MAX_TOKENS: only the first ones are kept) in
 * `taken[0]`; returns where the line ends ('\n' or `to`).
 */
function tokenize(s: Uint8Array, from: number, to: number): number {
  let n = 0, i = from;
  for (;;) {
    let c = 0;
    while (i < to && ((c = s[i]) === SPACE || c === TAB || c === CR)) i++;
    if (i >= to || c === NL) break;
    const a = i;
    while (i < to && (c = s[i]) !== SPACE && c !== TAB && c !== CR && c !== NL) i++;
    // `ipvsadm` is dropped wherever it stands, like restoreArgv does.
    if (i - a === 7 && s[a] === 105 && bytesAt(s, a, IPVSADM)) continue;
    if (n < MAX_TOKENS) { tok[2 * n] = a; tok[2 * n + 1] = i; }
    n++;
  }
  taken[0] = n;
  return i;
}

/** Append the record of the tokenized line (n tokens) to `out` when it has the fast shape. */
function record(s: Uint8Array, n: number, out: PackedWriter): boolean {
  // Fewer than 3 tokens is no command with a service; more than MAX_TOKENS goes the slow way.
  if (n < 3 || n > MAX_TOKENS) return false;
  let a = tok[0], b = tok[1];
  if (b - a !== 2 || s[a] !== DASH) return false;
  const op = opOf(s[a + 1]);
  if (op === 0) return false;
  const ok = allowed(op);
  let proto = 0, method: number = L.METHOD_ROUTE, sched = WLC, weight = 1, u = 0, l = 0;
  let vAddr = -1, vPort = 0, rAddr = -1, rPort = -1, rBeforeSvc = false, seen = 0;
  // Options in ipvsadm's order of effects.
  for (let k = 1; k < n; k++) {
    a = tok[2 * k]; b = tok[2 * k + 1];
    const c = b - a === 2 && s[a] === DASH ? s[a + 1] : 0;
    const key = bit(c);
    if ((key & ok) === 0 || (key & seen) !== 0) return false;
    seen |= key;
    if (key === M) { method = c === 109 ? L.METHOD_MASQ : c === 103 ? L.METHOD_ROUTE : L.METHOD_TUNNEL; continue; }
    if (++k >= n) return false;
    a = tok[2 * k]; b = tok[2 * k + 1];
    if (s[a] === DASH) return false;
    if (key === T) {
      proto = c === 116 ? L.PROTO_TCP : L.PROTO_UDP;
      if (!hostPort(s, a, b) || hpPort[0] < 0) return false;
      vAddr = hpAddr[0]; vPort = hpPort[0];
    } else if (key === R) {
      if (!hostPort(s, a, b)) return false;
      rAddr = hpAddr[0]; rPort = hpPort[0]; rBeforeSvc = vAddr < 0;
    } else if (key === S) {
      sched = scheduler(s, a, b);
      if (sched < 0) return false;
    } else {
      const v = decimal(s, a, b, key === W ? 5 : 10, key === W ? 65535 : INT_MAX);
      if (v < 0) return false;
      if (key === W) weight = v; else if (key === X) u = v; else l = v;
    }
  }
  if (vAddr < 0) return false;
  const dest = op >= ADD_SERVER;
  // Port 0 is an error for a non-persistent -A/-E; parseArgs says so.
  if (!dest && op !== DELETE_SERVICE && vPort === 0) return false;
  // A port-less -r before -t takes port 0 in ipvsadm: rare, left to parseArgs.
  if (dest && (rAddr < 0 || (rPort < 0 && rBeforeSvc))) return false;
  const p = out.next();
  const w = out.words;
  w[p + P_OP] = op | (proto << 8) | (method << 16);
  w[p + P_VADDR] = vAddr;
  w[p + P_VPORT] = vPort;
  w[p + P_SCHED] = sched;
  if (!dest) return true;
  // ipvsadm: a port-less -r takes the service's; DR and TUN always keep the VIP's port.
  const fixed = op !== DELETE_SERVER && (method === L.METHOD_ROUTE || method === L.METHOD_TUNNEL);
  w[p + P_RADDR] = rAddr;
  w[p + P_RPORT] = fixed || rPort < 0 ? vPort : rPort;
  w[p + P_WEIGHT] = weight;
  w[p + P_U] = u;
  w[p + P_L] = l;
  return true;
}

/**
 * Append the -R line s[from, to) to `out` when it has the fast shape; false =
 * use parseArgs (out unchanged). Blank and comment lines are not fast lines.
 */
export function fastRange(s: Uint8Array, from: number, to: number, out: PackedWriter): boolean {
  tokenize(s, from, to);
  return record(s, taken[0], out);
}

/**
 * fastRange over consecutive lines from `from` (a line start) up to `to` (a
 * line end or the end of the text): returns the start of the first line that
 * is not of the fast shape (or `to`); fastLinesTaken() says how many lines
 * became records. One pass: the line's end is found while it is tokenized.
 */
export function fastLines(s: Uint8Array, from: number, to: number, out: PackedWriter): number {
  let lines = 0, a = from;
  while (a < to) {
    const end = tokenize(s, a, to);
    if (!record(s, taken[0], out)) break;
    lines++;
    a = end + 1;
  }
  taken[0] = lines;
  return a < to ? a : to;
}

/** Lines the last fastLines call turned into records. */
export const fastLinesTaken = (): number => taken[0];

/** fastRange over an argv (tokens joined with spaces, as UTF-8). */
export function fastLine(argv: readonly string[], out: PackedWriter): boolean {
  const s = new TextEncoder().encode(argv.join(' '));
  return fastRange(s, 0, s.length, out);
}

