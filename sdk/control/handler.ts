// Applies control requests to one Director. Pure (no node: imports): the
// socket server wraps it in wasmvsd, tests and the playground call it directly.
import type { Director } from '../src/director.js';
import { WasmvsError, OutOfRangeError, SchedulerNotFoundError } from '../src/errors.js';
import type { ServiceKey, ServiceInfo, DestInfo, ServiceOptions, DestOptions } from '../src/types.js';
import type { Request, Reply, ConfigCmd, CmdResult, ErrorInfo, ServiceEntry, ConnEntry, Timeouts, DrainRequest, DrainInfo } from './protocol.js';
import { saveRules } from '../cli/save.js';
import { journalLine } from './journal.js';
import { applyPackedRequest, decodePacked, type PackedResults } from './bulk.js';
import { PACKED_WORDS } from '../src/packed.js';

export interface HandlerOptions {
  /** Connection table size shown in ipvsadm's header. */
  size: number;
  mode: string;
  dataPath: string;
  abiVersion: number;
  /** Drain requests go to the data path that can drain (the proxy); absent elsewhere. */
  drain?(req: DrainRequest): DrainInfo[];
}

/** A request this daemon cannot serve (e.g. drain without a data path that drains). */
export class Unavailable extends WasmvsError {
  constructor(what: string) { super('ENOTAVAILABLE', `wasmvsd: ${what}: not available here`); }
}

class NoSyncDaemon extends WasmvsError {
  constructor() { super('ENOPROTOOPT', 'Protocol not available'); }
}

export function errorInfo(e: unknown): ErrorInfo {
  if (e instanceof WasmvsError) {
    const detail = (e as { detail?: unknown }).detail;
    return typeof detail === 'string' && detail ? { code: e.code, message: e.message, detail } : { code: e.code, message: e.message };
  }
  return { code: 'EINTERNAL', message: `wasmvsd: ${e instanceof Error ? e.message : String(e)}` };
}

export function keyOf(s: ServiceInfo): ServiceKey {
  return s.fwmark ? { fwmark: s.fwmark, af: s.af } : { protocol: s.protocol!, address: s.address!, port: s.port };
}

function optionsOf(s: ServiceInfo): ServiceOptions {
  const o: ServiceOptions = { scheduler: s.scheduler as ServiceOptions['scheduler'], flags: s.flags, ops: s.ops };
  if (s.persistent) { o.persistent = s.persistent; o.netmask = s.netmask; }
  if (s.scheduler === 'mh') o.mhTableSize = s.mhTableSize;
  return o;
}

function destOptionsOf(d: DestInfo): DestOptions {
  const o: DestOptions = {
    address: d.address, port: d.port, weight: d.weight, method: d.method, uThreshold: d.uThreshold, lThreshold: d.lThreshold,
  };
  if (d.method === 'tunnel') {
    o.tunnel = d.tunnel.type === 'gue' ? { ...d.tunnel } : { type: d.tunnel.type, csum: d.tunnel.csum };
  }
  return o;
}

export interface ApplyOutcome {
  results: CmdResult[];
  rolledBack?: boolean;
  changed: boolean;
  /** -R lines that replay the accepted changes, or null when only a full rewrite will do. */
  journal: string[] | null;
  /** The configuration was empty before: the journal alone rebuilds it (timeouts aside). */
  fresh?: boolean;
}

export class ControlHandler {
  constructor(readonly director: Director, readonly opts: HandlerOptions) {}

  handle(req: Request): Reply {
    try {
      switch (req.op) {
        case 'hello': return { id: req.id, ok: true, hello: {
          ipvsVersion: '1.2.1', size: this.opts.size, abiVersion: this.opts.abiVersion, mode: this.opts.mode, dataPath: this.opts.dataPath,
        } };
        case 'apply':
          if (req.packed !== undefined) return { id: req.id, ok: true, ...this.applyPackedText(req.packed, req.count, req.atomic === true) };
          return { id: req.id, ok: true, ...this.apply(req.cmds, req.atomic === true) };
        case 'list': return { id: req.id, ok: true, size: this.opts.size, services: this.list(req.svc) };
        case 'connections': return { id: req.id, ok: true, connections: this.connections() };
        case 'timeouts': return { id: req.id, ok: true, timeouts: this.timeouts() };
        case 'daemons': return { id: req.id, ok: true, daemons: [] };
        case 'drain':
        case 'drains':
          if (!this.opts.drain) throw new Unavailable(`draining (the ${this.opts.dataPath} data path cannot drain)`);
          return { id: req.id, ok: true, drains: this.opts.drain(req) };
      }
    } catch (e) {
      return { id: req.id, ok: false, error: errorInfo(e) };
    }
  }

  list(svc?: ServiceKey): ServiceEntry[] {
    const d = this.director;
    const infos = svc === undefined ? d.services() : [d.service(svc)];
    return infos.map((s) => ({ ...s, dests: d.dests(keyOf(s)) }));
  }

  connections(): ConnEntry[] {
    return this.director.connections();
  }

  timeouts(): Timeouts {
    return this.director.timeouts();
  }

  /** The state file's lines before any service (the --set line when timeouts are not the defaults). */
  stateHead(): string {
    return saveRules([], { state: true, timeouts: this.timeouts() });
  }

  /** Rules that rebuild the configuration exactly (wasmvsd's state file). */
  stateText(): string {
    return saveRules(this.list(), { state: true, timeouts: this.timeouts() });
  }

  /** Packed records (sdk/src/packed.ts) in order; atomic = all or nothing. See bulk.ts. */
  applyPacked(words: Uint32Array, count: number, atomic: boolean): ApplyOutcome & PackedResults {
    return applyPackedRequest(this, words, count, atomic);
  }

  private applyPackedText(text: string, count: number, atomic: boolean): PackedResults {
    const words = decodePacked(text);
    if (words === null || words.length !== count * PACKED_WORDS) throw new WasmvsError('EBADREQUEST', 'wasmvsd: packed records do not match their count');
    const { done, failures, rolledBack } = this.applyPacked(words, count, atomic);
    return rolledBack ? { done, failures, rolledBack } : { done, failures };
  }

  /** Run commands in order; atomic = all or nothing (rolled back on the first failure). */
  apply(cmds: readonly ConfigCmd[], atomic: boolean): ApplyOutcome {
    const fresh = this.director.core.x.svcCount() === 0;
    const before = atomic ? this.list() : null;
    const beforeTimeouts = atomic ? this.timeouts() : null;
    const results: CmdResult[] = [];
    let changed = false;
    let journal: string[] | null = [];
    for (const c of cmds) {
      try {
        this.one(c);
        results.push({ ok: true });
        changed = true;
        journal = this.journal(journal, c);
      } catch (e) {
        results.push({ ok: false, error: errorInfo(e) });
        if (before) {
          // Nothing applied yet: nothing to roll back (a rebuild would restart counters).
          if (changed) this.rebuild(before, beforeTimeouts);
          return { results, rolledBack: true, changed: false, journal: [] };
        }
      }
    }
    return { results, changed, journal, fresh };
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

  /** Replace the whole configuration with a snapshot (counters and connections restart). */
  rebuild(services: readonly ServiceEntry[], timeouts: Timeouts | null): void {
    const d = this.director;
    d.clear();
    for (const s of services) {
      const key = keyOf(s);
      d.addService(key, optionsOf(s));
      for (const dest of s.dests.slice().reverse()) d.addDest(key, destOptionsOf(dest));
    }
    if (timeouts) d.setTimeouts(timeouts);
  }

  private one(c: ConfigCmd): void {
    const d = this.director;
    switch (c.op) {
      case 'add-service':
      case 'edit-service':
        // wasmvs has no persistence engines (IPVS's is `sip`): the kernel's "not found".
        if (c.pe !== undefined) throw new SchedulerNotFoundError();
        if (c.op === 'add-service') d.addService(c.svc, c.opts); else d.editService(c.svc, c.opts);
        return;
      case 'delete-service': d.deleteService(c.svc); return;
      case 'flush': d.clear(); return;
      case 'add-server':
      case 'edit-server':
        // IPVS refuses l_threshold > u_threshold with ERANGE (ip_vs_ctl.c).
        if ((c.dest?.lThreshold ?? 0) > (c.dest?.uThreshold ?? 0)) throw new OutOfRangeError('lower threshold is higher than upper threshold');
        if (c.op === 'add-server') d.addDest(c.svc, c.dest); else d.editDest(c.svc, c.dest);
        return;
      case 'delete-server': d.deleteDest(c.svc, c.dest); return;
      case 'zero': d.zero(c.svc); return;
      case 'set': d.setTimeouts({ tcp: c.tcp, tcpfin: c.tcpfin, udp: c.udp }); return;
      case 'start-daemon':
      case 'stop-daemon':
        // No connection synchronisation in wasmvs: what a kernel without the sync code says.
        throw new NoSyncDaemon();
      default:
        throw new WasmvsError('EBADREQUEST', `wasmvsd: unknown command ${JSON.stringify((c as { op: unknown }).op)}`);
    }
  }
}
