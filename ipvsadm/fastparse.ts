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
// each token is parsed where it stands while the line's end is looked for
// (no token arrays, no substrings, no per-line objects, no byte read twice
// but a scheduler name's), options dispatch on a switch, and the record is
// written straight into the writer's words. This is most of a big -R's time in wasmvsadm.
import { PackedWriter, PACKED_OPS, P_OP, P_VADDR, P_VPORT, P_SCHED, P_RADDR, P_RPORT, P_WEIGHT, P_U, P_L } from '../sdk/packed.js';
import { SCHEDULERS, schedulerId } from '../sdk/schedulers.js';
import { layout as L } from '../sdk/core/abi.gen.js';

const INT_MAX = 2147483647;
const SPACE = 32, TAB = 9, CR = 13, NL = 10, DASH = 45, COLON = 58, DOT = 46;
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

// Results of addrEnd and the line count of fastLines live in typed arrays: a module
// variable above 2^30 would box every store (a heap number per token), and a module
// `let` costs a hole check on every access.
const hpAddr = new Uint32Array(1);
const hpPort = new Int32Array(1);
/** Lines the last fastLines call took. */
const taken = new Int32Array(1);

const isBlank = (c: number) => c === SPACE || c === TAB || c === CR || c === NL;

/**
 * The token at `from` as `a.b.c.d` or `a.b.c.d:port`, read up to its end (a
 * blank, '\n' or `to`): sets hpAddr/hpPort (-1 = no port) and returns where the
 * token ends, or -1 when it is not that shape. Each octet 1..3 digits, no
 * leading zero, at most 255; the port canonical decimal, at most 65535.
 */
function addrEnd(s: Uint8Array, from: number, to: number): number {
  let addr = 0, octet = 0, digits = 0, dots = 0, i = from, c = 0;
  for (; i < to; i++) {
    c = s[i];
    if (c === DOT || c === COLON || isBlank(c)) break;
    const d = c - 48;
    if (d < 0 || d > 9 || ++digits > 3) return -1;
    octet = octet * 10 + d;
    if (i + 1 < to) {
      const e = s[i + 1];
      if (e !== DOT) continue;
      if (digits > 1 && s[i + 1 - digits] === 48) return -1;
      if (octet > 255 || ++dots > 3) return -1;
      addr = addr * 256 + octet;
      octet = 0; digits = 0;
      i++;
    }
  }
  // The last octet ends at ':' or the token's end.
  if (dots !== 3 || digits === 0 || octet > 255 || (digits > 1 && s[i - digits] === 48)) return -1;
  hpAddr[0] = addr * 256 + octet;
  if (i >= to || c !== COLON) { hpPort[0] = -1; return i; }
  // i at ':' (a '.' here would be a fifth part: refused above by dots or below by the digit loop).
  let port = 0, n = 0;
  const p0 = ++i;
  for (; i < to; i++) {
    c = s[i];
    if (isBlank(c)) break;
    const d = c - 48;
    if (d < 0 || d > 9 || ++n > 5) return -1;
    port = port * 10 + d;
  }
  if (n === 0 || (n > 1 && s[p0] === 48) || port > 65535) return -1;
  hpPort[0] = port;
  return i;
}

/** The end of the token at `from` (a blank, '\n' or `to`). */
function tokenEnd(s: Uint8Array, from: number, to: number): number {
  let i = from;
  while (i < to && !isBlank(s[i])) i++;
  return i;
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

/**
 * Read the line at `from` (up to its '\n' or `to`) in one pass, each token
 * parsed where it stands; when it has the fast shape append its record to
 * `out` and return where the line ends, else return -1 (out unchanged).
 * Tokens are split on blanks (space, tab, CR) and `ipvsadm` is dropped
 * wherever it stands, as restoreArgv does. A fast line has at most 14 tokens
 * (each option once): a longer line fails on a repeated option.
 */
function lineRecord(s: Uint8Array, from: number, to: number, out: PackedWriter): number {
  let op = 0, ok = 0, key = 0, opt = 0;
  let proto = 0, method: number = L.METHOD_ROUTE, sched = WLC, weight = 1, u = 0, l = 0;
  let vAddr = -1, vPort = 0, rAddr = -1, rPort = -1, rBeforeSvc = false, seen = 0;
  let i = from;
  for (;;) {
    let c = 0;
    while (i < to && ((c = s[i]) === SPACE || c === TAB || c === CR)) i++;
    if (i >= to || c === NL) break;
    if (c === 105 && i + 7 <= to && bytesAt(s, i, IPVSADM) && (i + 7 === to || isBlank(s[i + 7]))) { i += 7; continue; }
    if (key === 0) {
      // An option: `-X` alone (the command first).
      if (c !== DASH || i + 1 >= to || (i + 2 < to && !isBlank(s[i + 2]))) return -1;
      const x = s[i + 1];
      i += 2;
      if (op === 0) {
        op = opOf(x);
        if (op === 0) return -1;
        ok = allowed(op);
        continue;
      }
      const k = bit(x);
      if ((k & ok) === 0 || (k & seen) !== 0) return -1;
      seen |= k;
      if (k === M) { method = x === 109 ? L.METHOD_MASQ : x === 103 ? L.METHOD_ROUTE : L.METHOD_TUNNEL; continue; }
      key = k; opt = x;
      continue;
    }
    // The value of option `key`, in ipvsadm's order of effects.
    if (c === DASH) return -1;
    if (key === T) {
      proto = opt === 116 ? L.PROTO_TCP : L.PROTO_UDP;
      i = addrEnd(s, i, to);
      if (i < 0 || hpPort[0] < 0) return -1;
      vAddr = hpAddr[0]; vPort = hpPort[0];
    } else if (key === R) {
      i = addrEnd(s, i, to);
      if (i < 0) return -1;
      rAddr = hpAddr[0]; rPort = hpPort[0]; rBeforeSvc = vAddr < 0;
    } else {
      const e = tokenEnd(s, i, to);
      if (key === S) {
        sched = scheduler(s, i, e);
        if (sched < 0) return -1;
      } else {
        const v = decimal(s, i, e, key === W ? 5 : 10, key === W ? 65535 : INT_MAX);
        if (v < 0) return -1;
        if (key === W) weight = v; else if (key === X) u = v; else l = v;
      }
      i = e;
    }
    key = 0;
  }
  // An option missing its value, or no service: the full parser says what is wrong.
  if (key !== 0 || vAddr < 0) return -1;
  const dest = op >= ADD_SERVER;
  // Port 0 is an error for a non-persistent -A/-E; parseArgs says so.
  if (!dest && op !== DELETE_SERVICE && vPort === 0) return -1;
  // A port-less -r before -t takes port 0 in ipvsadm: rare, left to parseArgs.
  if (dest && (rAddr < 0 || (rPort < 0 && rBeforeSvc))) return -1;
  const p = out.next();
  const w = out.words;
  w[p + P_OP] = op | (proto << 8) | (method << 16);
  w[p + P_VADDR] = vAddr;
  w[p + P_VPORT] = vPort;
  w[p + P_SCHED] = sched;
  if (!dest) return i;
  // ipvsadm: a port-less -r takes the service's; DR and TUN always keep the VIP's port.
  const fixed = op !== DELETE_SERVER && (method === L.METHOD_ROUTE || method === L.METHOD_TUNNEL);
  w[p + P_RADDR] = rAddr;
  w[p + P_RPORT] = fixed || rPort < 0 ? vPort : rPort;
  w[p + P_WEIGHT] = weight;
  w[p + P_U] = u;
  w[p + P_L] = l;
  return i;
}

/**
 * Append the -R line s[from, to) to `out` when it has the fast shape; false =
 * use parseArgs (out unchanged). Blank and comment lines are not fast lines.
 */
export function fastRange(s: Uint8Array, from: number, to: number, out: PackedWriter): boolean {
  return lineRecord(s, from, to, out) >= 0;
}

/**
 * fastRange over consecutive lines from `from` (a line start) up to `to` (a
 * line end or the end of the text): returns the start of the first line that
 * is not of the fast shape (or `to`); fastLinesTaken() says how many lines
 * became records.
 */
export function fastLines(s: Uint8Array, from: number, to: number, out: PackedWriter): number {
  let lines = 0, a = from;
  while (a < to) {
    const end = lineRecord(s, a, to, out);
    if (end < 0) break;
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

