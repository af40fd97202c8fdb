// The packed form of -R lines on the wire and in the state file: the encoding of
// packed records (base64 of their compact form, see compact()), the `--packed`
// journal lines that replay them, and the results a packed apply reports. Pure:
// no node: imports (Buffer when the host has it, atob/btoa in browsers).
import type { ErrorInfo } from './protocol.js';
import { PACKED_WORDS, P_OP, P_VADDR, P_VPORT, P_SCHED, P_RADDR, P_RPORT, P_WEIGHT, P_U, P_L, packedOpName, ipv4Text } from '../sdk/packed.js';
import { schedulerName } from '../sdk/schedulers.js';
import { layout as L } from '../sdk/core/abi.gen.js';

/** Records per request: keeps a request line far below MAX_LINE_BYTES (1M records ≈ 48 MB of base64). */
export const PACKED_BATCH = 1 << 20;

export interface PackedFailureInfo { index: number; error: ErrorInfo }
export interface PackedResults { done: number; failures: PackedFailureInfo[]; rolledBack?: boolean }

type B64 = { from(s: string | Uint8Array | ArrayBuffer, enc?: string | number, len?: number): Uint8Array & { toString(enc: string): string } };
const NodeBuffer = (globalThis as { Buffer?: B64 }).Buffer;

function toBase64(bytes: Uint8Array): string {
  if (NodeBuffer) return NodeBuffer.from(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

function fromBase64(text: string): Uint8Array | null {
  try {
    if (NodeBuffer) return NodeBuffer.from(text, 'base64');
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

/**
 * First byte of the compact form. A record's first byte is its op (1..6), so
 * records sent as raw words (36 bytes each, still accepted) never start with it.
 */
const COMPACT = 0xc5;

/**
 * The compact form of packed records: per record a 2-byte mask of the words
 * that differ from the previous record's, then each of those as a LEB128
 * varint of its zigzag difference. A -R's records repeat their service and
 * count addresses up, so this is about 6 bytes a record instead of 36: less
 * to encode, send, parse, decode, write to the state file and fsync.
 */
function compact(words: Uint32Array): Uint8Array {
  const n = words.length / PACKED_WORDS;
  // Worst case: mask + 9 five-byte varints a record.
  const out = new Uint8Array(1 + n * (2 + PACKED_WORDS * 5));
  out[0] = COMPACT;
  let o = 1;
  const prev = new Uint32Array(PACKED_WORDS);
  for (let p = 0; p < words.length; p += PACKED_WORDS) {
    let mask = 0;
    for (let k = 0; k < PACKED_WORDS; k++) if (words[p + k] !== prev[k]) mask |= 1 << k;
    out[o++] = mask & 0xff;
    out[o++] = mask >>> 8;
    // Only the words that changed (in a -R, mostly one: the next destination's address).
    for (let m = mask; m !== 0; m &= m - 1) {
      const k = 31 - Math.clz32(m & -m);
      const d = (words[p + k] - prev[k]) | 0;
      prev[k] = words[p + k];
      let z = ((d << 1) ^ (d >> 31)) >>> 0;
      while (z >= 0x80) { out[o++] = (z & 0x7f) | 0x80; z >>>= 7; }
      out[o++] = z;
    }
  }
  return out.subarray(0, o);
}

/** Records from the compact form, or null when the bytes are not one or hold more than `max` records. */
function expandCompact(bytes: Uint8Array, max: number): Uint32Array | null {
  // Two bytes can make a record: grow as records come rather than trust the length.
  let words = new Uint32Array(Math.min(max, Math.max(16, bytes.length >> 2)) * PACKED_WORDS);
  let count = 0;
  const prev = new Uint32Array(PACKED_WORDS);
  const n = bytes.length;
  let i = 1;
  while (i < n) {
    if (i + 2 > n) return null;
    const mask = bytes[i] | (bytes[i + 1] << 8);
    i += 2;
    if (mask >= 1 << PACKED_WORDS) return null;
    for (let m = mask; m !== 0; m &= m - 1) {
      const k = 31 - Math.clz32(m & -m);
      let z = 0, shift = 0, b = 0x80;
      while (b & 0x80) {
        if (i >= n || shift > 28) return null;
        b = bytes[i++];
        z |= (b & 0x7f) << shift;
        shift += 7;
      }
      prev[k] = prev[k] + ((z >>> 1) ^ -(z & 1));
    }
    if (count === max) return null;
    let q = count * PACKED_WORDS;
    if (q + PACKED_WORDS > words.length) {
      const w = new Uint32Array(Math.min(max, 2 * (words.length / PACKED_WORDS)) * PACKED_WORDS);
      w.set(words);
      words = w;
    }
    for (let k = 0; k < PACKED_WORDS; k++) words[q++] = prev[k];
    count++;
  }
  // A view, not a copy: the request's records are read once (1.2 MB less to allocate per 32,768).
  return words.subarray(0, count * PACKED_WORDS);
}

/** The wire (and state-file) text of packed records: base64 of their compact form. */
export function encodePacked(words: Uint32Array): string {
  return toBase64(compact(words));
}

/**
 * Decoded words, or null when the text is not whole records (compact, or raw
 * words) in base64, or holds more than `max` records (a request's own count:
 * a few bytes of compact form must not make the daemon allocate gigabytes).
 */
export function decodePacked(text: string, max = PACKED_BATCH): Uint32Array | null {
  const bytes = fromBase64(text);
  if (bytes === null) return null;
  if (bytes.length > 0 && bytes[0] === COMPACT) return expandCompact(bytes, max);
  if (bytes.length % (PACKED_WORDS * 4) !== 0 || bytes.length / (PACKED_WORDS * 4) > max) return null;
  // Copy: Buffer.from may hand back a pooled, unaligned slice.
  const out = new Uint32Array(bytes.length / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

const PROTO_OPT: Record<number, string> = { [L.PROTO_TCP]: '-t', [L.PROTO_UDP]: '-u', [L.PROTO_SCTP]: '--sctp-service' };
const METHOD_OPT = ['-m', '-g', '-i', '-g'];
const VERB: Record<string, string> = {
  'add-service': '-A', 'edit-service': '-E', 'delete-service': '-D', 'add-server': '-a', 'edit-server': '-e', 'delete-server': '-d',
};

/** The service part of a record's line (`-a -t 198.18.0.1:80`), kept while records repeat it. */
class Prefixes {
  private key0 = -1; private key1 = -1; private key2 = -1; private text = '';

  of(words: Uint32Array, p: number, verb: string): string {
    const w0 = words[p + P_OP] & 0xffff;
    if (w0 !== this.key0 || words[p + P_VADDR] !== this.key1 || words[p + P_VPORT] !== this.key2) {
      this.key0 = w0; this.key1 = words[p + P_VADDR]; this.key2 = words[p + P_VPORT];
      this.text = `${verb} ${PROTO_OPT[(w0 >>> 8) & 0xff]} ${ipv4Text(this.key1)}:${this.key2}`;
    }
    return this.text;
  }
}

/** The -R line that replays record i (what journal.ts would render for its ConfigCmd). */
export function packedLine(words: Uint32Array, i: number, prefixes = new Prefixes()): string {
  const p = i * PACKED_WORDS;
  const w0 = words[p + P_OP];
  const op = packedOpName(w0 & 0xff)!;
  const svc = prefixes.of(words, p, VERB[op]);
  if (op === 'add-service' || op === 'edit-service') return svc + ' -s ' + schedulerName(words[p + P_SCHED]);
  if (op === 'delete-service') return svc;
  const r = svc + ' -r ' + ipv4Text(words[p + P_RADDR]) + ':' + words[p + P_RPORT];
  if (op === 'delete-server') return r;
  let line = r + ' ' + METHOD_OPT[(w0 >>> 16) & 0xff] + ' -w ' + words[p + P_WEIGHT];
  if (words[p + P_U]) line += ' -x ' + words[p + P_U];
  if (words[p + P_L]) line += ' -y ' + words[p + P_L];
  return line;
}

/**
 * A state-file line holding packed records as they are (base64): what a big
 * -R journals instead of one rendered -R line per record. scanRestore (the
 * CLI's -R and the daemon's load) reads it back; compaction renders text.
 */
export const PACKED_LINE = '--packed ';
/** Records from which a journal is packed lines: below it, -R lines a person reads. */
export const PACKED_JOURNAL_MIN = 8192;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** Records per packed line (2.4 MB of base64). */
const PACKED_LINE_RECORDS = 65536;

/** The records of a `--packed` line, or null when it is not one (or not whole records). */
export function packedLineWords(line: string): Uint32Array | null {
  if (!line.startsWith(PACKED_LINE)) return null;
  let end = line.length;
  while (end > PACKED_LINE.length && (line.charCodeAt(end - 1) === 13 || line.charCodeAt(end - 1) === 32)) end--;
  const text = line.slice(PACKED_LINE.length, end);
  return BASE64.test(text) ? decodePacked(text, PACKED_LINE_RECORDS) : null;
}

/** Records 0..done-1 except the failed ones (failures in index order). */
function applied(words: Uint32Array, done: number, failures: readonly { index: number }[]): Uint32Array {
  if (failures.length === 0) return words.subarray(0, done * PACKED_WORDS);
  const out = new Uint32Array((done - failures.length) * PACKED_WORDS);
  let at = 0, f = 0;
  for (let i = 0; i < done; i++) {
    if (f < failures.length && failures[f].index === i) { f++; continue; }
    out.set(words.subarray(i * PACKED_WORDS, (i + 1) * PACKED_WORDS), at);
    at += PACKED_WORDS;
  }
  return out;
}

/**
 * Journal lines for records 0..done-1 except the failed ones (failures in
 * index order): one -R line each, or for PACKED_JOURNAL_MIN records and more
 * the records themselves in `--packed` lines (no text to render, allocate
 * and collect on the way to the acknowledgement).
 */
export function packedJournal(words: Uint32Array, done: number, failures: readonly { index: number }[], wire?: string): string[] {
  const out: string[] = [];
  // Every record of the request applied: its wire text (the same encoding) is the line, once
  // it is checked to be the plain base64 that packedLineWords reads back (Buffer decodes more).
  if (wire !== undefined && failures.length === 0 && done * PACKED_WORDS === words.length && done >= PACKED_JOURNAL_MIN
    && done <= PACKED_LINE_RECORDS && BASE64.test(wire)) return [PACKED_LINE + wire];
  if (done - failures.length >= PACKED_JOURNAL_MIN) {
    const ok = applied(words, done, failures);
    const step = PACKED_LINE_RECORDS * PACKED_WORDS;
    for (let at = 0; at < ok.length; at += step) out.push(PACKED_LINE + encodePacked(ok.subarray(at, at + step)));
    return out;
  }
  const prefixes = new Prefixes();
  let f = 0;
  for (let i = 0; i < done; i++) {
    if (f < failures.length && failures[f].index === i) { f++; continue; }
    out.push(packedLine(words, i, prefixes));
  }
  return out;
}

/** Journal lines for the data path's log: packed lines stand for too many changes to list (null). */
export function listedChanges(journal: string[] | null): string[] | null {
  return journal !== null && journal.some((l) => l.startsWith(PACKED_LINE)) ? null : journal;
}
