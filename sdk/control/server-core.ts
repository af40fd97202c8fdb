// One request line → one reply, for the socket server and the in-process
// backend alike. Pure: no node: imports. Never throws for bad input.
import { checkRequest, type Reply, type Request } from './protocol.js';
import { PACKED_WORDS } from '../src/packed.js';
import type { ControlHandler } from './handler.js';
import { decodePacked } from './bulk.js';

export interface ServerHooks {
  /** After an apply that changed something, before its reply is sent (journal, fresh: see ApplyOutcome). */
  changed(journal: string[] | null, fresh?: boolean): void;
  log(message: string): void;
}

export function badRequest(message: string, id = 0): Reply {
  return { id, ok: false, error: { code: 'EBADREQUEST', message: `wasmvsd: ${message}` } };
}

export function replyTo(line: string, handler: ControlHandler, hooks: ServerHooks): Reply {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return badRequest('request is not valid JSON');
  }
  const req = checkRequest(v);
  if (typeof req === 'string') {
    const id = typeof (v as { id?: unknown })?.id === 'number' ? (v as { id: number }).id : 0;
    return badRequest(req, id);
  }
  if (req.op !== 'apply') return handler.handle(req);
  if (req.packed !== undefined) return packedReply(req, handler, hooks);
  let out: ReturnType<ControlHandler['apply']>;
  try {
    out = handler.apply(req.cmds, req.atomic === true);
  } catch (e) {
    return badRequest(e instanceof Error ? e.message : String(e), req.id);
  }
  if (out.changed) hooks.changed(out.journal, out.fresh);
  return { id: req.id, ok: true, results: out.results, ...(out.rolledBack ? { rolledBack: true } : {}) };
}

function packedReply(req: Extract<Request, { op: 'apply' }> & { packed: string; count: number }, handler: ControlHandler, hooks: ServerHooks): Reply {
  const words = decodePacked(req.packed);
  if (words === null || words.length !== req.count * PACKED_WORDS) return badRequest('packed records do not match their count', req.id);
  let out: ReturnType<ControlHandler['applyPacked']>;
  try {
    out = handler.applyPacked(words, req.count, req.atomic === true);
  } catch (e) {
    return badRequest(e instanceof Error ? e.message : String(e), req.id);
  }
  if (out.changed) hooks.changed(out.journal, out.fresh);
  return { id: req.id, ok: true, done: out.done, failures: out.failures, ...(out.rolledBack ? { rolledBack: true } : {}) };
}
