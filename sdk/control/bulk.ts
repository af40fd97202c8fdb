// The packed side of `apply` (wasmvsadm -R): the wire encoding of packed
// records (base64 of their little-endian words), the daemon's handling of a
// packed request, and the state-file lines that replay it. Pure: no node:
// imports (Buffer when the host has it, atob/btoa in browsers).
import type { ControlHandler, ApplyOutcome } from './handler.js';
import { errorInfo, rollbackWith } from './handler.js';
import type { Director } from '../src/director.js';
import type { PackedOutcome } from '../src/bulk.js';
import type { ErrorInfo, ConfigCmd } from './protocol.js';
import { UndoLog } from './undo.js';
import { packedToCmd, PACKED_WORDS, PACKED_OPS, P_OP, P_VADDR, P_VPORT, P_SCHED, P_RADDR, P_RPORT, P_WEIGHT, P_U, P_L, packedOpName, ipv4Text } from '../src/packed.js';
import { schedulerName } from '../src/schedulers.js';
import { layout as L } from '../src/core/abi.gen.js';

/** Records per request: keeps a request line far below MAX_LINE_BYTES (1M records ≈ 48 MB of base64). */
export const PACKED_BATCH = 1 << 20;

export interface PackedFailureInfo { index: number; error: ErrorInfo }
export interface PackedResults { done: number; failures: PackedFailureInfo[]; rolledBack?: boolean }

type B64 = { from(s: string | Uint8Array, enc?: string): Uint8Array & { toString(enc: string): string } };
const NodeBuffer = (globalThis as { Buffer?: B64 }).Buffer;

export function encodePacked(words: Uint32Array): string {
  const bytes = new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
  if (NodeBuffer) return NodeBuffer.from(bytes).toString('base64');
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

/** Decoded words, or null when the text is not whole records of base64. */
export function decodePacked(text: string): Uint32Array | null {
  let bytes: Uint8Array;
  try {
    if (NodeBuffer) bytes = NodeBuffer.from(text, 'base64');
    else bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
  if (bytes.length % (PACKED_WORDS * 4) !== 0) return null;
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
/** Records per packed line (2.4 MB of base64). */
const PACKED_LINE_RECORDS = 65536;

/** The records of a `--packed` line, or null when it is not one (or not whole records). */
export function packedLineWords(line: string): Uint32Array | null {
  if (!line.startsWith(PACKED_LINE)) return null;
  let end = line.length;
  while (end > PACKED_LINE.length && (line.charCodeAt(end - 1) === 13 || line.charCodeAt(end - 1) === 32)) end--;
  const text = line.slice(PACKED_LINE.length, end);
  return /^[A-Za-z0-9+/]+={0,2}$/.test(text) ? decodePacked(text) : null;
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
export function packedJournal(words: Uint32Array, done: number, failures: readonly { index: number }[]): string[] {
  const out: string[] = [];
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

const ADDS = new Set<number>([PACKED_OPS['add-service'], PACKED_OPS['add-server']]);

/** True when every record adds something (its undo is a delete). */
function addsOnly(words: Uint32Array, count: number): boolean {
  for (let i = 0; i < count; i++) if (!ADDS.has(words[i * PACKED_WORDS + P_OP] & 0xff)) return false;
  return true;
}

/** Records one core call at a time, each with its undo taken from the live state first. */
function applyEach(d: Director, words: Uint32Array, count: number, atomic: boolean, undo: UndoLog): PackedOutcome {
  const failures: PackedOutcome['failures'] = [];
  for (let i = 0; i < count; i++) {
    let step: { commit(): void } | null = null;
    try { step = undo.capture(d, packedToCmd(words, i) as ConfigCmd); } catch { /* malformed: the core refuses it below */ }
    const r = d.applyPacked(words.subarray(i * PACKED_WORDS, (i + 1) * PACKED_WORDS), 1, true);
    if (r.failures.length === 0) { step?.commit(); continue; }
    failures.push({ index: i, error: r.failures[0].error });
    if (atomic) return { done: i + 1, failures };
  }
  return { done: count, failures };
}

/**
 * Apply a packed request: every record in order, or (atomic) all or nothing.
 * An atomic request is tried on the scratch copy first, so one that fails
 * there applies nothing. Records that did apply can be undone exactly: adds
 * (the fast path of a big -R, one core call per batch) by deleting what they
 * added, other records (one core call each) by their captured inverse.
 */
export function applyPackedRequest(h: ControlHandler, words: Uint32Array, count: number, atomic: boolean): ApplyOutcome & PackedResults {
  const d = h.director;
  const fresh = d.core.x.svcCount() === 0;
  if (atomic) {
    let refused: PackedFailureInfo | null = null;
    h.onScratch((s) => {
      const f = s.applyPacked(words, count, true).failures[0];
      if (f) refused = { index: f.index, error: errorInfo(f.error) };
      return f !== undefined;
    });
    if (refused !== null) {
      const r: PackedFailureInfo = refused;
      return { results: [], done: r.index + 1, failures: [r], rolledBack: true, changed: false, journal: [] };
    }
  }
  const undo = new UndoLog();
  let out: PackedOutcome;
  if (addsOnly(words, count)) {
    out = d.applyPacked(words, count, atomic);
    undo.packedAdds(words, out.done, out.failures.map((f) => f.index));
  } else {
    out = applyEach(d, words, count, atomic, undo);
  }
  const failures = out.failures.map((f) => ({ index: f.index, error: errorInfo(f.error) }));
  if (atomic && failures.length) {
    // The core stops at the failed record; it is not part of the undo (it changed nothing).
    return { results: [], done: out.done, failures, rolledBack: true, changed: false, journal: [], rollback: rollbackWith(undo, d) };
  }
  const journal = packedJournal(words, out.done, failures);
  return { results: [], done: out.done, failures, changed: journal.length > 0, journal, fresh, undo: () => rollbackWith(undo, d) };
}
