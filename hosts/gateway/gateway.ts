// wasmvsd's 'gateway' data path: NFQUEUE bursts read straight into the
// core's REGION_PACKETS, one gwBurst call per burst decides and rewrites
// every packet in place, and the verdicts go back from REGION_LIST in one
// addon call. The netfilter rules follow the configuration (rules.ts).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { layout as L, counters as C } from '../../sdk/core/abi.gen.js';
import type { Director } from '../../sdk/director.js';
import type { ServiceConfig } from '../../sdk/types.js';
import { coreOf } from '../../sdk/core/index.js';
import { loadNativeQueue, type NativeQueue, type NativeQueueClass, type VerdictMode } from '../../native/addon.js';
import { ruleSet, removeRules, run, deferred, RuleSync, ipsetAvailable, SET_MIN, BASE_TABLES, baseTablesPresent, removeMadeTables, type ServiceView, type AsyncExec, type Exec, type QueueSpec, type RuleSet } from './rules.js';
import { TunnelRouteCache } from './routes.js';
import { packedSpan } from './records.js';
import { parseKernelQueues, type GatewaySource, type KernelQueue } from './metrics.js';
import { restoreRecorded, SysctlRecordFile, TABLE_KEY, type SysctlRecord } from './sysctl-record.js';
import { HeldVerdicts } from './held.js';
import { applyFast, ctTimeoutUsable, drChainsAfter, fastDelta, type FastParts, drFlushScript, fastPlan, fastUnavailable, fastUnavailable6, goneMarks, parseDrCounters, removeFast, retarget, DrStats, FAST_INVALID_MARK, FAST_MARK_BASE, FAST_MARK_MASK, FAST_TABLE } from './fastpath.js';
import { CtFeed, CT_SETTLED, CT_YOUNG, loadConntrack, type NativeConntrackClass } from './ctfeed.js';

export interface GatewayOptions extends QueueSpec {
  /** Packets per read and per gwBurst call. */
  burst: number;
  /**
   * Bytes per packet record (header + copied bytes), a multiple of 4; 0 (the
   * default): packed records, each as long as its packet, so packets up to
   * 65,531 bytes (all NFQUEUE copies) go through whole.
   */
  stride: number;
  /** false: one verdict message per packet (benchmark comparisons only). */
  batch?: boolean;
  /** 'per-packet': one verdict message and one sendto per packet (benchmark baseline only). */
  verdict?: VerdictMode;
  /** Where the original sysctl values are recorded (sysctl-record.ts); wasmvsd passes it, beside the socket. */
  sysctlRecord?: string;
  /**
   * IPv4 and IPv6 NAT and DR services: only new flows are queued, the kernel carries
   * the rest (fastpath.ts), where nft and ctnetlink work (else a warn line and
   * the userspace path). `wasmvsd gateway` turns it on unless `--fast-path off`
   * (parseGatewayArgs); absent here (direct use, the benchmarks): off.
   */
  fastPath?: boolean;
  /**
   * Connections are synced with peer directors (wasmvsd sets it from `--sync-*`
   * through its DataPathContext): NAT services stay on the userspace path. A flow that
   * moves here from a failed director has its connection from the sync but
   * no conntrack entry, and its replies (routed to any survivor) must be
   * de-NATed by the core, as IPVS's synced connections are; the fast path
   * de-NATs only what this director's conntrack NATed. DR keeps the fast path.
   */
  connSync?: boolean;
  /**
   * Each queue read and decided on a thread of its own on the native core (`--queue-threads`, on by
   * default in wasmvsd where the addon has that core): wasmvsd runs the director on it and passes it
   * (GatewayDeps.nativeCore). This object does nothing with the flag itself.
   */
  queueThreads?: boolean;
}

/** The most NFQUEUE copies of one packet (its u16 attribute length less the header). */
const MAX_COPY = 65531;

// The options' table, defaults and parser live in options.ts (wasmvsd reads them without loading this module).
export { GATEWAY_DEFAULTS, parseGatewayArgs } from './options.js';

/** Kernel queue length and socket buffer: room for bursts while the loop is busy. */
const QUEUE_MAXLEN = 8192;
const QUEUE_RCVBUF = 8 << 20;
/**
 * A listing reads conntrack first, at most this often (catchUp), and at most
 * a tenth of the time: after a read that took T ms, the next waits 10 T (the
 * read is one synchronous dump of every entry of ours, and the queue waits
 * meanwhile: a tool polling -L on a director with many flows must not hold it).
 */
const CATCH_UP_MS = 200;
const CATCH_UP_SHARE = 10;
/** How often the conntrack feed reads its destroy events between its once-a-second rounds. */
const EVENTS_MS = 200;
/** Destroy events read at a time before a burst with a stale SYN (eventsFirst). */
const EVENTS_FIRST = 4096;
/** How often the routes towards tunnel real servers are looked up again. */
const TUNNEL_REFRESH_MS = 10_000;

/** /proc and /sys access (tests pass a map instead of the machine's files). */
export interface SysctlFiles { read(path: string): string; write(path: string, value: string): void; list?(dir: string): string[] }

/** Where the gateway's lines go; the daemon maps the level onto its pino logger. */
export type GatewayLog = (message: string, level?: 'info' | 'warn' | 'error') => void;

/**
 * Injected parts: the command runners (synchronous for start/stop cleanup; asynchronous for
 * configuration changes, by default `exec` deferred when only it is given), the native queue
 * class, the sysctl files.
 */
export interface GatewayDeps {
  exec?: Exec; run?: AsyncExec; Native?: NativeQueueClass; sysctl?: SysctlFiles; record?: SysctlRecord; Conntrack?: NativeConntrackClass;
  /**
   * The native core (native/addon.ts loadNativeCore) the director given to start() runs on, with the
   * director's clock: each queue then has a thread of its own that reads and decides its bursts on it
   * (`--queue-threads on`; docs/gateway.md), and JS sees only the bursts it hands over.
   */
  nativeCore?: { core: object; clock: () => number };
}

const ip4 = (s: string) => s.split('.').reduce((a, b) => ((a << 8) | Number(b)) >>> 0, 0);

export class Gateway {
  private director: Director | null = null;
  private queues: NativeQueue[] = [];
  private timer: NodeJS.Timeout | null = null;
  private eventTimer: NodeJS.Timeout | null = null;
  private rules: RuleSet | null = null;
  private installedText: string | null = null;
  /** The configuration those rules were made from, and the switches they depend on (null with them). */
  private installedLayout: { config: readonly ServiceConfig[]; switches: string } | null = null;
  private readonly sync: RuleSync;
  /** The rule update in flight, and whether the configuration changed since it read it. */
  private applying: Promise<void> | null = null;
  private dirty = false;
  /** Each queue's poll callback, so a rule update can hold the queue and resume it. */
  private readonly readers = new Map<NativeQueue, (status: number) => void>();
  private readonly tunnelRoutes: TunnelRouteCache;
  /** Routes towards NAT real servers: their MTU bounds DF requests (natMtu). */
  private readonly natRoutes: TunnelRouteCache;
  private tunnelTimer: NodeJS.Timeout | null = null;
  private savedSysctl = new Map<string, string>();
  /** Whether the queues take GSO super-packets whole (gso()). */
  private gsoOn = true;
  /** Bursts the core refused (E_*): answered with the fail verdict. */
  failedBursts = 0;
  /** Fast path in force (asked for and nft usable); its real servers' marks; the nft script installed. */
  private fast = false;
  /** IPv6 services may take it too (ip6tables and the ip6 nft table usable). */
  private fast6 = false;
  /** The fast path's ct timeout policy is usable (fastpath.ts natRule). */
  private ctTimeout = false;
  private fastTargets: ReadonlyMap<number, number> = new Map();
  private fastTargets6: ReadonlyMap<string, number> = new Map();
  /** Whether a real server's rules are in (held.take's test; one function, not one per burst). */
  private readonly isReady = (slot: number) => this.readySlots.has(slot);
  /** The dest ids the core marks fast flows for (fastDestsInCore). */
  private coreFast: ReadonlySet<number> = new Set();
  private drTargets: ReadonlyMap<string, number> = new Map();
  /** DR marks → real server ids, and the flow maps' counters fed to the core (DrStats); a read in flight. */
  private drDests: ReadonlyMap<number, number> = new Map();
  private readonly drStats = new DrStats();
  private drReading: Promise<void> | null = null;
  private fastScript: string | null = null;
  /** The parts of the script last applied whole or by delta (fastDelta); null: apply the next one whole. */
  private fastParts: FastParts | null = null;
  /**
   * Real servers (dest id slots, NAT and DR) whose kernel rules are in place: the last round of rules
   * installed them. A verdict towards any other waits in `held` for the next round (held.ts).
   */
  private readySlots = new Set<number>();
  private readonly held = new HeldVerdicts<NativeQueue>();
  /** configChanged's callers, each with the round that carries its change. */
  private roundWaiters: Array<{ round: number; resolve: () => void }> = [];
  /** Rounds of rules begun (configChanged): a verdict held during round R is answered once round R + 1 is done. */
  private rulesRound = 0;
  /** The round during which a held verdict last asked for another; whether the last round failed to install. */
  private kickedRound = -1;
  private rulesFailed = false;
  /** SYNs that met a live entry not reusable by a new connection (core gwStaleSyns): each burst with one read the destroy events first. */
  staleSyns = 0;
  private eventsFirstWarned = 0;
  /** Verdicts turned into "accept with a fast-path mark" (the kernel NATs the rest of those flows). */
  fastMarked = 0;
  /** The fast flows' states and counters read back from conntrack into the core (ctfeed.ts). */
  private feed: CtFeed | null = null;
  /** When catchUp may read conntrack again (ms). */
  private catchUpAt = 0;
  /** The listing's conntrack read under way (catchUpAsync). */
  private catchingUp: Promise<void> | null = null;
  private readonly Conntrack: NativeConntrackClass | null;

  private readonly exec: Exec;
  /** The ipset tool runs: groups of more than SET_MIN VIPs are matched by hash, not rule by rule. */
  private ipsets = false;
  /** Warned that, without ipset, rules grow with the services. */
  private linearWarned = false;
  private readonly Native: NativeQueueClass | null;
  private readonly nativeCore: GatewayDeps['nativeCore'] | null;
  /** The queues whose own thread reads and decides (useCore): JS takes only the bursts they hand over. */
  private readonly threaded = new Set<NativeQueue>();
  /** The queues are held (holdQueues): a burst a thread hands over meanwhile is taken when they resume. */
  private queuesHeld = false;
  private readonly files: SysctlFiles;
  /** The original sysctl values, kept durable while changed; null: not recorded (tests without a file). */
  private readonly record: SysctlRecord | null;

  constructor(readonly opts: GatewayOptions, private readonly log: GatewayLog, deps: GatewayDeps = {}) {
    this.exec = deps.exec ?? run;
    this.sync = new RuleSync(deps.run ?? (deps.exec ? deferred(deps.exec) : undefined));
    this.tunnelRoutes = new TunnelRouteCache(this.sync.runner, (dev) => Number(this.files.read(`/sys/class/net/${dev}/mtu`)) || 1500);
    this.natRoutes = new TunnelRouteCache(this.sync.runner, (dev) => Number(this.files.read(`/sys/class/net/${dev}/mtu`)) || 1500);
    this.Native = deps.Native ?? null;
    this.Conntrack = deps.Conntrack ?? null;
    this.nativeCore = deps.nativeCore ?? null;
    this.files = deps.sysctl ?? { read: (p) => readFileSync(p, 'utf8').trim(), write: (p, v) => writeFileSync(p, v), list: (d) => readdirSync(d) };
    this.record = deps.record ?? (opts.sysctlRecord ? new SysctlRecordFile(opts.sysctlRecord) : null);
  }

  async start(director: Director): Promise<void> {
    this.director = director;
    // A packet the core cannot take whole (cut by the copy range) gets the fail verdict.
    coreOf(director).x.gwOptions(this.opts.failOpen ? L.GW_OPT_FAIL_OPEN : 0);
    removeRules(this.exec); // whatever a crashed run left
    this.ipsets = ipsetAvailable(this.exec);
    const left = removeFast(this.exec);
    if (left.length) this.log(`gateway: removed the fast-path nftables table a previous run left (${left.join(', ')})`, 'warn');
    this.sync.reset();
    // A run that died left its sysctls changed: back to the originals before we read them again.
    if (this.record) this.restoreLeftovers(this.record);
    this.recordTables();
    this.sysctl('/proc/sys/net/ipv4/ip_forward', '1');
    try {
      this.bind(this.Native ?? loadNativeQueue());
    } catch (e) {
      await this.stop();
      throw new Error(`gateway: cannot bind NFQUEUE ${this.opts.first}..${this.opts.last}: ${(e as Error).message}`);
    }
    // Once the addon is known to load (its errors say how to get it; the fast path's would not).
    if (this.opts.fastPath) {
      let why = await fastUnavailable(this.sync.runner);
      if (why === null) why = this.openFeed(director);
      this.fast = why === null;
      const why6 = this.fast ? await fastUnavailable6(this.sync.runner) : null;
      this.fast6 = this.fast && why6 === null;
      // Fast TCP flows' conntrack entries with a short TIME_WAIT (fastpath.ts natRule); without it they are settled later.
      this.ctTimeout = this.fast && await ctTimeoutUsable(this.sync.runner, this.fast6);
      if (this.fast && !this.ctTimeout) this.log('gateway: nft or the kernel refuse a ct timeout policy: closed fast flows keep conntrack\'s TIME_WAIT until the feed settles them', 'warn');
      const fams = this.fast6 ? 'IPv4 and IPv6' : 'IPv4';
      const tables = this.fast6 ? 'nftables tables ip and ip6 wasmvs_gw' : 'nftables table ip wasmvs_gw';
      this.log(why === null ? (this.opts.connSync
        ? `gateway: fast path on for ${fams} DR services: only new flows are queued, the kernel routes the rest (${tables}); ` +
          `NAT services stay on the userspace path with connection sync (a peer's flows have no conntrack entry here to de-NAT their replies), TUN${this.fast6 ? '' : ', IPv6'} and fwmark services too`
        : `gateway: fast path on for ${fams} NAT and DR services: only new flows are queued, the kernel NATs or routes the rest ` +
          `(${tables}); TUN${this.fast6 ? '' : ', IPv6'} and fwmark services stay on the userspace path${why6 === null ? '' : ` (IPv6: ${why6})`}`)
        : `gateway: fast path off, falling back to the userspace path for every packet: ${why}`, why === null ? 'info' : 'warn');
      if (why6 !== null) this.log(`gateway: fast path not for IPv6 services, they stay on the userspace path: ${why6}`, 'warn');
    } else this.log('gateway: fast path off (--fast-path off): every packet of every service crosses userspace');
    // Rules only once a consumer is bound (fail-closed would drop in between).
    await this.configChanged();
    // Connection timers, estimator and scheduler upkeep once a second.
    this.timer = setInterval(() => {
      // Bounded wait (held.ts HELD_MS) even when no round of rules comes.
      if (this.held.overdue(Date.now())) this.releaseHeld(0);
      this.feedTick();
      this.threadsFollow(); // notes expire with the ticks
      this.drTick();
      director.advance();
    }, 1000);
    this.timer.unref();
    // The conntrack feed's destroy events between its rounds too (ctfeed.ts eventsSliced).
    this.eventTimer = setInterval(() => this.feed?.eventsSliced((e) => this.log(`fast path: conntrack events: ${(e as Error).message}`, 'warn')), EVENTS_MS);
    this.eventTimer.unref();
    // Routes towards tunnel real servers change under us (new source, smaller MTU): looked up again.
    this.tunnelTimer = setInterval(() => {
      if (this.rules?.tunnels.length) void this.tunnelSetup(this.rules.tunnels, true);
      void this.natMtu(true);
    }, TUNNEL_REFRESH_MS);
    this.tunnelTimer.unref();
    this.log(`gateway: queues ${this.opts.first}..${this.opts.last}, burst ${this.opts.burst}, ${this.opts.failOpen ? 'fail-open' : 'fail-closed'}` +
      (this.opts.verdict === 'per-packet' ? ', per-packet verdicts (one send each; benchmark mode)' : '') +
      (this.threaded.size ? `, ${this.threaded.size === 1 ? 'read and decided on a thread of its own' : 'each read and decided on a thread of its own'} (native core)` : ''));
  }

  private bind(Native: NativeQueueClass): void {
    for (let q = this.opts.first; q <= this.opts.last; q++) {
      // GSO super-packets (GRO, TSO) are queued whole with packed records, until a tunnel real
      // server exists (gso()); with a fixed stride they would not fit, so the kernel segments them.
      const copyRange = this.opts.stride === L.GW_STRIDE_PACKED ? MAX_COPY : this.opts.stride - L.GW_REC_HEADER;
      const nq = new Native({ queue: q, copyRange, failOpen: this.opts.failOpen, gso: this.opts.stride === L.GW_STRIDE_PACKED, batch: this.opts.batch ?? true,
        verdictMode: this.opts.verdict ?? 'batch',
        maxLen: QUEUE_MAXLEN, rcvBuf: QUEUE_RCVBUF });
      this.queues.push(nq);
      // Its own thread, I/O area 1 + its index (area 0 is JS's), with the director's clock as of now.
      const nc = this.nativeCore;
      if (nc && nq.useCore?.(nc.core, { area: 1 + q - this.opts.first, stride: this.opts.stride, burst: this.opts.burst,
        clockSeconds: nc.clock(), clockNs: Number(process.hrtime.bigint()) })) this.threaded.add(nq);
      this.readers.set(nq, (status) => {
        if (status < 0) return this.log(`queue ${q}: poll error ${status}`, 'error');
        try {
          this.drain(nq);
        } catch (e) {
          // A failed read or send is the kernel's answer for this burst; keep serving.
          this.log(`queue ${q}: ${(e as Error).message}`, 'warn');
        }
      });
      nq.start(this.readers.get(nq)!);
    }
  }

  /**
   * Holds (or resumes) reading the queues. While rules change, packets wait in
   * the kernel queue rather than meet a half-applied state: the core may
   * already send a connection to a new DR real server whose mark has no route
   * yet, or expect a NAT reply that is not queued yet. The event loop stays free.
   */
  private holdQueues(hold: boolean): void {
    // A queue's thread, stopped, has ended the burst it was deciding (NativeQueue.stop waits for it).
    this.queuesHeld = hold;
    for (const nq of this.queues) {
      if (hold) nq.stop();
      else {
        nq.start(this.readers.get(nq)!);
        // What a thread handed over while held.
        if (this.threaded.has(nq)) this.drain(nq);
      }
    }
  }

  /** The queue threads' settings that follow the fast path's: stale SYNs are looked for while the conntrack feed runs. */
  private threadsFollow(): void {
    // The destroy events too, unless the feed keeps notes of queued packets (to be taken off their flows' records in JS).
    const ctOn = this.feed !== null && !this.feed.hasNotes;
    for (const nq of this.threaded) {
      nq.staleCheck?.(this.feed !== null);
      nq.ctOn?.(ctOn);
    }
  }

  /** The real servers whose rules are in (held.take's test), told to the queue threads too. */
  private setReadySlots(ready: Set<number>): void {
    this.readySlots = ready;
    if (this.threaded.size) {
      const slots = Uint32Array.from(ready);
      for (const nq of this.threaded) nq.setReady?.(slots);
    }
  }

  /**
   * Reads and answers bursts until the socket is empty (bounded per wake-up). A queue with a thread
   * of its own (useCore) answers its bursts there: this takes the one it handed over, if any.
   */
  drain(nq: NativeQueue, maxBursts = 64): number {
    if (this.threaded.has(nq)) return this.takeHanded(nq);
    const d = this.director;
    if (!d) return 0;
    const x = coreOf(d).x;
    const base = coreOf(d).base;
    const { burst, stride } = this.opts;
    let total = 0;
    for (let b = 0; b < maxBursts; b++) {
      const n = nq.read(this.views(x.memory.buffer, base).packets, stride, burst);
      if (n <= 0) break;
      this.answer(nq, n, this.decide(n));
      total += n;
      if (n < burst) break;
    }
    return total;
  }

  /** gwBurst on the burst of `n` records in the core's packet region (stale SYNs' destroy events first); its status. */
  private decide(n: number): number {
    const d = this.director!;
    const x = coreOf(d).x;
    const { stride } = this.opts;
    if (this.feed !== null) {
      const stale = x.gwStaleSyns(n, stride);
      if (stale > 0) {
        this.staleSyns += stale;
        this.eventsFirst(this.feed);
      }
    }
    try {
      return x.gwBurst(n, stride, d.now());
    } catch (e) {
      // A trap must not leave the burst unanswered in the kernel queue.
      this.log(`gwBurst failed: ${(e as Error).message}`, 'error');
      return -1;
    }
  }

  /** Sends a decided burst's verdicts (gwBurst's status `r`), holding those whose real server's rules are not in yet. */
  private answer(nq: NativeQueue, n: number, r: number): void {
    const d = this.director!;
    const x = coreOf(d).x;
    const base = coreOf(d).base;
    // Memory may have grown during the call: views of the buffer as it is now. (Packets opening fast
    // flows have their verdict already: the core marks them for their real servers, gwFastDest.)
    const v = this.views(x.memory.buffer, base);
    if (r !== n) this.failBurst(nq, n, r);
    else {
      // Verdicts towards a real server whose rules are not in yet wait for them (held.ts); the rest go now.
      const held = this.held.held;
      const left = this.held.take(nq, v.dv, base + L.REGION_LIST, base + L.REGION_PACKETS, n, this.opts.stride, this.isReady, this.rulesRound, Date.now());
      // A round that begins now answers them (once a round; not while rules fail: the next change retries).
      if (this.held.held !== held && this.kickedRound !== this.rulesRound && !this.rulesFailed) {
        this.kickedRound = this.rulesRound;
        void this.configChanged();
      }
      if (left) nq.verdicts(v.list, left, v.packets, !this.held.holds(nq));
    }
  }

  /**
   * The burst a queue's thread handed over (NativeQueue.takeHanded), answered here: one whose SYNs
   * met stale entries is decided after the destroy events, one decided already has its verdicts
   * held or its failure answered. The thread sends no batch verdict until told this queue's packets
   * are all answered (allowBatch), and reads nothing until this one is (handedDone): no packet of the
   * queue overtakes one of it.
   */
  private takeHanded(nq: NativeQueue): number {
    const d = this.director;
    if (!d || this.queuesHeld) return 0; // taken when the queues resume (holdQueues)
    const { x, base } = coreOf(d);
    const v = this.views(x.memory.buffer, base);
    const h = nq.takeHanded!(v.packets, v.list);
    if (h === null) return 0;
    try {
      // Decided before a round of rules that may have ended since (its real servers' map elements in now,
      // their slots ready): a NAT rewrite towards a real server the kernel now carries becomes its fast
      // mark, as a held verdict does at release. On Node's thread decision and test are one step; here
      // the burst waited for this callback. Without it the rewrite would go out and the flow's conntrack
      // entry NAT nothing (held.ts).
      if (h.decided && h.status === h.n && (this.fastTargets.size || this.fastTargets6.size)) {
        this.fastMarked += retarget(v.dv, base + L.REGION_LIST, base + L.REGION_PACKETS, h.n, this.fastTargets, this.feed, this.opts.stride, this.fastTargets6);
        this.threadsFollow(); // notes taken
      }
      // Destroy events the thread had the core apply, whose kernel side (a delete, a mark) is JS's.
      if (h.ct && h.acts && this.feed) this.feed.actionsFrom(h.ct, h.acts);
      this.answer(nq, h.n, h.decided ? h.status : this.decide(h.n));
    } finally {
      nq.allowBatch?.(!this.held.holds(nq));
      nq.handedDone?.();
    }
    return h.n;
  }

  /**
   * The fast path's pending destroy events, applied before a burst with a stale SYN is decided. A
   * short fast flow's end reaches the core with its destroy event, a second or more after its FINs
   * (its entry's 1 s TIME_WAIT, then a dump or the kernel's sweep reaps it; read every EVENTS_MS):
   * until then the core has it as it was scheduled (SYN_RECV). A client that reuses the flow's port
   * meanwhile would be decided on that entry: sent to the same real server again (IPVS, which sees
   * the FINs, has TIME_WAIT and schedules afresh), and dropped if that server was deleted, so that
   * the client waits a second to send the SYN again (CNT_DROP_NODEST). Conntrack sends the old
   * flow's destroy event before it queues the SYN that reuses its tuple (the SYN ends the TIME_WAIT
   * entry or reaps an expired one; a deleted server's flush sends its flows' at once, feed.flushMark),
   * so the events read after the burst and before the core decides it are all the core needs.
   */
  private eventsFirst(feed: CtFeed): void {
    try {
      // Bounded: a deleted server's flush can leave tens of thousands waiting.
      for (let i = 0; i < 16 && feed.eventsNow(EVENTS_FIRST) === EVENTS_FIRST; i++);
    } catch (e) {
      // Once a second at most: this runs per burst.
      const now = Date.now();
      if (now - this.eventsFirstWarned >= 1000) {
        this.eventsFirstWarned = now;
        this.log(`fast path: conntrack events: ${(e as Error).message}`, 'warn');
      }
    }
  }

  /** Views of the core's packet region and verdict list, made again only when its memory grows (no garbage per burst). */
  private viewCache: { buf: ArrayBufferLike; base: number; packets: Uint8Array; list: Uint8Array; dv: DataView } | null = null;
  private views(buf: ArrayBufferLike, base: number) {
    const c = this.viewCache;
    if (c && c.buf === buf && c.base === base) return c;
    const { burst, stride } = this.opts;
    const bytes = stride === L.GW_STRIDE_PACKED ? L.REGION_PACKETS_SIZE : burst * stride;
    return (this.viewCache = { buf, base, packets: new Uint8Array(buf, base + L.REGION_PACKETS, bytes),
      list: new Uint8Array(buf, base + L.REGION_LIST, Math.min(burst * L.GW_VER_SIZE, L.REGION_LIST_SIZE)), dv: new DataView(buf) });
  }

  /** The core refused the burst (a host bug): every packet gets the fail verdict. */
  private failBurst(nq: NativeQueue, n: number, status: number): void {
    this.failedBursts++;
    const d = this.director!;
    const mem = new DataView(coreOf(d).x.memory.buffer);
    const base = coreOf(d).base;
    const packed = this.opts.stride === L.GW_STRIDE_PACKED;
    let rec = 0;
    for (let i = 0; i < n; i++) {
      const v = base + L.REGION_LIST + i * L.GW_VER_SIZE;
      const at = base + L.REGION_PACKETS + (packed ? rec : i * this.opts.stride);
      mem.setUint32(v + L.GW_VER_ID, mem.getUint32(at + L.GW_REC_ID, true), true);
      if (packed) rec += packedSpan(mem.getUint32(at + L.GW_REC_LEN, true));
      mem.setUint32(v + L.GW_VER_VERDICT, this.opts.failOpen ? 1 : 0, true);
      for (const f of [L.GW_VER_FLAGS, L.GW_VER_MARK, L.GW_VER_OFF, L.GW_VER_LEN]) mem.setUint32(v + f, 0, true);
    }
    nq.verdicts(new Uint8Array(coreOf(d).x.memory.buffer, base + L.REGION_LIST, n * L.GW_VER_SIZE), n, undefined, !this.held.holds(nq));
    this.log(`gwBurst refused a burst of ${n} (status ${status}); ${this.opts.failOpen ? 'accepted' : 'dropped'}`, 'error');
  }

  /**
   * The NAT real servers the core marks fast flows for (gwFastDest), as the DNAT map now installed has
   * them: those that left it first, then every one in it (a dest id the core reused for a new real server
   * is told again).
   */
  private fastDestsInCore(next: ReadonlySet<number>): void {
    const x = this.director ? coreOf(this.director).x : null;
    if (x) {
      for (const id of this.coreFast) if (!next.has(id)) x.gwFastDest(id, 0); // a deleted one is gone already (E_NODEST)
      for (const id of next) x.gwFastDest(id, 1);
    }
    this.coreFast = next;
  }

  /** The held verdicts of rounds before `upTo` (all: every one) answered as the rules now installed say. */
  private releaseHeld(upTo = Infinity): void {
    if (!this.held.size) return;
    const d = this.director;
    this.held.release((mem, list, packets, n) => {
      if (this.fastTargets.size || this.fastTargets6.size) this.fastMarked += retarget(mem, list, packets, n, this.fastTargets, this.feed, L.GW_STRIDE_PACKED, this.fastTargets6);
    }, d ? upTo : Infinity, Date.now());
    for (const nq of this.threaded) nq.allowBatch?.(!this.held.holds(nq));
    this.threadsFollow(); // retarget took notes
  }

  /**
   * Brings the VIP rules, DR routes and tunnel settings up to date with the
   * Director, without blocking the packet path: updates run one at a time in
   * the background, and changes that arrive meanwhile are applied together by
   * the next one. Resolves once the rules reflect this change; never rejects.
   */
  configChanged(): Promise<void> {
    if (!this.director) return Promise.resolve();
    this.dirty = true;
    // The first round to begin from now on takes this change: a round under way read the configuration before it.
    const carried = new Promise<void>((resolve) => this.roundWaiters.push({ round: this.rulesRound + 1, resolve }));
    this.applying ??= (async () => {
      // Bounded: each round takes the configuration as it is, so this only repeats while changes keep arriving.
      for (let i = 0; i < 100_000 && this.dirty && this.director; i++) {
        this.dirty = false;
        const round = ++this.rulesRound;
        await this.applyRules(this.director);
        // The verdicts held before this round began: their real servers' rules are in now (or never will be).
        this.releaseHeld(round);
        this.roundDone(round);
      }
    })().finally(() => {
      this.applying = null;
      // Stopped (or the bound reached): nobody waits for a round that will not come.
      this.roundDone(Infinity);
    });
    return carried;
  }

  /**
   * Those waiting for a round up to `round` (configChanged): their change is in the rules now. Not
   * the end of the whole run of rounds: under load, held verdicts may begin round after round, and a
   * control reply must not wait for them all.
   */
  private roundDone(round: number): void {
    const left = [];
    for (const w of this.roundWaiters) {
      if (w.round <= round) w.resolve();
      else left.push(w);
    }
    this.roundWaiters = left;
  }

  private async applyRules(d: Director): Promise<void> {
    // Before the early return below: a NAT real server re-added with the same rules has a new id.
    // One pass over the core, no counters: at 20,000 services every change reads them all.
    const config = d.configuration();
    const view: ServiceView[] = config.map((s) => ({ service: s, dests: s.dests }));
    // The real servers these rules carry, once they are in place (held.ts).
    const ready = new Set<number>();
    for (const s of config) for (const x of s.dests) if (x.method === 'masq' || x.method === 'route') ready.add(x.id & L.GW_DR_SLOT_MASK);
    await this.natMtu(false, view);
    // Weights, thresholds, schedulers, persistence and timeouts change no rule, map or route: such a
    // change (most of them: health checks, ldirectord, -e) costs these passes, not the rule set's.
    const layout = { config, switches: `${this.fast} ${this.fast6} ${this.ctTimeout} ${this.ipsets}` };
    const was = this.installedLayout;
    if (was !== null && this.installedText !== null && was.switches === layout.switches && sameLayout(was.config, config)) {
      this.setReadySlots(ready);
      return;
    }
    const plan = this.fast ? fastPlan(view, { nat: !this.opts.connSync, v6: this.fast6, ctTimeout: this.ctTimeout, had: drChainsAfter(this.fastScript) }) : null;
    const rs = ruleSet(view, this.opts, plan?.services, plan?.drServices, { sets: this.ipsets });
    const linear = Math.max(rs.linear, rs.v6.linear);
    if (linear > SET_MIN && !this.linearWarned) {
      this.linearWarned = true;
      this.log(`gateway: the ipset tool is not installed, so ${linear} rules match the services one by one and every packet ` +
        'to a VIP walks them; install ipset (Debian: apt-get install ipset) to match them by hash, as IPVS does', 'warn');
    }
    // Most changes (weights, thresholds, timeouts) leave the rules as they are.
    const text = JSON.stringify(rs) + (plan?.script ?? '');
    if (text === this.installedText) {
      this.installedLayout = layout;
      this.setReadySlots(ready);
      return;
    }
    this.holdQueues(true);
    try {
      if (rs.v6.mangle.length || rs.v6.routes.length) {
        try {
          this.ipv6Forwarding();
        } catch (e) {
          this.log(`IPv6 services: cannot set net.ipv6.conf.all.forwarding=1 (${(e as Error).message}); their packets are not forwarded`, 'error');
        }
      }
      const before = this.fastTargets, before6 = this.fastTargets6, drBefore = this.drTargets;
      // The DNAT map first: the new rules may queue flows whose marks it must know.
      if (plan && plan.script !== this.fastScript) {
        try {
          // Only the elements that changed when the table's shape is the same (one transaction either way).
          const delta = this.fastParts ? fastDelta(this.fastParts, plan.parts) : null;
          if (delta === null) await applyFast(this.sync.runner, plan.script);
          else if (delta) {
            try {
              await applyFast(this.sync.runner, delta);
            } catch {
              // The table is not what we last made it (an element gone or added by someone else): whole.
              await applyFast(this.sync.runner, plan.script);
            }
          }
          this.fastScript = plan.script;
          this.fastParts = plan.parts;
        } catch (e) {
          this.fast = false;
          this.fastParts = null;
          this.fastDestsInCore(new Set());
          this.dirty = true; // again, every service on the userspace path
          throw new Error(`fast path: nft refused the table (${((e as { stderr?: string }).stderr || (e as Error).message).trim()}); ` +
            'falling back to the userspace path for every packet');
        }
      }
      // A deleted real server's flows right after the map lost it, before the rest of the rules: until
      // their conntrack entries (or DR map elements) go, the kernel keeps forwarding them to it.
      this.fastTargets = plan?.targets ?? new Map();
      this.fastTargets6 = plan?.targets6 ?? new Map();
      this.fastDestsInCore(plan?.fastDests ?? new Set());
      this.drTargets = plan?.drTargets ?? new Map();
      this.drDests = plan?.drDests ?? new Map();
      for (const m of [...goneMarks(before, this.fastTargets), ...goneMarks(before6, this.fastTargets6)]) this.feed?.flushMark(m);
      if (goneMarks(drBefore, this.drTargets).length && this.fastScript) {
        await applyFast(this.sync.runner, drFlushScript(this.fastScript.includes(`add map ip6 ${FAST_TABLE} dr6tcp`)));
      }
      const errors = await this.sync.apply(rs);
      for (const m of errors) this.log(m, 'error');
      if (rs.tunnels.length) await this.tunnelSetup(rs.tunnels, false, view);
      this.gso(rs.tunnels.length === 0);
      this.rules = rs;
      // A DR route that failed is retried on the next change.
      this.installedText = errors.length ? null : text;
      this.installedLayout = errors.length ? null : layout;
      this.setReadySlots(ready);
      this.rulesFailed = false;
    } catch (e) {
      this.rulesFailed = true;
      this.installedText = null;
      this.log(`cannot install netfilter rules: ${(e as Error).message}`, 'error');
    } finally {
      this.holdQueues(false);
    }
  }

  /**
   * Whole GSO super-packets while no tunnel real server exists: NAT and DR
   * rewrite or mark one packet of up to 64 KiB and the kernel segments it on
   * output (recomputing the TCP checksums); an IPIP-wrapped super-packet would
   * keep its plain TCP GSO type and be dropped there, so with TUN real servers
   * the kernel segments before queueing (a super-packet still queued when the
   * first one appears is dropped by the core and retransmitted by TCP).
   */
  private gso(on: boolean): void {
    if (this.opts.stride !== L.GW_STRIDE_PACKED || on === this.gsoOn) return;
    for (const q of this.queues) {
      try {
        q.setGso?.(on);
      } catch (e) {
        this.log(`cannot turn GSO ${on ? 'on' : 'off'} on a queue: ${(e as Error).message}`, 'error');
      }
    }
    this.gsoOn = on;
  }

  /** TUN: outer source = the route's source towards the real server; accept_local for reinjection. */
  private async tunnelSetup(servers: readonly string[], refresh = false, view?: readonly ServiceView[]): Promise<void> {
    let c;
    try {
      c = await this.tunnelRoutes.update(servers, refresh);
    } catch (e) {
      return this.log(`TUN: cannot look up the routes to the real servers: ${(e as Error).message}`, 'error');
    }
    if (this.director) this.tunnelPerServer(view);
    if (!this.director || !this.tunnelRoutes.changed(c)) return;
    if (!c) return this.log(`TUN: no route to any tunnel real server (${servers.join(', ')})`, 'error');
    // The default for servers without a route of their own yet: the smallest MTU, the source most routes use.
    coreOf(this.director).x.gwConfig(ip4(c.src), c.mtu);
    // The rewritten packet re-enters routing at PREROUTING with our own address as source.
    this.allowOwnSource();
  }

  /**
   * Packets the core turns into ours (TUN's outer header, frag-needed from the
   * VIP) re-enter routing at PREROUTING with our own address as source: accept_local.
   */
  private allowOwnSource(): void {
    this.sysctl('/proc/sys/net/ipv4/conf/all/accept_local', '1');
    // Strict reverse-path filtering (rp_filter=1, some distributions' default) still drops
    // it: our address is not reached through the client's interface. Loose mode (2) keeps
    // the martian checks; an interface's effective mode is max(all, its own), so all=2
    // makes strict interfaces loose and leaves none stricter than it was.
    if (this.strictRpFilter()) this.sysctl('/proc/sys/net/ipv4/conf/all/rp_filter', '2');
  }

  /**
   * IPVS's ensure_mtu_is_adequate for NAT: each IPv4 NAT real server's route
   * MTU goes to the core (gwDestTunnel), which answers a DF request bigger
   * than it with frag-needed about the client's own packet (the kernel's
   * answer, after the rewrite, would quote the real server). Routes are
   * looked up once per address (again every TUNNEL_REFRESH_MS). The error
   * comes from the VIP, so once some route MTU is below an interface's (a
   * request can be too big at all) our own source is allowed back in.
   */
  private async natMtu(refresh = false, view?: readonly ServiceView[]): Promise<void> {
    const d = this.director;
    if (!d) return;
    const ids = new Map<string, number[]>();
    for (const { dests } of view ?? d.configuration().map((s) => ({ dests: s.dests }))) {
      for (const r of dests) {
        if (r.method !== 'masq' || r.af !== 4) continue;
        const list = ids.get(r.address);
        if (list) list.push(r.id);
        else ids.set(r.address, [r.id]);
      }
    }
    try {
      await this.natRoutes.update([...ids.keys()], refresh);
    } catch (e) {
      return this.log(`NAT: cannot look up the routes to the real servers: ${(e as Error).message}`, 'warn');
    }
    if (!this.director) return;
    let smallest = Infinity;
    for (const [a, list] of ids) {
      const route = this.natRoutes.route(a);
      if (!route) continue;
      smallest = Math.min(smallest, route.mtu);
      for (const id of list) coreOf(d).x.gwDestTunnel(id, 0, route.mtu);
    }
    if (smallest < this.largestMtu()) this.allowOwnSource();
  }

  /** The largest MTU of this namespace's interfaces (0 when they cannot be listed). */
  private largestMtu(): number {
    try {
      return Math.max(0, ...(this.files.list?.('/sys/class/net') ?? []).map((dev) => Number(this.files.read(`/sys/class/net/${dev}/mtu`)) || 0));
    } catch {
      return 0;
    }
  }

  /** Each tunnel real server's own outer source and MTU, from the route towards it (gwDestTunnel). */
  private tunnelPerServer(view?: readonly ServiceView[]): void {
    const d = this.director!;
    // The rule pass's view when it has one (one read of the configuration per change), else a fresh one.
    for (const { dests } of view ?? d.configuration()) {
      for (const r of dests) {
        if (r.method !== 'tunnel' || r.af !== 4) continue;
        const route = this.tunnelRoutes.route(r.address);
        if (route) coreOf(d).x.gwDestTunnel(r.id, ip4(route.src), route.mtu);
      }
    }
  }

  private strictRpFilter(): boolean {
    const conf = '/proc/sys/net/ipv4/conf';
    const value = (dev: string) => { try { return Number(this.files.read(`${conf}/${dev}/rp_filter`)); } catch { return 0; } };
    if (value('all') === 2) return false;
    return [...(this.files.list?.(conf) ?? ['all'])].some((dev) => dev !== 'default' && Math.max(value('all'), value(dev)) === 1);
  }

  private restoreLeftovers(record: SysctlRecord): void {
    const { restored, problems, tables } = restoreRecorded(record, (p, v) => this.files.write(p, v));
    if (restored.length) this.log(`gateway: restored what a previous run changed and did not put back: ${restored.join(' ')}`, 'warn');
    const gone = removeMadeTables(tables, this.exec);
    if (gone.length) this.log(`gateway: removed the empty iptables tables a previous run made: ${gone.join(', ')}`, 'warn');
    for (const m of problems) this.log(`gateway: ${m}`, 'warn');
  }

  /**
   * The iptables-nft tables our rules may make (rules.ts BASE_TABLES) that do
   * not exist yet: recorded with the sysctls (durably, so `--cleanup` knows
   * them after a crash), and removed at stop once empty, so the director is
   * left without the hooked built-in chains iptables-nft would keep.
   */
  private recordTables(): void {
    const present = baseTablesPresent(this.exec);
    if (!present) return;
    const absent = BASE_TABLES.filter((t) => !present.has(t) && !this.savedSysctl.has(TABLE_KEY + t));
    if (!absent.length) return;
    for (const t of absent) this.savedSysctl.set(TABLE_KEY + t, 'absent');
    try {
      this.record?.save(this.savedSysctl);
    } catch (e) {
      this.log(`gateway: cannot record the iptables tables it may make in ${this.record!.where} (${(e as Error).message})`, 'warn');
    }
  }

  /** Sets a sysctl; its original value is recorded durably first, so a crash cannot lose it. */
  private sysctl(path: string, value: string): void {
    this.remember([path]);
    this.files.write(path, value);
  }

  /** Records the current values of `paths` not recorded yet (restored at stop in this order). */
  private remember(paths: readonly string[]): void {
    const fresh = paths.filter((p) => !this.savedSysctl.has(p));
    if (!fresh.length) return;
    for (const p of fresh) this.savedSysctl.set(p, this.files.read(p));
    try {
      this.record?.save(this.savedSysctl);
    } catch (e) {
      this.log(`gateway: cannot record the original ${fresh.join(', ')} in ${this.record!.where} (${(e as Error).message}); ` +
        'a crash would leave it changed', 'error');
    }
  }

  /**
   * IPv6 services need the kernel to forward IPv6 (rewritten or marked
   * requests, NAT replies); without it the rewritten request is discarded.
   * Set once the first IPv6 service appears and kept until stop. Writing
   * `all` rewrites `default` and every interface's own value, so those are
   * recorded first and restored after `all`. On Linux an interface with
   * accept_ra=1 ignores router advertisements while forwarding is on: said.
   */
  private ipv6Forwarding(): void {
    const conf = '/proc/sys/net/ipv6/conf';
    const fwd = (dev: string) => `${conf}/${dev}/forwarding`;
    if (this.savedSysctl.has(fwd('all')) || this.files.read(fwd('all')) === '1') return;
    const devs = (this.files.list?.(conf) ?? []).filter((d) => d !== 'all' && d !== 'default');
    this.remember([fwd('all'), fwd('default'), ...devs.map(fwd)]);
    this.files.write(fwd('all'), '1');
    const ra = devs.filter((d) => { try { return d !== 'lo' && this.files.read(`${conf}/${d}/accept_ra`) === '1'; } catch { return false; } });
    this.log('gateway: IPv6 services: net.ipv6.conf.all.forwarding=1 until stop' + (ra.length
      ? `; ${ra.join(', ')} (accept_ra=1) ignore router advertisements meanwhile (accept_ra=2 keeps them)` : ''), ra.length ? 'warn' : 'info');
  }

  /**
   * The fast path's conntrack feed: byte and packet counters on (recorded and
   * restored like every sysctl we change), entries of a previous run gone.
   * Returns why it cannot run, or null.
   */
  private openFeed(director: Director): string | null {
    try {
      this.sysctl('/proc/sys/net/netfilter/nf_conntrack_acct', '1');
      // Room for a few seconds of destroy events at tens of thousands of connections a second (read every EVENTS_MS).
      const ct = new (this.Conntrack ?? loadConntrack())({ events: true, rcvBuf: 32 << 20 });
      this.feed = new CtFeed(ct, director, FAST_MARK_BASE, FAST_MARK_MASK);
      // The core marks fast flows itself (gwFastDest): their real servers' marks, and TCP ones the feed's young generation.
      const x = coreOf(director).x;
      this.feed.onYoung = (young) => x.gwFastParams(FAST_MARK_BASE, FAST_INVALID_MARK, young);
      this.feed.onYoung(this.feed.young);
      this.feed.flushAll();
      for (const nq of this.threaded) {
        nq.useConntrack?.(this.feed.conntrack, { mark: this.feed.mark, mask: this.feed.anyMask, settled: CT_SETTLED, young: CT_YOUNG });
      }
      this.threadsFollow();
      return null;
    } catch (e) {
      this.closeFeed();
      return `conntrack (ctnetlink) unavailable: ${(e as Error).message}`;
    }
  }

  /** The feed's round: sliced, so the queues are answered while it runs (a round still going is left to finish). */
  private feedTick(): void {
    const fail = (e: unknown) => this.log(`fast path: conntrack feed: ${(e as Error).message}`, 'warn');
    try {
      this.feed?.tickSliced(fail);
    } catch (e) {
      fail(e);
    }
  }

  /**
   * The DR flow maps' packet and byte counters (per DR mark) into the core's
   * statistics, once a second while a DR service is on the fast path; sync
   * (stop): read at once with the synchronous runner, the last counts in.
   */
  private drTick(sync = false): void {
    const d = this.director;
    if (!d || !this.fastScript || !this.drDests.size || this.drReading) return;
    // The IPv6 table's counters too while it has DR services (marks are unique across families).
    const families = this.fastScript.includes(`add map ip6 ${FAST_TABLE} dr6tcp`) && this.fastScript.includes(`add element ip6 ${FAST_TABLE} drsvc`) ? ['ip', 'ip6'] : ['ip'];
    const args = (family: string) => ['-j', 'list', 'set', family, FAST_TABLE, 'drpk'];
    const apply = (json: string) => {
      if (this.director) this.drStats.feed(parseDrCounters(json), this.drDests, (...a) => coreOf(d).x.statsFeed(...a));
    };
    const fail = (e: unknown) => this.log(`fast path: DR counters: ${((e as { stderr?: string }).stderr || (e as Error).message).trim()}`, 'warn');
    if (sync) {
      for (const f of families) try { apply(this.exec('nft', args(f))); } catch (e) { fail(e); }
      return;
    }
    this.drReading = Promise.all(families.map((f) => this.sync.runner('nft', args(f)).then(apply, fail))).then(() => undefined)
      .finally(() => { this.drReading = null; });
  }

  /**
   * Before the control socket lists services or connections: the fast path's
   * conntrack read now (CtFeed.readNow: its events and one dump of every entry
   * of ours, the young ones too), so `-L --stats` and `-L -c` show what the
   * kernel carried up to this moment, as IPVS's own table would, instead of up
   * to the feed's next round (young flows: 2 s). At most one such read per
   * CATCH_UP_MS, and per CATCH_UP_SHARE times its own duration.
   */
  catchUp(): void {
    if (!this.feed) return;
    const start = Date.now();
    if (start < this.catchUpAt) return;
    try {
      this.feed.readNow();
    } catch (e) {
      this.catchUpFailed(e);
    }
    this.catchUpDone(start);
  }

  private catchUpFailed(e: unknown): void {
    this.log(`fast path: conntrack read before a listing: ${(e as Error).message}`, 'warn');
  }

  /** The next catch-up waits CATCH_UP_MS, or CATCH_UP_SHARE times this one's duration. */
  private catchUpDone(start: number): void {
    this.catchUpAt = start + Math.max(CATCH_UP_MS, CATCH_UP_SHARE * (Date.now() - start));
  }

  /**
   * catchUp without holding the queue: the dump read by the addon's thread, applied a slice at a time
   * (CtFeed.readNowAsync). Listings that come while it runs wait for it; the same limits apply, on
   * its wall time. The synchronous catchUp right after it finds nothing to do.
   */
  catchUpAsync(): Promise<void> {
    if (!this.feed) return Promise.resolve();
    if (this.catchingUp) return this.catchingUp;
    const start = Date.now();
    if (start < this.catchUpAt) return Promise.resolve();
    this.catchUpAt = Infinity;
    return (this.catchingUp = this.feed.readNowAsync().then(() => undefined, (e: unknown) => this.catchUpFailed(e)).finally(() => {
      this.catchUpDone(start);
      this.catchingUp = null;
    }));
  }

  private closeFeed(): void {
    if (!this.feed) return;
    try {
      this.feed.tick(true); // the last counters in, the young entries' too
      this.feed.flushAll();
    } catch { /* namespace gone */ }
    this.feed.close();
    this.feed = null;
    this.threadsFollow();
  }

  /** One line of the core's gateway counters and the queues' own (logged at stop). */
  summary(): string {
    const d = this.director;
    if (!d) return 'gateway: not started';
    const c = (i: number) => d.counter(i);
    const q = this.stats().reduce((a, s) => ({ enobufs: a.enobufs + s.enobufs, nlErrors: a.nlErrors + s.nlErrors,
      onThread: a.onThread + (s.thread?.bursts ?? 0), handed: a.handed + (s.thread ? s.thread.handedRaw + s.thread.handedDecided : 0),
      sendErrors: a.sendErrors + (s.thread?.sendErrors ?? 0), ctEvents: a.ctEvents + (s.thread?.ctEvents ?? 0), ctFed: a.ctFed + (s.thread?.ctFed ?? 0),
      staleSyns: a.staleSyns + (s.thread?.staleSyns ?? 0) }),
    { enobufs: 0, nlErrors: 0, onThread: 0, handed: 0, sendErrors: 0, ctEvents: 0, ctFed: 0, staleSyns: 0 });
    const k = this.ownKernelQueues().reduce((a, x) => ({ full: a.full + x.queueFull, user: a.user + x.socketFull }), { full: 0, user: 0 });
    return `gateway: packets=${c(C.CNT_GW_PACKETS)} forwarded=${c(C.CNT_GW_FORWARDED)} passed=${c(C.CNT_GW_PASSED)} ` +
      `dropped=${c(C.CNT_GW_DROPPED)} replies=${c(C.CNT_GW_REPLIES)} malformed=${c(C.CNT_PKT_MALFORMED_IP)} ` +
      `truncated_l4=${c(C.CNT_PKT_TRUNC_L4)} bad_csum=${c(C.CNT_PKT_BAD_CSUM)} truncated=${c(C.CNT_GW_TRUNCATED)} ` +
      `icmp_sent=${c(C.CNT_GW_ICMP_SENT)} failed_bursts=${this.failedBursts} enobufs=${q.enobufs} nl_errors=${q.nlErrors} ` +
      `queue_full_drops=${k.full} socket_full_drops=${k.user} fast_marked=${this.fastMarked + c(C.CNT_GW_FAST_MARKED)} held_for_rules=${this.held.held} held_full=${this.held.overflow} stale_syns=${this.staleSyns + q.staleSyns} dr_fed_packets=${this.drStats.fedPackets}` +
      (this.threaded.size ? ` thread_bursts=${q.onThread} handed_bursts=${q.handed} thread_send_errors=${q.sendErrors} thread_ct_events=${q.ctEvents}` : '') +
      (this.feed ? ` ct_fed_packets=${this.feed.totals.fedPackets + q.ctFed} ct_events=${this.feed.totals.events + q.ctEvents} ct_removed=${this.feed.totals.removed} ct_settled=${this.feed.totals.settled} ct_promoted=${this.feed.totals.promoted} ct_lost=${this.feed.totals.lost} ct_rounds_by_tuple=${this.feed.rounds.byTuple} ct_rounds_walked=${this.feed.rounds.walked} ct_lookups=${this.feed.lookups}` : '');
  }

  /** The kernel's counters of every queue in this namespace ([] when the file cannot be read). */
  kernelQueues(): KernelQueue[] {
    try {
      return parseKernelQueues(this.files.read('/proc/net/netfilter/nfnetlink_queue'));
    } catch {
      return [];
    }
  }

  private ownKernelQueues(): KernelQueue[] {
    return this.kernelQueues().filter((k) => k.queue >= this.opts.first && k.queue <= this.opts.last);
  }

  /** What the Prometheus series read (metrics.ts). */
  source(): GatewaySource {
    return {
      counter: (i) => this.director?.counter(i) ?? 0,
      queues: () => this.queues.map((q, i) => ({ queue: this.opts.first + i, stats: q.stats() })),
      kernelQueues: () => this.kernelQueues(),
      failedBursts: () => this.failedBursts,
      heldForRules: () => ({ held: this.held.held, full: this.held.overflow }),
      staleSyns: () => this.staleSyns + this.stats().reduce((a, q) => a + (q.thread?.staleSyns ?? 0), 0),
    };
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.eventTimer) clearInterval(this.eventTimer);
    this.eventTimer = null;
    if (this.tunnelTimer) clearInterval(this.tunnelTimer);
    this.tunnelTimer = null;
    if (this.director) this.log(this.summary());
    // An update in flight finishes first, so nothing is installed after the cleanup.
    const director = this.director;
    this.director = null;
    await this.applying;
    this.director = director;
    // A burst a queue's thread handed over and nobody took yet: answered now, the thread stopped first.
    this.queuesHeld = false;
    for (const q of this.threaded) {
      q.stop();
      this.drain(q);
    }
    this.releaseHeld(); // before the queues go
    removeRules(this.exec);
    this.closeFeed();
    await this.drReading;
    this.drTick(true);
    removeFast(this.exec);
    // The iptables-nft tables this run made, now empty (built-in chains only, still hooked): gone too.
    removeMadeTables([...this.savedSysctl].filter(([k, v]) => k.startsWith(TABLE_KEY) && v === 'absent').map(([k]) => k.slice(TABLE_KEY.length)), this.exec);
    this.drStats.reset();
    this.drDests = new Map();
    this.fastScript = null;
    this.fastParts = null;
    this.setReadySlots(new Set());
    this.fastTargets = new Map();
    this.fastTargets6 = new Map();
    this.fastDestsInCore(new Set());
    this.drTargets = new Map();
    this.sync.reset();
    this.tunnelRoutes.reset();
    this.natRoutes.reset();
    for (const q of this.queues) {
      q.stop();
      q.close();
    }
    this.queues = [];
    this.threaded.clear();
    this.gsoOn = true;
    this.readers.clear();
    for (const [p, v] of this.savedSysctl) {
      if (p.startsWith(TABLE_KEY)) continue; // a table, removed above
      try { this.files.write(p, v); } catch { /* namespace gone */ }
    }
    // Only once the values are back: a crash before this leaves the record for the next start.
    if (this.savedSysctl.size) this.record?.remove();
    this.savedSysctl.clear();
    this.rules = null;
    this.installedText = null;
  }

  stats() {
    return this.queues.map((q) => q.stats());
  }

  get installed(): RuleSet | null { return this.rules; }
}

/**
 * Whether two configurations give the same rules, maps, routes and
 * per-server settings: the same services (address, protocol, port, family,
 * fwmark) with the same destinations (id, family, method, address, port), in
 * the same order. Compared field by field, nothing allocated.
 */
export function sameLayout(a: readonly ServiceConfig[], b: readonly ServiceConfig[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const s = a[i], t = b[i];
    if (s.id !== t.id || s.af !== t.af || s.fwmark !== t.fwmark || s.protocol !== t.protocol || s.address !== t.address ||
      s.port !== t.port || s.dests.length !== t.dests.length) return false;
    for (let j = 0; j < s.dests.length; j++) {
      const d = s.dests[j], e = t.dests[j];
      if (d.id !== e.id || d.af !== e.af || d.method !== e.method || d.address !== e.address || d.port !== e.port) return false;
    }
  }
  return true;
}
