// The daemon's handling of a packed request (wasmvsadm -R): applied to the
// Director record by record (or all-or-nothing with --atomic), with the
// journal lines that replay it. The wire form is ipvsadm/packed-wire.ts.
import type { ControlHandler, ApplyOutcome } from './handler.js';
import { errorInfo, rollbackWith } from './handler.js';
import type { Director } from '../sdk/director.js';
import type { PackedOutcome } from '../sdk/bulk.js';
import type { ConfigCmd } from '../ipvsadm/protocol.js';
import { UndoLog } from './undo.js';
import { packedToCmd, PACKED_WORDS, PACKED_OPS, P_OP } from '../sdk/packed.js';
import { packedJournal, type PackedResults, type PackedFailureInfo } from '../ipvsadm/packed-wire.js';

const ADD_SERVICE = PACKED_OPS['add-service'], ADD_SERVER = PACKED_OPS['add-server'];

/** True when every record adds something (its undo is a delete). */
function addsOnly(words: Uint32Array, count: number): boolean {
  for (let i = 0; i < count; i++) {
    const op = words[i * PACKED_WORDS + P_OP] & 0xff;
    if (op !== ADD_SERVICE && op !== ADD_SERVER) return false;
  }
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
export function applyPackedRequest(h: ControlHandler, words: Uint32Array, count: number, atomic: boolean, wire?: string): ApplyOutcome & PackedResults {
  const d = h.director;
  const fresh = d.serviceCount() === 0;
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
  const journal = packedJournal(words, out.done, failures, wire);
  return { results: [], done: out.done, failures, changed: journal.length > 0, journal, fresh, undo: () => rollbackWith(undo, d) };
}
