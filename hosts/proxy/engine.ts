// The native connection engine (`wasmvsd proxy --engine native`): the
// addon's pumps (native/src/engine.cc) own every TCP socket — SO_REUSEPORT
// listeners, accept, the non-blocking connect to the real server, the bytes
// both ways (copy, then splice(2) past 64 KiB), IPVS's half-close — and this
// main thread decides every connection through the one core, as the JS path
// does (decideTcp: the bounds, scheduling, persistence, the table insert), so
// lc/wlc/sed/nq and the thresholds read exact counts with any number of
// pumps. The first pump runs on this thread (Node's loop polls its epoll set):
// its clients are accepted, decided and connected in one callback. The others
// are threads: per batch of their accepted clients one wake-up of this thread,
// per batch of decisions one wake-up of each.
//
// What the table hears is what TcpFlow tells it: ESTABLISHED when the real
// server accepts, client-fin / server-fin when a FIN is passed on, reset on a
// failed connect or a reset socket, close when both sockets are gone; bytes
// and reads as traffic (the engine reports busy connections every REPORT_MS,
// the proxy's tick gives them to the core). Idle and half-open timeouts are
// the table's: the tick destroys a flow whose entry expired (abort → RST).
// The connect deadline is enforced by the engine (CONNFAIL ETIMEDOUT).
import { createRequire } from 'node:module';
import type { ConnEventName } from '../../sdk/conns.js';
import type { Decision, Endpoint } from '../../sdk/types.js';
import { loadNativeAddon } from '../../native/addon.js';
import { tracked, type Tracked } from './account.js';
import { proxyHeader } from './proxyproto.js';
import { decideTcp } from './tcp.js';
import type { Flow, Host, VirtualService } from './host.js';
import type { EngineMode, SpliceMode } from './options.js';

export { ENGINE_MODES, parseEngineMode, type EngineMode } from './options.js';

/** How often the engine reports the counts of busy connections (the proxy's tick, 1 s, reads them). */
const REPORT_MS = 250;
/** Bytes a direction moves by copy before splice(2) takes over (--splice auto). */
export const ENGINE_SPLICE_AFTER = 64 * 1024;
/** Closed listeners remembered for the DECIDED events still on their way (NativeEngine.closedServices). */
const CLOSED_SERVICES_KEPT = 1024;

/** Numbers per event record (native/src/engine.cc). */
const RECORD = 8;
const enum Kind { Counts = 0, FinIn = 1, FinOut = 2, Reset = 3, Closed = 4, Accept = 5, Established = 6, ConnFail = 7, Decided = 8 }
/**
 * A kind's bit when the pump already gave the event to the core (a connection it decided itself:
 * splice_pump.h APPLIED): the table has it, the rest of the bookkeeping is done here.
 */
const APPLIED = 0x100;

export interface EngineStats {
  threads: number; conns: number; pipes: number; pooled: number; spliced: number; copied: number; closed: number;
  accepted: number; acceptErrors: number; connectFailed: number; undecided: number; listeners: number;
  /** Clients a thread pump decided itself on the native core (useCore), and of those the core gave no real server. */
  decidedHere?: number; refusedHere?: number;
}

/** The native class (native/src/engine.cc). */
export interface NativeConnEngine {
  listen(address: string, port: number, backlog?: number): number;
  unlisten(id: number): void;
  connect(id: number, address: string, port: number, pre: Buffer | null, timeoutMs: number): void;
  abort(id: number): void;
  stats(): EngineStats;
  /** Delivers the events the pumps hold back now (absent on older builds: nothing held). */
  flush?(): void;
  close(): void;
  /**
   * The thread pumps decide their clients on this native core (native/src/engine.cc's Decider):
   * `clockSeconds` is the director's clock at `clockNs` (process.hrtime, CLOCK_MONOTONIC). False
   * without a native core in this addon.
   */
  useCore?(core: object, clockSeconds: number, clockNs: number, connectTimeoutMs: number): boolean;
  /** Whether the threads may decide listener `id`'s clients. */
  decideHere?(id: number, on: boolean): void;
  /** The room under the bounds by this thread's counts, whether the threads decide at all, and the connect deadline. */
  setBudget?(room: number, threads: boolean, connectTimeoutMs?: number): void;
  /** One slot of that budget for a client this thread decides (false: none left). */
  claim?(): boolean;
  /** Slots counted here now (after setBudget). */
  release?(n: number): void;
  /** Slots taken and not yet counted here. */
  inflight?(): number;
}
/** `records` is a view of a buffer the engine reuses for every batch: read it during the callback, keep nothing of it. */
export type ConnEngineClass = new (onEvents: (records: Float64Array, addrs: string[]) => void,
  opts?: { threads?: number; inline?: boolean; reportMs?: number; spliceAfter?: number; pipeSize?: number; maxUndecided?: number }) => NativeConnEngine;

/** errno numbers (Linux) the engine reports, by name as Node names them. */
const ERRNO_NAMES: Record<number, string> = {
  104: 'ECONNRESET', 32: 'EPIPE', 110: 'ETIMEDOUT', 113: 'EHOSTUNREACH', 111: 'ECONNREFUSED', 101: 'ENETUNREACH', 99: 'EADDRNOTAVAIL', 24: 'EMFILE',
};
const errnoName = (n: number) => ERRNO_NAMES[n] ?? `errno ${n}`;

/** One connection whose sockets the engine holds; its entry, accounting and bounds live here. */
class NativeFlow implements Flow {
  readonly protocol = 'tcp';
  readonly connId: number;
  readonly destId: number;
  readonly dest: Endpoint;
  readonly t: Tracked;
  /** Counted in tcp-pending until its real server answers or it ends. */
  waiting = true;
  constructor(private readonly engine: NativeEngine, readonly id: number, readonly svcKey: string, d: Decision, client: Endpoint, vip: Endpoint) {
    this.connId = d.id;
    this.destId = d.destId;
    this.dest = d.dest;
    this.t = tracked('tcp', client, vip, d.dest, d.destId, d.method);
  }
  destroy(): void { this.engine.destroy(this); }
}

export class NativeEngine {
  private readonly native: NativeConnEngine;
  private readonly flows = new Map<number, NativeFlow>();
  private readonly services = new Map<number, VirtualService>();
  /**
   * Listeners closed lately (-D, stop): a client a thread decided before its listener closed is an entry in
   * the table with its connect under way, and its DECIDED event may come after the close. It keeps its
   * connection, as a client the main thread had decided does. Bounded: the oldest go first.
   */
  private readonly closedServices = new Map<number, VirtualService>();
  private closed = false;
  /** The thread pumps decide on the native core (useCore). */
  private coreInUse = false;
  private acceptErrors = 0;
  private acceptFailing = false;

  constructor(Engine: ConnEngineClass, private readonly host: Host, readonly threads: number, splice: SpliceMode) {
    const spliceAfter = splice === 'off' ? Infinity : splice === 'on' ? 0 : ENGINE_SPLICE_AFTER;
    this.native = new Engine((r, a) => this.deliver(r, a), { threads, inline: true, reportMs: REPORT_MS, spliceAfter });
  }

  /** Whether the thread pumps decide their own clients (useCore took the native core). */
  get decidesOnThreads(): boolean { return this.coreInUse; }

  /** Open connections the engine holds for us. */
  get size(): number { return this.flows.size; }

  stats(): EngineStats { return this.native.stats(); }

  /**
   * The thread pumps decide their own clients from now on, on `core` (the native core the daemon's
   * director runs on, native/addon.ts loadNativeCore): no wake-up of this thread and no hand-over
   * per client. What stays here: the bounds (a budget of admit()'s room, set after each delivery
   * and each tick, so no more clients are decided there than admit() would take), services with
   * a PROXY protocol header (their clients come here as before), and every connection's
   * bookkeeping, from the DECIDED event that comes with its other events. False when the addon
   * cannot (no native core in it).
   */
  useCore(core: object, clockSeconds: number, clockNs: number): boolean {
    if (this.native.useCore === undefined) return false;
    this.coreInUse = this.native.useCore(core, clockSeconds, clockNs, this.host.limits.connectTimeoutMs);
    if (this.coreInUse) {
      for (const id of this.services.keys()) this.native.decideHere?.(id, true);
      this.publishBudget();
    }
    return this.coreInUse;
  }

  /** A listener per engine thread for `vs` (Listeners' tcpListen); rejects with the errno's code (EADDRINUSE…). */
  async listen(vs: VirtualService): Promise<{ close(): void }> {
    const id = this.native.listen(vs.address, vs.port, 4096);
    this.services.set(id, vs);
    if (this.coreInUse) this.native.decideHere?.(id, true);
    return {
      close: () => {
        if (!this.services.delete(id) || this.closed) return;
        if (this.coreInUse) {
          this.closedServices.set(id, vs);
          if (this.closedServices.size > CLOSED_SERVICES_KEPT) this.closedServices.delete(this.closedServices.keys().next().value!);
        }
        this.native.unlisten(id);
      },
    };
  }

  /** Reset a flow (its entry expired, its real server was deleted, a drain's deadline, stop); `close` follows from the engine. */
  destroy(f: NativeFlow): void {
    this.event(f, 'reset');
    this.native.abort(f.id);
  }

  /**
   * Each tick: accept(2) failures since the last (EMFILE and the like: the
   * engine rests the listener 100 ms each time) are logged, one line per
   * spell, and the spell's end once a tick passes without one.
   */
  checkAccepts(): void {
    if (this.closed) return;
    this.publishBudget();
    const n = this.native.stats().acceptErrors;
    if (n > this.acceptErrors) {
      if (!this.acceptFailing) this.host.log.warn({ failures: n - this.acceptErrors }, 'engine: cannot accept new TCP connections (out of file descriptors or memory); listeners pause 100 ms at a time, clients wait in the backlog');
      this.acceptFailing = true;
    } else if (this.acceptFailing) {
      this.acceptFailing = false;
      this.host.log.info('engine: accepting TCP connections again');
    }
    this.acceptErrors = n;
  }

  /**
   * Every pump (the main thread's and the threads) holds back the events of
   * decided connections (established, FINs, close, counts) until the next
   * delivery of clients to decide (ahead of them: every decision still sees
   * every change before it), its reportMs timer, or this: before a listing,
   * the proxy's tick and a stop, so what the table shows is what the sockets did.
   */
  flush(): void {
    if (!this.closed) this.native.flush?.();
  }

  /** Stops the threads: listeners close, connections still open are reset and closed here. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.native.close();
    for (const f of [...this.flows.values()]) this.finish(f);
  }

  /** The threads' budget: admit()'s room now (the engine counts the clients decided since, until they are delivered). */
  private publishBudget(): void {
    if (!this.coreInUse || this.closed) return;
    const room = this.host.tcpRoom?.() ?? { room: 0, threads: false };
    this.native.setBudget?.(room.room, room.threads, this.host.limits.connectTimeoutMs);
  }

  private deliver(r: Float64Array, addrs: string[]): void {
    let a = 0;
    for (let i = 0; i + RECORD <= r.length; i += RECORD) {
      try {
        const id = r[i], applied = r[i + 1] >= APPLIED, kind = (r[i + 1] & 0xff) as Kind;
        if (kind === Kind.Accept) { this.accepted(id, r[i + 2], addrs[a++], r[i + 3]); continue; }
        if (kind === Kind.Decided) { this.decidedThere(id, r[i + 2], addrs[a++], r[i + 3], r[i + 4], r[i + 5], -r[i + 6], r[i + 7]); continue; }
        const f = this.flows.get(id);
        if (f === undefined) continue;
        if (r[i + 5] > 0 || r[i + 7] > 0) this.host.account.add(f.t, r[i + 4], r[i + 5], r[i + 6], r[i + 7]);
        switch (kind) {
          case Kind.Established:
            this.answered(f);
            if (!applied) this.event(f, 'established');
            this.host.connectOk(f.svcKey, f.dest);
            break;
          case Kind.ConnFail:
            this.answered(f);
            this.host.connectFailed(f.svcKey, f.dest, errnoName(r[i + 3]));
            if (!applied) this.event(f, 'reset');
            break;
          case Kind.FinIn: if (!applied) this.event(f, 'client-fin'); break;
          case Kind.FinOut: if (!applied) this.event(f, 'server-fin'); break;
          case Kind.Reset: if (!applied) this.event(f, 'reset'); break;
          case Kind.Closed: this.finish(f, applied); break;
        }
      } catch (e) {
        // Never let one record end the batch (or the process, from the addon's callback).
        this.host.log.error(`engine: ${(e as Error).stack ?? String(e)}`);
      }
    }
    this.publishBudget();
  }

  /**
   * A client a thread pump decided on the native core (scheduled, entered in the table, and being
   * connected to its real server, or reset when `status` < 0): the rest of what accepted() does.
   */
  private decidedThere(id: number, listener: number, address: string, port: number, connId: number, destId: number, status: number, word: number): void {
    const vs = this.services.get(listener) ?? this.closedServices.get(listener);
    if (status < 0) {
      // As decideTcp with no decision (IPVS answers with ICMP unreachable; a proxy can only reset).
      if (vs !== undefined) this.host.schedulingFailed(vs.key, 'no-destination');
      return;
    }
    // The endpoint from the decision's word and the director's cache (no record read, no DestInfo per client).
    let d: Decision | null = null;
    try { d = this.host.director.decisionFor(connId, destId, word); } catch { d = null; }
    if (vs === undefined || d === null) {
      // Its real server went (deleted, no longer listed) meanwhile, or its listener closed too long ago: the connection goes with it.
      try { this.host.director.connEvent(connId, 'reset'); } catch { /* gone already */ }
      this.native.abort(id);
      return;
    }
    const client = { address, port };
    const f = new NativeFlow(this, id, vs.key, d, client, { address: vs.address, port: vs.port });
    this.flows.set(id, f);
    this.host.pending(true);
    this.host.opened(f);
  }

  /** A client the engine accepted: decided as the JS path decides; connect or reset. */
  private accepted(id: number, listener: number, address: string, port: number): void {
    const vs = this.services.get(listener);
    const client = { address, port };
    // With the threads deciding too, the room under the bounds is one count both take from: this
    // client's slot first, by counts brought up to date if the first try finds none. None left: the
    // room is held by clients in flight, which admit() then counts (its refusal, named by the bound).
    let slot: boolean | null = null;
    if (this.coreInUse && vs !== undefined && this.native.claim) {
      slot = this.native.claim();
      if (!slot) { this.publishBudget(); slot = this.native.claim(); }
    }
    const d = vs === undefined ? null : decideTcp(this.host, vs, client, slot === false ? Math.max(1, this.native.inflight?.() ?? 1) : 0);
    if (vs === undefined || d === null) {
      if (slot === true) this.native.release?.(1);
      this.native.abort(id);
      return;
    }
    const vip = { address: vs.address, port: vs.port };
    const f = new NativeFlow(this, id, vs.key, d, client, vip);
    this.flows.set(id, f);
    this.host.pending(true);
    this.host.opened(f);
    if (slot === true) {
      // Counted now: the budget from the new counts first, then the slot back (never more room than there is).
      this.publishBudget();
      this.native.release?.(1);
    }
    const pp = this.host.proxyProtocol(vs.key, d.dest);
    try {
      this.native.connect(id, d.dest.address, d.dest.port, pp === undefined ? null : proxyHeader(pp, client, vip), this.host.limits.connectTimeoutMs);
    } catch (e) {
      // An address the engine cannot connect to (the core only holds valid ones): the client is reset.
      this.host.connectFailed(vs.key, d.dest, (e as NodeJS.ErrnoException).code ?? 'error');
      this.destroy(f);
    }
  }

  private answered(f: NativeFlow): void {
    if (!f.waiting) return;
    f.waiting = false;
    this.host.pending(false);
  }

  private event(f: NativeFlow, e: ConnEventName): void {
    if (f.connId === 0) return;
    try { this.host.director.connEvent(f.connId, e); } catch { /* the entry expired or was flushed */ }
  }

  /**
   * Both sockets are gone: the last traffic was added; the entry's close, the flow's end (TcpFlow.finish's order).
   * `applied`: the pump gave the core the close already.
   */
  private finish(f: NativeFlow, applied = false): void {
    if (!this.flows.delete(f.id)) return;
    this.answered(f);
    this.host.account.close(f.t);
    if (!applied) this.event(f, 'close');
    this.host.closed(f);
  }
}

/**
 * The engine for `mode` with `threads` threads: null for 'js', or for 'auto'
 * when the addon does not load (logged, the JS path carries TCP); 'native'
 * without the addon is an error.
 */
export function loadEngine(mode: EngineMode, host: Host, threads: number, splice: SpliceMode, Engine?: ConnEngineClass): NativeEngine | null {
  if (mode === 'js') return null;
  try {
    if (Engine === undefined) {
      const addon = loadNativeAddon();
      const mod = createRequire(import.meta.url)(addon.path) as { ConnEngine?: ConnEngineClass };
      if (typeof mod.ConnEngine !== 'function') throw new Error(`${addon.path} has no connection engine (an older build: run \`npm run build:native\`)`);
      Engine = mod.ConnEngine;
    }
    return new NativeEngine(Engine, host, threads, splice);
  } catch (e) {
    const why = (e as Error).message;
    if (mode === 'native') throw new Error(`--engine native: the native connection engine is unavailable: ${why}`);
    host.log.info(`engine: native engine unavailable, TCP connections go through Node's sockets (${why.split('\n')[0]})`);
    return null;
  }
}
