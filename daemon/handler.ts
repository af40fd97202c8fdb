// Applies control requests to one Director. Pure (no node: imports): the
// socket server wraps it in wasmvsd, tests and the playground call it directly.
import type { Director } from '../sdk/director.js';
import { WasmvsError } from '../sdk/errors.js';
import type { ServiceKey } from '../sdk/types.js';
import type { Request, Reply, ConfigCmd, CmdResult, ErrorInfo, ServiceEntry, ConnEntry, Timeouts, DrainRequest, DrainInfo } from '../ipvsadm/protocol.js';
import { saveRules } from '../ipvsadm/save.js';
import { journalLine } from './journal.js';
import { applyPackedRequest } from './bulk.js';
import { decodePacked, PACKED_BATCH, type PackedResults } from '../ipvsadm/packed-wire.js';
import { PACKED_WORDS } from '../sdk/packed.js';
import { applyCmd, copyConfig, keyOf } from '../sdk/commands.js';
import { UndoLog } from './undo.js';
import { PagedList } from './reply-stream.js';
import { previewCmds, type ChangePreview } from '../sdk/preview.js';

export interface HandlerOptions {
  /** Connection table size shown in ipvsadm's header. */
  size: number;
  mode: string;
  dataPath: string;
  abiVersion: number;
  /** Drain requests go to the data path that can drain (the proxy); absent elsewhere. */
  drain?(req: DrainRequest): DrainInfo[];
  /** Called before a listing of services or connections (DataPath.beforeRead); its failure does not fail the listing. */
  beforeRead?(): void;
  /** Its asynchronous form (DataPath.beforeReadAsync): awaited before a listing by the control socket (prepare). */
  beforeReadAsync?(): Promise<void>;
  /**
   * A second Director that only ever holds a copy of the configuration: an
   * atomic request is tried there first, so one that would fail applies
   * nothing at all (ids, counters and connections stay). Without it a failing
   * atomic request is undone operation by operation.
   */
  scratch?: Director;
  /**
   * A fresh scratch Director for the next atomic request. The core gets slower
   * to refill after each clear(), so a used copy is dropped, never reused;
   * without this hook the first one is reused.
   */
  renewScratch?(): Promise<Director>;
}

/** A request this daemon cannot serve (e.g. drain without a data path that drains). */
export class Unavailable extends WasmvsError {
  constructor(what: string) { super('ENOTAVAILABLE', `wasmvsd: ${what}: not available here`); }
}

export function errorInfo(e: unknown): ErrorInfo {
  if (e instanceof WasmvsError) {
    const detail = (e as { detail?: unknown }).detail;
    return typeof detail === 'string' && detail ? { code: e.code, message: e.message, detail } : { code: e.code, message: e.message };
  }
  return { code: 'EINTERNAL', message: `wasmvsd: ${e instanceof Error ? e.message : String(e)}` };
}

export { keyOf };

export interface ApplyOutcome {
  results: CmdResult[];
  rolledBack?: boolean;
  changed: boolean;
  /** -R lines that replay the accepted changes, or null when only a full rewrite will do. */
  journal: string[] | null;
  /** The configuration was empty before: the journal alone rebuilds it (timeouts aside). */
  fresh?: boolean;
  /** Take the accepted changes back (they could not be made durable). */
  undo?(): Rollback;
  /** A failed atomic request was undone after part of it was applied. */
  rollback?: Rollback;
}

export interface Rollback {
  /** Something deleted was added back (new ids): the data path must be told. */
  recreated: boolean;
  /** Undo steps that failed (a bug, or memory exhaustion): the configuration is not what it was. */
  errors: string[];
}

export function rollbackWith(undo: UndoLog, d: Director): Rollback {
  const recreated = undo.recreates;
  return { recreated, errors: undo.undo(d) };
}

export class ControlHandler {
  private scratch: Director | null;
  constructor(readonly director: Director, readonly opts: HandlerOptions) {
    this.scratch = opts.scratch ?? null;
  }

  handle(req: Request): Reply {
    try {
      switch (req.op) {
        case 'hello': return { id: req.id, ok: true, hello: {
          ipvsVersion: '1.2.1', size: this.opts.size, abiVersion: this.opts.abiVersion, mode: this.opts.mode, dataPath: this.opts.dataPath,
        } };
        case 'apply':
          if (req.packed !== undefined) return { id: req.id, ok: true, ...this.applyPackedText(req.packed, req.count, req.atomic === true) };
          return { id: req.id, ok: true, ...this.apply(req.cmds, req.atomic === true) };
        case 'list':
          this.readNow();
          return { id: req.id, ok: true, size: this.opts.size, services: this.list(req.svc) };
        // Paged: the session streams it a core page at a time, yielding between pages.
        case 'connections':
          this.readNow();
          return { id: req.id, ok: true, connections: this.connectionList() };
        case 'timeouts': return { id: req.id, ok: true, timeouts: this.timeouts() };
        case 'daemons': return { id: req.id, ok: true, daemons: [] };
        case 'preview': return { id: req.id, ok: true, preview: this.preview(req.cmds) };
        case 'directors': throw new Unavailable('--directors (one director with a state file; start wasmvsd with --store etcd://HOST:PORT/PREFIX)');
        case 'drain':
        case 'drains':
          if (!this.opts.drain) throw new Unavailable(`draining (the ${this.opts.dataPath} data path cannot drain)`);
          return { id: req.id, ok: true, drains: this.opts.drain(req) };
      }
    } catch (e) {
      return { id: req.id, ok: false, error: errorInfo(e) };
    }
  }

  /**
   * What a request needs before handle() answers it, when that takes a while: for a listing, the data
   * path's asynchronous catch-up (its failure does not fail the listing); null when nothing.
   */
  prepare(req: Request): Promise<void> | null {
    if ((req.op !== 'list' && req.op !== 'connections') || !this.opts.beforeReadAsync) return null;
    try {
      return this.opts.beforeReadAsync().catch(() => undefined);
    } catch {
      return null;
    }
  }

  private readNow(): void {
    try { this.opts.beforeRead?.(); } catch { /* the listing shows the table as it is */ }
  }

  /** --dry-run: what the commands would move, worked out on the scratch copy (preview.ts). */
  preview(cmds: readonly ConfigCmd[]): ChangePreview {
    let out: ChangePreview | null = null;
    let err: unknown = null;
    this.onScratch((s) => { try { out = previewCmds(this.director, s, cmds); } catch (e) { err = e; } return true; });
    if (err) throw err;
    if (!out) throw new WasmvsError('EAGAIN', 'wasmvsd: --dry-run: no scratch copy of the configuration is ready; try again');
    return out;
  }

  list(svc?: ServiceKey): ServiceEntry[] {
    const d = this.director;
    const infos = svc === undefined ? d.services() : [d.service(svc)];
    return infos.map((s) => ({ ...s, dests: d.dests(keyOf(s)) }));
  }

  connections(): ConnEntry[] {
    return this.director.connections();
  }

  /** The listing as a PagedList, typed as the array it serializes to. */
  private connectionList(): ConnEntry[] {
    const d = this.director;
    return new PagedList<ConnEntry>(() => d.connectionPages()) as unknown as ConnEntry[];
  }

  timeouts(): Timeouts {
    return this.director.timeouts();
  }

  /** Entries a listing would carry now (connections, or services without their dests): is it a big one? */
  listingSize(op: 'list' | 'connections'): number {
    return op === 'connections' ? this.director.connectionCount() : this.director.serviceCount();
  }

  /** The state file's lines before any service (the --set line when timeouts are not the defaults). */
  stateHead(): string {
    return saveRules([], { state: true, timeouts: this.timeouts() });
  }

  /** Rules that rebuild the configuration exactly (wasmvsd's state file), from the configuration alone (no counters gathered). */
  stateText(): string {
    return saveRules(this.director.configuration(), { state: true, timeouts: this.timeouts() });
  }

  /**
   * Packed records (sdk/packed.ts) in order; atomic = all or nothing. See bulk.ts.
   * `wire`: the request's text the words were decoded from (journaled as it is when it all applies).
   */
  applyPacked(words: Uint32Array, count: number, atomic: boolean, wire?: string): ApplyOutcome & PackedResults {
    return applyPackedRequest(this, words, count, atomic, wire);
  }

  private applyPackedText(text: string, count: number, atomic: boolean): PackedResults {
    const words = decodePacked(text, Math.min(count, PACKED_BATCH));
    if (words === null || words.length !== count * PACKED_WORDS) throw new WasmvsError('EBADREQUEST', 'wasmvsd: packed records do not match their count');
    const { done, failures, rolledBack } = this.applyPacked(words, count, atomic, text);
    return rolledBack ? { done, failures, rolledBack } : { done, failures };
  }

  /**
   * Run commands in order; atomic = all or nothing: tried on the scratch copy
   * first, and if the live configuration still refuses one, what was applied
   * is undone exactly, newest first.
   */
  apply(cmds: readonly ConfigCmd[], atomic: boolean): ApplyOutcome {
    const d = this.director;
    const fresh = d.serviceCount() === 0;
    if (atomic) {
      const refused = this.dryRun(cmds);
      if (refused) return refused;
    }
    const undo = new UndoLog();
    const results: CmdResult[] = [];
    let changed = false;
    let journal: string[] | null = [];
    for (const c of cmds) {
      const step = undo.capture(d, c);
      try {
        applyCmd(d, c);
      } catch (e) {
        results.push({ ok: false, error: errorInfo(e) });
        if (atomic) return { results, rolledBack: true, changed: false, journal: [], rollback: rollbackWith(undo, d) };
        continue;
      }
      step.commit();
      results.push({ ok: true });
      changed = true;
      journal = this.journal(journal, c);
    }
    return { results, changed, journal, fresh, undo: () => rollbackWith(undo, d) };
  }

  /** The outcome of an atomic request the scratch copy refuses (nothing applied), or null. */
  private dryRun(cmds: readonly ConfigCmd[]): ApplyOutcome | null {
    const results: CmdResult[] = [];
    const refused = this.onScratch((s) => {
      for (const c of cmds) {
        try {
          applyCmd(s, c);
        } catch (e) {
          results.push({ ok: false, error: errorInfo(e) });
          return true;
        }
        results.push({ ok: true });
      }
      return false;
    });
    return refused ? { results, rolledBack: true, changed: false, journal: [] } : null;
  }

  /** Run `f` on a copy of the configuration; false when there is no scratch Director or the copy fails. */
  onScratch(f: (scratch: Director) => boolean): boolean {
    const s = this.scratch;
    if (!s) return false;
    const renew = this.opts.renewScratch;
    try {
      copyConfig(this.director, s);
      return f(s);
    } catch {
      // A copy that cannot be made (memory) proves nothing: the live apply and its undo decide.
      return false;
    } finally {
      if (renew) {
        // Until the new one is ready, atomic requests are undone operation by operation.
        this.scratch = null;
        renew().then((d) => { this.scratch = d; }, () => { /* none: undo only */ });
      } else {
        try { s.clear(); } catch { /* the next copy clears again */ }
      }
    }
  }

  /** Append the replay line of a successful command; null once any command needs a full rewrite. */
  private journal(lines: string[] | null, c: ConfigCmd): string[] | null {
    if (lines === null) return null;
    let line: string | null | '';
    try { line = journalLine(this.director, c); } catch { line = null; }
    if (line === null) return null;
    if (line !== '') lines.push(line);
    return lines;
  }
}
