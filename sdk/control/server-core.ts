// One request line → one reply, for the socket server and the in-process
// backend alike. Pure: no node: imports. Never throws for bad input.
import { checkRequest, type Reply, type Request, type ErrorInfo } from './protocol.js';
import { PACKED_WORDS } from '../src/packed.js';
import type { ControlHandler, ApplyOutcome } from './handler.js';
import { decodePacked } from './bulk.js';

export interface ServerHooks {
  /**
   * Make an accepted change durable (wasmvsd: the state file), before its
   * reply. Throws when it cannot: the change is then undone and refused.
   */
  persist?(journal: string[] | null, fresh?: boolean): void;
  /** After a durable change, and after a rollback that re-created objects: tell the data path. */
  changed(journal: string[] | null, fresh?: boolean): void;
  log(message: string): void;
  /** A store that answers some requests itself, asynchronously (etcd: writes, --directors); null = the handler's. */
  take?(req: Request): Promise<Reply> | null;
}

const errnoOf = (e: unknown): string => {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : e instanceof Error ? e.message : String(e);
};

/**
 * Finish an apply: persist it and tell the data path, or (persist failed)
 * take it back and return the error the request is refused with. A change is
 * acknowledged only once durable; a refused one leaves the Director as it was.
 */
export function commitApply(out: ApplyOutcome, hooks: ServerHooks): ErrorInfo | null {
  let recreated = false;
  if (out.rollback) {
    for (const m of out.rollback.errors) hooks.log(`atomic rollback incomplete: ${m}`);
    recreated = out.rollback.recreated;
  }
  let refused: ErrorInfo | null = null;
  if (out.changed) {
    try {
      hooks.persist?.(out.journal, out.fresh);
    } catch (e) {
      const errno = errnoOf(e);
      const back = out.undo?.() ?? { recreated: false, errors: [] };
      for (const m of back.errors) hooks.log(`undo of a refused change incomplete: ${m}`);
      hooks.log(`state file write failed: ${errno}; change refused and taken back`);
      recreated = back.recreated;
      refused = { code: 'ESTATEWRITE', message: `wasmvsd: state file write failed: ${errno}; command not applied` };
    }
  }
  // The data path reads the Director: tell it about a durable change, or about re-created objects (new ids).
  if ((out.changed && refused === null) || recreated) {
    try {
      hooks.changed(refused === null ? out.journal : [], out.fresh);
    } catch (e) {
      hooks.log(`data path: configuration change failed: ${e instanceof Error ? e.stack : String(e)}`);
    }
  }
  return refused;
}

export function badRequest(message: string, id = 0): Reply {
  return { id, ok: false, error: { code: 'EBADREQUEST', message: `wasmvsd: ${message}` } };
}

export function replyTo(line: string, handler: ControlHandler, hooks: ServerHooks & { take?: undefined }): Reply;
export function replyTo(line: string, handler: ControlHandler, hooks: ServerHooks): Reply | Promise<Reply>;
export function replyTo(line: string, handler: ControlHandler, hooks: ServerHooks): Reply | Promise<Reply> {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return badRequest('request is not valid JSON');
  }
  const req = checkRequest(v);
  if (typeof req === 'string') {
    // Echo only an id the reply can carry (1e400 is Infinity, which JSON writes as null).
    const raw = (v as { id?: unknown } | null)?.id;
    const id = typeof raw === 'number' && Number.isSafeInteger(raw) ? raw : 0;
    return badRequest(req, id);
  }
  const taken = hooks.take?.(req);
  if (taken) return taken;
  if (req.op !== 'apply') return handler.handle(req);
  if (req.packed !== undefined) return packedReply(req, handler, hooks);
  let out: ReturnType<ControlHandler['apply']>;
  try {
    out = handler.apply(req.cmds, req.atomic === true);
  } catch (e) {
    return badRequest(e instanceof Error ? e.message : String(e), req.id);
  }
  const refused = commitApply(out, hooks);
  if (refused) return { id: req.id, ok: false, error: refused };
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
  const refused = commitApply(out, hooks);
  if (refused) return { id: req.id, ok: false, error: refused };
  return { id: req.id, ok: true, done: out.done, failures: out.failures, ...(out.rolledBack ? { rolledBack: true } : {}) };
}
