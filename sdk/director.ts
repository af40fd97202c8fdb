// Director: IPVS's configuration operations and scheduling over one core.
// One class in layers, one concern a file: director/services.ts (services and
// destinations) ← director/conns.ts (the connection table) ← director/stats.ts
// (statistics) ← Director here (creation, the clock, scheduling: the
// one-flow fast path on the class itself, the batch forms in
// director/scheduling.ts).
import { Core } from './core/core.js';
import { instantiateCore, type WasmSource, type CoreFlavor } from './core/load.js';
import { layout as L } from './core/abi.gen.js';
import { InvalidOperationError } from './errors.js';
import { writeFlowWords, METHOD_NAMES } from './spec.js';
import { PreparedFlow } from './flow.js';
import { DirectorStats } from './director/stats.js';
import * as sched from './director/scheduling.js';
import type { FlowInput, Decision, BatchResult } from './types.js';
import type { CoreExports } from './core/exports.js';

export { FLOW_WORDS, DECISION_WORDS } from './director/scheduling.js';

export interface DirectorOptions {
  /** Seed for hashes and the twos PRNG; random when omitted. */
  seed?: number;
  /** Where the core comes from (path, URL, bytes or a compiled module); default the packaged build. */
  wasm?: WasmSource;
  /** Which packaged build to load; tests use 'debug'. */
  flavor?: CoreFlavor;
  /**
   * An instantiated core's exports instead of `wasm`/`flavor`: for hosts that
   * embed the core another way (the daemon's native core from the addon,
   * `wasmvs/native`). Each Director needs an instance of its own.
   */
  exports?: CoreExports;
  /** Clock in seconds used when a call does not pass `now`; default a monotonic clock from creation. */
  clock?: () => number;
  /** conn_tab_bits: initial connection-table buckets 2^bits (8..24, default 12 = "size=4096"); the table still grows. */
  connTabBits?: number;
  /**
   * false: schedule() only asks the scheduler and keeps no connection entries
   * (scheduler studies that set load with setDestConns). 'count': no entries
   * either, but each decision counts one new connection on its destination
   * (inactive, as IPVS binds a new connection), in the same core call, and
   * endDestConn reports the ends: load-aware studies with no call per pick.
   * Default true.
   */
  connections?: boolean | 'count';
}

function monotonicSeconds(): () => number {
  const t0 = typeof performance !== 'undefined' ? performance.now() : Date.now();
  return () => ((typeof performance !== 'undefined' ? performance.now() : Date.now()) - t0) / 1000;
}

/** Core instances handed in through DirectorOptions.exports, each to one Director only. */
const claimedCores = new WeakSet<object>();

/** Reads a Director's core; set by Director's static block (the field is an ES private field). */
let coreOfDirector: (d: Director) => Core;

/**
 * The core behind a Director, for the SDK's own modules and the documented
 * host entry (core/index.ts, `wasmvs/core`). Not exported by the package.
 */
export function directorCore(d: Director): Core {
  return coreOfDirector(d);
}

export class Director extends DirectorStats {
  // ES private: no property of a Director reaches the core (hosts use wasmvs/core's coreOf).
  readonly #core: Core;
  readonly #clock: () => number;
  /** Endpoint objects per dest id, reused by schedule() (the services layer clears it on any dest change). */
  readonly #endpoints: sched.EndpointCache;

  static {
    coreOfDirector = (d) => {
      if (typeof d !== 'object' || d === null || !(#core in d)) throw new InvalidOperationError('not a Director');
      return d.#core;
    };
  }

  private constructor(core: Core, clock: () => number, endpoints: sched.EndpointCache) {
    super(core, endpoints);
    this.#core = core;
    this.#clock = clock;
    this.#endpoints = endpoints;
  }

  static async create(opts: DirectorOptions = {}): Promise<Director> {
    const flavor = opts.flavor ?? (typeof process !== 'undefined' && process.env?.WASMVS_CORE === 'debug' ? 'debug' : 'release');
    if (opts.exports !== undefined) {
      // Two Directors on one instance would each take the other's services and connections for its own.
      if (typeof opts.exports !== 'object' || opts.exports === null || typeof opts.exports.abiVersion !== 'function') throw new InvalidOperationError('exports: not a core\'s exports');
      if (claimedCores.has(opts.exports)) throw new InvalidOperationError('exports: this core instance already belongs to a Director');
      claimedCores.add(opts.exports);
    }
    const x = opts.exports ?? await instantiateCore(opts.wasm, flavor);
    const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 52);
    const core = new Core(x, seed);
    if (opts.connTabBits !== undefined) {
      const b = opts.connTabBits;
      if (!Number.isInteger(b) || core.x.connTabBits(b) < 0) throw new InvalidOperationError(`bad connTabBits ${b}`);
    }
    const track = opts.connections;
    if (track !== undefined && track !== true && track !== false && track !== 'count') {
      throw new InvalidOperationError(`bad connections option ${String(track)} (true, false or 'count')`);
    }
    if (track === false) core.x.setOption(L.OPT_TRACK_CONNS, 0);
    else if (track === 'count') core.x.setOption(L.OPT_TRACK_CONNS, 2);
    return new Director(core, opts.clock ?? monotonicSeconds(), new sched.EndpointCache());
  }

  /** Seconds as the core sees them (u32). */
  now(at?: number): number {
    const t = at ?? this.#clock();
    if (!Number.isFinite(t) || t < 0) throw new InvalidOperationError(`bad time ${t}`);
    return Math.floor(t) >>> 0;
  }

  // --- scheduling (the one-flow fast path here; the rest in director/scheduling.ts) ---

  /**
   * Schedule one new flow; null when no destination is available or no
   * service matches. `flow` is a FlowInput (checked, its addresses parsed
   * through a cache) or a PreparedFlow from prepareFlow (checked and encoded
   * once: the fast path). `now` (seconds) defaults to the flow's `now`, then
   * the director's clock.
   */
  schedule(flow: FlowInput | PreparedFlow, now?: number): Decision | null {
    const core = this.#core;
    if (flow instanceof PreparedFlow) flow.writeRecord(core.words(), core.flow0);
    else writeFlowWords(flow, core.words(), core.flow0);
    core.scheduleFn(1, this.now(now ?? flow.now));
    // The common case reads three words of the decision record; the full record
    // only for a destination not seen yet (or seen with another port).
    const u = core.words();
    const w = core.dec0;
    if ((u[w] | 0) < 0) return null;
    const dest = u[w + 2];
    const m = u[w + 3];
    const ep = this.#endpoints.get(dest);
    if (ep === undefined || ep.port !== m >>> 16) return sched.decisionOf(this.#endpoints, core.readDecision(0));
    return { id: u[w + 1], dest: ep, destId: dest, method: METHOD_NAMES[m & 0xff] ?? 'route' };
  }

  /**
   * The host fast path: `n` flow records as words (FLOW_WORDS = 12 u32 each,
   * the core's flow record: af | proto << 8 | tcpflags << 16, fwmark, client
   * address ×4, virtual address ×4, cport | vport << 16, length; IPv4 in the
   * first address word, host order) in, decision records (DECISION_WORDS = 8
   * u32 each: status (i32), connection id, dest id, method | daf << 8 |
   * dport << 16, dest address ×4) out, one core call per 1024 flows and no
   * object per flow. A record the core refuses gets a negative status word
   * (the `reason` codes of scheduleBatch). Returns how many were scheduled.
   */
  scheduleWords(flows: Uint32Array, n: number, out: Uint32Array, now?: number): number {
    return sched.scheduleWords(this.#core, this, flows, n, out, now);
  }

  /**
   * The Decision of a connection the core scheduled outside schedule(): a
   * host thread calling the core itself (the proxy's engine on the native
   * core). From its decision record's connection id, dest id and third word
   * (method | daf << 8 | dport << 16), with schedule()'s endpoint objects, so
   * the common case reads no record. Throws NoSuchDestError when the
   * destination is gone.
   */
  decisionFor(connId: number, destId: number, word: number): Decision {
    const port = word >>> 16;
    const ep = this.#endpoints.endpoint(destId, port) ?? this.#endpoints.add(destId, this.destById(destId).address, port);
    return { id: connId >>> 0, dest: ep, destId, method: METHOD_NAMES[word & 0xff] ?? 'route' };
  }

  /** Schedule many flows in as few core calls as possible; one result per flow. */
  scheduleBatch(flows: readonly FlowInput[], now?: number): BatchResult[] {
    return sched.scheduleBatch(this.#core, this, this.#endpoints, flows, now);
  }
}
