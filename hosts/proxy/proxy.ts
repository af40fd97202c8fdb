// The userspace proxy data path of wasmvsd: listeners per virtual service,
// the 1-second tick that drives the core's timers and accounting, health
// checks, drains, metrics, the expire_nodest_conn rule for open sockets,
// and the bounds on open flows (limits.ts): flows past a bound are refused
// and counted; a flow whose table entry expired is cut.
import { readFileSync } from 'node:fs';
import type { Director } from '../../sdk/director.js';
import type { ServiceKey, Endpoint, DestInfo, ServiceInfo } from '../../sdk/types.js';
import { Accounting } from './account.js';
import { Listeners, type ListenerOp } from './listeners.js';
import { Checks, pairKey, svcKeyOf, type DrainService } from '../../daemon/checks.js';
import { Drains, type DrainProgress } from '../../daemon/drain.js';
import { Metrics, metricsEndpoint, serviceLabel, type DestView } from '../../daemon/metrics.js';
import { OpenFiles, linuxFds, type FdSystem } from './fdlimit.js';
import { FlowGate, openFilesLimit, resolveLimits, type Limits, type LimitName, type ListenerFds } from './limits.js';
import { createLogger, type Logger } from '../../daemon/logger.js';
import { parseSettings, lookup, destKeyText, type ProxySettings } from '../../daemon/settings.js';
import type { Host, Flow, VirtualService, ListenerRoom } from './host.js';
import { loadSplicer, parseSpliceMode, type Splicer, type SpliceMode } from './splice.js';
import { WorkerPool } from './workers.js';
import { loadEngine, parseEngineMode, type EngineMode, type NativeEngine } from './engine.js';

export interface ProxyOptions {
  /** --config FILE: rules in -S form plus `# wasmvs-proxy` directives. */
  configFile?: string;
  /** Settings given directly (the demo, tests); merged over the file's. */
  settings?: Partial<ProxySettings>;
  log?: Logger;
  /** Tick period in ms (1 s: the core's clock is in seconds). */
  tickMs?: number;
  /** The open-files limit the default bounds derive from (default: this process's, from /proc/self/limits). */
  fds?: number;
  /** --splice: TCP bytes kernel to kernel through the native addon (default: $WASMVS_SPLICE, else auto). */
  splice?: SpliceMode;
  /** TCP in this many worker processes (workers.ts), or engine pumps with the native engine (the main thread and N-1 threads); 1 (default): everything in this process. */
  workers?: number;
  /** --engine: who owns TCP sockets (engine.ts); default $WASMVS_ENGINE, else DEFAULT_ENGINE. */
  engine?: EngineMode;
  /**
   * The native core (native/addon.ts loadNativeCore) the director given to start() runs on, with its
   * clock `performance.now() / 1000`: the engine's thread pumps then decide their own clients on it.
   */
  nativeCore?: object;
  /** How the open-files limit is read and raised for the listeners (fdlimit.ts); default: this process's, with `fds` unset. */
  openFiles?: FdSystem | null;
}

const EMPTY: ProxySettings = { health: [], proxyProtocol: [], options: {} };
/** How long configChanged waits to gather a burst of changes into one sync. */
const SYNC_DELAY_MS = 20;
/** A request with more changes than this is logged as one summary line. */
const CHANGES_LOGGED = 20;

export class ProxyDataPath implements Host {
  readonly name = 'proxy';
  readonly log: Logger;
  director!: Director;
  account!: Accounting;
  settings: ProxySettings = EMPTY;
  metrics: Metrics | null = null;
  metricsPort: number | null = null;
  splicer: Splicer | null = null;
  /** --engine native: the addon's pumps own the TCP sockets (engine.ts); null: Node's sockets. */
  engine: NativeEngine | null = null;
  private listeners!: Listeners;
  private checks!: Checks;
  readonly drains = new Drains();
  private readonly flows = new Map<number, Set<Flow>>();
  /** Open flows per protocol against the bounds. */
  private readonly gate: FlowGate;
  /** Real servers whose last connection attempt failed (one log line per failing spell). */
  private readonly failing = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private syncing: Promise<void> = Promise.resolve();
  private ticks = 0;
  private pendingSync: NodeJS.Timeout | null = null;
  /** With --workers N ≥ 2: the worker processes that carry TCP. */
  pool: WorkerPool | null = null;
  tcpListen?: (vs: VirtualService) => Promise<{ close(): void | Promise<void> }>;
  /** Raises the open-files limit as listeners need it (fdlimit.ts); null: left alone (a test's own `fds`). */
  private readonly openFiles: OpenFiles | null;
  /** The listeners' fds the flow bounds were last made with (limits.ts). */
  private room: ListenerFds = { listenerFds: 0, raised: 0 };
  private loggedTcpConns: number | null = null;

  constructor(private readonly opts: ProxyOptions = {}) {
    this.log = opts.log ?? createLogger();
    const sys = opts.openFiles !== undefined ? opts.openFiles : opts.fds === undefined ? linuxFds : null;
    this.openFiles = sys === null ? null : new OpenFiles(this.log, sys);
    this.gate = new FlowGate(resolveLimits({}, opts.fds ?? openFilesLimit()), {
      refused: (p, k, l, b, first) => this.refused(p, k, l, b, first),
      recovered: (k) => this.log.info({ service: k }, 'accepting new flows again'),
    });
  }

  loadSettings(): ProxySettings {
    let s: ProxySettings = { health: [], proxyProtocol: [], options: {} };
    if (this.opts.configFile) {
      try {
        s = parseSettings(readFileSync(this.opts.configFile, 'utf8'), (m) => this.log.warn(`${this.opts.configFile}: ${m}`));
      } catch (e) {
        this.log.error(`cannot read ${this.opts.configFile}: ${(e as Error).message}`);
      }
    }
    const o = this.opts.settings ?? {};
    return {
      health: [...(o.health ?? []), ...s.health], proxyProtocol: [...(o.proxyProtocol ?? []), ...s.proxyProtocol],
      metrics: o.metrics ?? s.metrics ?? metricsEndpoint(process.env.WASMVS_METRICS), options: { ...s.options, ...o.options },
      limits: { ...s.limits, ...o.limits },
    };
  }

  async start(director: Director): Promise<void> {
    this.director = director;
    this.account = new Accounting(director);
    this.listeners = new Listeners(this);
    this.checks = new Checks(director, this.drains, this.log);
    this.applySettings(this.loadSettings());
    this.log.info({ limits: this.limits }, 'flow limits');
    const splice = this.opts.splice ?? parseSpliceMode(process.env.WASMVS_SPLICE, 'WASMVS_SPLICE');
    const workers = this.opts.workers ?? 1;
    this.engine = loadEngine(this.opts.engine ?? parseEngineMode(process.env.WASMVS_ENGINE, 'WASMVS_ENGINE'), this, workers, splice);
    if (this.engine) {
      // The engine's pumps take TCP (--workers: how many; the first on this thread); UDP stays on Node's sockets here.
      const engine = this.engine;
      this.tcpListen = (vs) => engine.listen(vs);
      // The director's clock is performance.now() / 1000 (DaemonProxy.coreExports): the threads read the same one.
      const onThreads = this.opts.nativeCore !== undefined && engine.useCore(this.opts.nativeCore, performance.now() / 1000, Number(process.hrtime.bigint()));
      this.log.info({ pumps: workers, splice, nativeCore: onThreads }, `engine: native (${workers === 1 ? 'the main thread accepts' : `the main thread and ${workers - 1} thread${workers === 2 ? '' : 's'} accept`}, connect and move TCP bytes; ${
        onThreads ? 'each pump decides its clients on the native core and gives it their state changes' : 'the core decides every connection on the main thread'})`);
    } else {
      this.splicer = loadSplicer(splice, this.log);
      if (this.splicer) {
        this.log.info({ after: this.splicer.after }, `splice: TCP bytes move kernel to kernel (native splice pump), ${
          this.splicer.after === 0 ? 'every connection' : `connections past ${this.splicer.after} bytes`}`);
      }
      if (workers > 1) {
        const pool = new WorkerPool(this, workers, this.opts.tickMs ?? 1000);
        this.pool = pool;
        await pool.start();
        this.tcpListen = (vs) => pool.listen(vs);
      }
    }
    if (this.settings.metrics) await this.startMetrics(this.settings.metrics);
    await this.sync();
    this.timer = setInterval(() => this.tick(), this.opts.tickMs ?? 1000);
    this.timer.unref();
  }

  /**
   * Listeners: a TCP service holds one fd per pump (--engine native) or per process, a UDP service
   * one. The limit is raised for them where it can be, the flow bounds' defaults make room for them,
   * and they may hold what is left but the fds kept for control (fdlimit.ts, limits.ts).
   */
  listenerRoom(held: number, want: number): ListenerRoom {
    const perTcp = this.engine ? this.opts.workers ?? 1 : 1;
    const { fds, reserve } = this.gate.limits;
    if (!this.openFiles) return { fds: Infinity, tcp: perTcp, limit: Infinity, kept: 0 };
    const soft = want > held ? this.openFiles.ensure(want, fds, reserve, this.pool?.pids() ?? []) : this.openFiles.limit;
    this.resize({ listenerFds: held, raised: Number.isFinite(soft) ? Math.max(0, soft - fds) : 0 });
    return { fds: this.openFiles.room(reserve), tcp: perTcp, limit: soft, kept: Math.ceil(reserve / 2) };
  }

  /** The flow bounds' defaults again, when the listeners' share of the fds changed. */
  private resize(room: ListenerFds): void {
    const { reserve } = this.gate.limits;
    const share = (r: ListenerFds) => Math.max(0, r.listenerFds - Math.floor(reserve / 2)) - r.raised;
    if (share(room) === share(this.room)) { this.room = room; return; }
    this.room = room;
    const before = this.gate.limits;
    this.gate.limits = resolveLimits(this.settings.limits ?? {}, before.fds, room);
    const now = this.gate.limits;
    if (now.tcpConns === before.tcpConns && now.udpSessions === before.udpSessions) return;
    this.pool?.configure(now);
    // One line when the listeners first take a share, then when the bounds move by 1/16 or more.
    const last = this.loggedTcpConns;
    if (last === null || Math.abs(now.tcpConns - last) * 16 >= last) {
      this.loggedTcpConns = now.tcpConns;
      this.log.info({ limits: now, listenerFds: room.listenerFds }, `flow limits: ${room.listenerFds} listening sockets hold part of the open-files limit`);
    }
  }

  applySettings(s: ProxySettings): void {
    this.settings = s;
    this.gate.limits = resolveLimits(s.limits ?? {}, this.gate.limits.fds, this.room);
    this.pool?.configure(this.gate.limits);
    if (Object.keys(s.options).length > 0) this.director.setOptions(s.options);
  }

  private async startMetrics(m: { host: string; port: number }): Promise<void> {
    // Same service label as the other series: "tcp/127.0.0.1:80".
    const states = () => new Map([...this.listeners.states()].map(([k, up]) => [serviceLabel(k), up]));
    this.metrics = new Metrics(this.director, () => this.destViews(), states, () => this.gate.open, () => ({
      limit: this.openFiles?.limit ?? this.gate.limits.fds, listeners: this.listeners.heldFds,
      tcpConns: this.gate.limits.tcpConns, udpSessions: this.gate.limits.udpSessions,
    }), this.engine?.decidesOnThreads ? this.threadDecisions(this.engine) : undefined);
    try {
      this.metricsPort = await this.metrics.listen(m.host, m.port);
      this.log.info({ address: `${m.host}:${this.metricsPort}` }, 'metrics on /metrics');
    } catch (e) {
      this.log.error(`metrics: cannot listen on ${m.host}:${m.port}: ${(e as Error).message}`);
    }
  }

  /**
   * The engine threads' decisions for /metrics: its counts, and the last ones read once it is closed
   * (a scrape during a stop, after the engine went and before /metrics closes, still reads the totals).
   */
  private threadDecisions(engine: NativeEngine): () => { scheduled: number; refused: number } {
    let last = { scheduled: 0, refused: 0 };
    return () => {
      if (this.engine !== engine) return last;
      const st = engine.stats();
      return (last = { scheduled: (st.decidedHere ?? 0) - (st.refusedHere ?? 0), refused: st.refusedHere ?? 0 });
    };
  }

  /** One log line per configuration change; a big restore is one summary line. */
  logChanges(journal: string[] | null | undefined): void {
    if (journal === undefined) return;
    if (journal === null || journal.length > CHANGES_LOGGED) {
      this.log.info({ changes: journal?.length ?? null }, 'configuration changed (bulk)');
      return;
    }
    for (const rule of journal) this.log.info({ rule }, 'config change');
  }

  /** Coalesced: a burst of changes (a big -R, a script of -a) costs one sync. */
  configChanged(): void {
    if (this.pendingSync !== null) return;
    this.pendingSync = setTimeout(() => { this.pendingSync = null; void this.sync(); }, SYNC_DELAY_MS);
  }

  /**
   * The listeners of the services a change named open or close now, in the sync's turn (one at a
   * time with the syncs); the coalesced sync still follows for everything else.
   */
  listenersFollow(ops: readonly ListenerOp[]): Promise<void> {
    this.syncing = this.syncing.then(() => this.listeners.change(ops))
      .catch((e: unknown) => this.log.error(`listener change failed: ${(e as Error).stack ?? String(e)}`));
    return this.syncing;
  }

  /** Listeners and health checks follow the Director (serialised: one sync at a time). */
  sync(): Promise<void> {
    this.syncing = this.syncing.then(async () => {
      const services = this.director.serviceConfigs();
      await this.listeners.sync(services);
      this.checks.sync(this.settings, () => this.director.configuration());
    }).catch((e: unknown) => this.log.error(`sync failed: ${(e as Error).stack ?? String(e)}`));
    return this.syncing;
  }

  private destsOf(s: ServiceInfo): DestInfo[] {
    const key: ServiceKey = { protocol: s.protocol!, address: s.address!, port: s.port };
    try { return this.director.dests(key); } catch { return []; }
  }

  private tick(): void {
    try {
      // Traffic of the last tick re-arms its entries before the timer wheel moves: a busy flow never expires.
      this.engine?.flush();
      this.account.flush();
      this.director.advance();
      this.expireIdle();
      this.expireNodest();
      this.stepDrains();
      this.engine?.checkAccepts();
      if (++this.ticks % 5 === 0 && this.listeners.retryDue()) void this.sync();
    } catch (e) {
      this.log.error(`tick failed: ${(e as Error).stack ?? String(e)}`);
    }
  }

  /**
   * Flows whose table entry is gone (idle past its state's timeout — UDP,
   * ESTABLISHED, FIN_WAIT… — or flushed) end: IPVS no longer knows them, so
   * neither socket may stay open. Set iteration tolerates the deletions.
   */
  private expireIdle(): void {
    for (const set of this.flows.values()) {
      for (const f of set) if (f.connId !== 0 && this.director.connection(f.connId) === null) f.destroy();
    }
  }

  /** expire_nodest_conn: open sockets to a deleted real server are cut, as IPVS drops their entries. */
  private expireNodest(): void {
    if (this.flows.size === 0 || !this.director.options().expireNodestConn) return;
    for (const [id, set] of this.flows) {
      let available = false;
      try { available = this.director.destById(id).available; } catch { available = false; }
      if (!available) for (const f of [...set]) f.destroy();
    }
  }

  // --- Host -------------------------------------------------------------------

  proxyProtocol(svcKey: string, dest: Endpoint): 1 | 2 | undefined {
    return lookup(this.settings.proxyProtocol, svcKey, destKeyText(dest.address, dest.port))?.version;
  }

  get limits(): Limits { return this.gate.limits; }

  admit(protocol: 'tcp' | 'udp', svcKey: string, svcOpen: number, reservedTcp = 0): boolean {
    return this.gate.admit(protocol, svcKey, svcOpen, reservedTcp);
  }

  private refused(protocol: 'tcp' | 'udp', svcKey: string, limit: LimitName, bound: number, first: boolean): void {
    if (limit === 'tcp_pending') this.metrics?.tcpPendingRefused.inc({ service: serviceLabel(svcKey) });
    else if (protocol === 'tcp') this.metrics?.tcpRefused.inc({ service: serviceLabel(svcKey) });
    else this.metrics?.udpDropped.inc({ service: serviceLabel(svcKey), limit });
    if (!first) return;
    this.log.warn({ service: svcKey, limit, bound }, limit === 'tcp_pending'
      ? `TCP half-open limit reached (${limit}=${bound}: connections waiting for their real server); new connections are reset`
      : protocol === 'tcp'
      ? `TCP connection limit reached (${limit}=${bound}); new connections are reset`
      : `UDP session limit reached (${limit}=${bound}); datagrams of new client flows are dropped`);
  }

  tcpRoom(): { room: number; threads: boolean } {
    const g = this.gate.tcpRoom();
    return { room: g.room, threads: !g.refusing && this.settings.proxyProtocol.length === 0 };
  }

  schedulingFailed(svcKey: string, reason: string): void {
    this.metrics?.schedulingFailures.inc({ service: serviceLabel(svcKey), reason });
  }

  connectFailed(svcKey: string, dest: Endpoint, reason: string): void {
    const d = `${dest.address}:${dest.port}`;
    this.metrics?.connectFailures.inc({ service: serviceLabel(svcKey), dest: d });
    const key = pairKey(svcKey, destKeyText(dest.address, dest.port));
    if (this.failing.has(key)) return;
    this.failing.add(key);
    const what = reason === 'ETIMEDOUT' ? 'does not answer' : 'refuses connections';
    this.log.warn({ service: svcKey, dest: d, reason }, `real server ${d} ${what} (${reason}); clients scheduled to it are reset`);
  }

  connectOk(svcKey: string, dest: Endpoint): void {
    if (this.failing.size === 0) return;
    const key = pairKey(svcKey, destKeyText(dest.address, dest.port));
    if (this.failing.delete(key)) this.log.info({ service: svcKey, dest: `${dest.address}:${dest.port}` }, 'real server accepts connections again');
  }

  /** A TCP connection waits for its real server (true) or no longer does (false). */
  pending(waiting: boolean): void {
    this.gate.open.pending += waiting ? 1 : -1;
  }

  opened(flow: Flow): void {
    let set = this.flows.get(flow.destId);
    if (!set) { set = new Set(); this.flows.set(flow.destId, set); }
    if (set.has(flow)) return;
    set.add(flow);
    this.gate.open[flow.protocol]++;
  }

  closed(flow: Flow): void {
    const set = this.flows.get(flow.destId);
    if (!set?.delete(flow)) return;
    this.gate.open[flow.protocol]--;
    if (set.size === 0) this.flows.delete(flow.destId);
  }

  /** Open proxied flows (all, or to one dest id). */
  openFlows(destId?: number): number {
    // Connections the engine's threads decided reach these sets with their held events: delivered first.
    this.engine?.flush();
    if (destId !== undefined) return this.flows.get(destId)?.size ?? 0;
    let n = 0;
    for (const s of this.flows.values()) n += s.size;
    return n;
  }

  // --- drain --------------------------------------------------------------------

  /** Start draining a real server; deadlineS null = wait for its connections however long. */
  drain(svc: DrainService, dest: Endpoint, deadlineS: number | null = null): DrainProgress {
    const e = this.checks.startDrain(svc, dest, deadlineS);
    this.stepDrains();
    return { ...e };
  }

  /** End a drain: the real server takes new connections again (when healthy). */
  undrain(svc: DrainService, dest: Endpoint): boolean {
    return this.checks.cancelDrain(svc, dest);
  }

  drainProgress(): DrainProgress[] {
    return this.checks.drainProgress();
  }

  private stepDrains(): void {
    for (const e of this.drains.all()) {
      const id = this.checks.destId(e.key);
      let info: DestInfo | null = null;
      if (id !== undefined) { try { info = this.director.destById(id); } catch { info = null; } }
      const r = this.drains.step(e, id === undefined ? 0 : this.openFlows(id), info?.activeconns ?? 0, info?.inactconns ?? 0);
      if (r === 'deadline' && id !== undefined) for (const f of [...(this.flows.get(id) ?? [])]) f.destroy();
      if (r !== null) this.log.info({ service: e.service, dest: e.dest, forced: e.forced, left: e.open }, 'drained');
    }
  }

  /** Per dest views for metrics. */
  destViews(): DestView[] {
    const out: DestView[] = [];
    for (const s of this.director.services()) {
      const svcKey = svcKeyOf(s);
      if (svcKey === null) continue;
      for (const d of this.destsOf(s)) {
        const key = pairKey(svcKey, destKeyText(d.address, d.port));
        out.push({ svc: s, dest: d, healthy: this.checks.healthy(key), draining: this.drains.has(key) });
      }
    }
    return out;
  }

  // --- shutdown -------------------------------------------------------------------

  /** Stop accepting, wait for open connections up to the deadline, then cut the rest. */
  async stop(deadlineMs: number): Promise<void> {
    this.listeners?.closeAll();
    this.checks?.stopAll();
    const end = Date.now() + Math.max(0, deadlineMs);
    for (let i = 0; i < 100_000 && this.openFlows() > 0 && Date.now() < end; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const set of [...this.flows.values()]) for (const f of [...set]) f.destroy();
    this.splicer?.close();
    this.splicer = null;
    this.engine?.close();
    this.engine = null;
    await this.pool?.stop();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.pendingSync) clearTimeout(this.pendingSync);
    this.pendingSync = null;
    this.account?.flush();
    this.metrics?.close();
    this.log.info('proxy stopped');
  }
}
