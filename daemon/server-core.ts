// One request line → one reply, for the socket server and the in-process
// backend alike. Pure: no node: imports. Never throws for bad input.
import { checkRequest, type Reply, type Request, type ErrorInfo } from '../ipvsadm/protocol.js';
import { PACKED_WORDS } from '../sdk/packed.js';
import type { ControlHandler, ApplyOutcome } from './handler.js';
import { decodePacked, PACKED_BATCH } from '../ipvsadm/packed-wire.js';

export interface ServerHooks {
  /**
   * Make an accepted change durable (wasmvsd: the state file), before its
   * reply. Throws when it cannot: the change is then undone and refused.
   */
  persist?(journal: string[] | null, fresh?: boolean): void;
  /**
   * After a durable change, and after a rollback that re-created objects: tell the data path. A
   * promise: the data path carries the change once it resolves (the gateway's rules round), and the
   * request's reply waits for it, as ipvsadm returns once the kernel has the change (bounded: APPLY_WAIT_MS).
   */
  changed(journal: string[] | null, fresh?: boolean): void | Promise<void>;
  log(message: string): void;
  /** A store that answers some requests itself, asynchronously (etcd: writes, --directors); null = the handler's. */
  take?(req: Request): Promise<Reply> | null;
}

const errnoOf = (e: unknown): string => {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : e instanceof Error ? e.message : String(e);
};

const failed = (hooks: ServerHooks, e: unknown) => hooks.log(`data path: configuration change failed: ${e instanceof Error ? e.stack : String(e)}`);

/** The data path told; its promise (never rejecting) when it carries the change later. */
function tellDataPath(hooks: ServerHooks, journal: string[] | null, fresh?: boolean): Promise<void> | undefined {
  try {
    const p = hooks.changed(journal, fresh);
    return p ? p.catch((e: unknown) => failed(hooks, e)) : undefined;
  } catch (e) {
    failed(hooks, e);
    return undefined;
  }
}

/**
 * Longest a change's reply waits for the data path to carry it (ms). Past it the reply goes (the
 * change is in the table and durable; the data path goes on applying it), with a log line.
 */
export const APPLY_WAIT_MS = 10_000;

/** `reply` once `applied` resolved, or at APPLY_WAIT_MS. */
function afterApplied(applied: Promise<void>, reply: Reply, hooks: ServerHooks): Promise<Reply> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      hooks.log(`data path: still applying a change after ${APPLY_WAIT_MS} ms; replied before it is in place`);
      resolve();
    }, APPLY_WAIT_MS);
  });
  return Promise.race([applied, late]).then(() => {
    clearTimeout(timer);
    return reply;
  });
}

/** Longest a streaming client holds back the data path's update after its last request (ms). */
export const HOLD_MAX_MS = 1000;
/** Longest it holds it back in all, however often it sends (ms). */
export const HOLD_TOTAL_MS = 10000;

/**
 * One client's changes the data path has not been told about yet: while a
 * client streams a -R (apply requests marked `more`), the data path (the
 * proxy re-syncs its listeners on each change) is told once at the end
 * instead of between every two requests. Released by the client's next
 * request that is not `more`, by its going away, HOLD_MAX_MS after its last
 * request, or HOLD_TOTAL_MS after its first. (A fixed HOLD_MAX_MS from the
 * first request let a -R that takes longer, e.g. on a loaded machine, have
 * the proxy re-sync every listener in the middle of it and again at its end.)
 */
export class HeldChanges {
  private held = false;
  private journal: string[] | null = [];
  private fresh = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** When the first held request came (ms, Date.now). */
  private since = 0;
  constructor(private readonly hooks: ServerHooks) {}

  add(journal: string[] | null, fresh?: boolean): void {
    const now = Date.now();
    if (!this.held) {
      this.held = true;
      this.journal = [];
      this.fresh = fresh === true;
      this.since = now;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.release(), Math.max(0, Math.min(HOLD_MAX_MS, this.since + HOLD_TOTAL_MS - now)));
    (this.timer as { unref?: () => void }).unref?.();
    // Only logged by the data path: many lines are one bulk change (null).
    this.journal = journal === null || this.journal === null || this.journal.length + journal.length > 4096 ? null : this.journal.concat(journal);
  }

  /** Tells the data path what was held; its promise when it carries the changes later. */
  release(): Promise<void> | undefined {
    if (!this.held) return undefined;
    this.held = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    return tellDataPath(this.hooks, this.journal, this.fresh);
  }
}

/**
 * Finish an apply: persist it and tell the data path, or (persist failed)
 * take it back and return the error the request is refused with. A change is
 * acknowledged only once durable; a refused one leaves the Director as it was.
 * With `held` and `more`, telling the data path waits for the client's last request.
 * `applied`: the data path's promise, when this call told it and it carries the change later.
 */
export function commitApply(out: ApplyOutcome, hooks: ServerHooks, held?: HeldChanges, more = false): ErrorInfo | null {
  return commitApplied(out, hooks, held, more).refused;
}

export function commitApplied(out: ApplyOutcome, hooks: ServerHooks, held?: HeldChanges, more = false): { refused: ErrorInfo | null; applied?: Promise<void> } {
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
  let applied: Promise<void> | undefined;
  if ((out.changed && refused === null) || recreated) {
    const journal = refused === null ? out.journal : [];
    if (held) {
      held.add(journal, out.fresh);
      if (!more || refused !== null || recreated) applied = held.release();
    } else applied = tellDataPath(hooks, journal, out.fresh);
  } else if (held && !more) applied = held.release();
  return { refused, applied };
}

export function badRequest(message: string, id = 0): Reply {
  return { id, ok: false, error: { code: 'EBADREQUEST', message: `wasmvsd: ${message}` } };
}

/** `held`: the sending client's held-back data-path changes (see HeldChanges); any request but a `more` apply releases them. */
export function replyTo(line: string, handler: ControlHandler, hooks: ServerHooks & { take?: undefined; changed(journal: string[] | null, fresh?: boolean): void }, held?: HeldChanges): Reply;
export function replyTo(line: string, handler: ControlHandler, hooks: ServerHooks, held?: HeldChanges): Reply | Promise<Reply>;
export function replyTo(line: string, handler: ControlHandler, hooks: ServerHooks, held?: HeldChanges): Reply | Promise<Reply> {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    held?.release();
    return badRequest('request is not valid JSON');
  }
  const req = checkRequest(v);
  if (typeof req === 'string') {
    held?.release();
    // Echo only an id the reply can carry (1e400 is Infinity, which JSON writes as null).
    const raw = (v as { id?: unknown } | null)?.id;
    const id = typeof raw === 'number' && Number.isSafeInteger(raw) ? raw : 0;
    return badRequest(req, id);
  }
  const taken = hooks.take?.(req);
  if (taken) {
    held?.release();
    return taken;
  }
  if (req.op !== 'apply') {
    held?.release();
    // A listing waits for the data path to catch up without holding the event loop (handler.prepare).
    const ready = handler.prepare(req);
    return ready ? ready.then(() => handler.handle(req)) : handler.handle(req);
  }
  if (req.packed !== undefined) return packedReply(req, handler, hooks, held);
  held?.release();
  let out: ReturnType<ControlHandler['apply']>;
  try {
    out = handler.apply(req.cmds, req.atomic === true);
  } catch (e) {
    return badRequest(e instanceof Error ? e.message : String(e), req.id);
  }
  const { refused, applied } = commitApplied(out, hooks);
  if (refused) return { id: req.id, ok: false, error: refused };
  const reply: Reply = { id: req.id, ok: true, results: out.results, ...(out.rolledBack ? { rolledBack: true } : {}) };
  return applied ? afterApplied(applied, reply, hooks) : reply;
}

function packedReply(req: Extract<Request, { op: 'apply' }> & { packed: string; count: number }, handler: ControlHandler, hooks: ServerHooks,
  held?: HeldChanges): Reply | Promise<Reply> {
  const more = req.more === true && req.atomic !== true;
  const words = decodePacked(req.packed, Math.min(req.count, PACKED_BATCH));
  if (words === null || words.length !== req.count * PACKED_WORDS) {
    held?.release();
    return badRequest('packed records do not match their count', req.id);
  }
  let out: ReturnType<ControlHandler['applyPacked']>;
  try {
    out = handler.applyPacked(words, req.count, req.atomic === true, req.packed);
  } catch (e) {
    held?.release();
    return badRequest(e instanceof Error ? e.message : String(e), req.id);
  }
  const { refused, applied } = commitApplied(out, hooks, held, more);
  if (refused) return { id: req.id, ok: false, error: refused };
  const reply: Reply = { id: req.id, ok: true, done: out.done, failures: out.failures, ...(out.rolledBack ? { rolledBack: true } : {}) };
  return applied ? afterApplied(applied, reply, hooks) : reply;
}
