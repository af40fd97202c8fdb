// The gateway as wasmvsd's 'gateway' data path (createDataPath, loaded by
// cli/wasmvsd.ts when the daemon runs in gateway mode), with the
// proxy's daemon behaviour and conventions: `# wasmvs-proxy` directives in
// --config (health checks, metrics, options), `wasmvsadm --drain`, SIGHUP
// reload of --config, pino logs on stderr, Prometheus metrics.
import type { DataPathContext, DataPath, DataPathFactory } from '../../daemon/datapath.js';
import { sysctlRecordPath } from '../../daemon/paths.js';
import type { DrainRequest, DrainInfo } from '../../ipvsadm/protocol.js';
import type { Director } from '../../sdk/director.js';
import { Metrics, metricsEndpoint } from '../../daemon/metrics.js';
import { createLogger, type Logger } from '../../daemon/logger.js';
import { drainRequest } from '../../daemon/drain-control.js';
import type { ProxySettings } from '../../daemon/settings.js';
import { Gateway } from './gateway.js';
import { loadNativeCore, type NativeCore } from '../../native/addon.js';
import { gatewayOptions } from './options.js';
import { registerGatewayMetrics } from './metrics.js';
import { DestState } from './dest-state.js';
import { loadSettings, reloadRules } from './config.js';

/** A request with more changes than this is logged as one summary line (as the proxy does). */
const CHANGES_LOGGED = 20;

class DaemonGateway implements DataPath {
  readonly name = 'gateway';
  readonly gateway: Gateway;
  readonly log: Logger;
  private director: Director | null = null;
  private state: DestState | null = null;
  private settings: ProxySettings = { health: [], proxyProtocol: [], options: {} };
  private metrics: Metrics | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly onUsr1 = () => this.log.info(this.gateway.summary());
  private readonly onHup = () => void this.reload();

  constructor(private readonly ctx: DataPathContext) {
    this.log = createLogger();
    // The sysctls it changes are recorded beside the socket, so a crashed run's are restored (--cleanup, next start);
    // with connection sync its NAT services stay on the userspace path (a peer's NAT flows, conntrack's on the fast path).
    const sysctlRecord = ctx.socket === undefined ? undefined : sysctlRecordPath(ctx.socket);
    const opts = { ...gatewayOptions(ctx.options ?? {}), sysctlRecord, ...(ctx.connSync ? { connSync: true } : {}) };
    // Queue threads (the default; --queue-threads off, or WASMVS_QUEUE_THREADS=off where the flag is not given,
    // turns them off): the director runs on the addon's native core (coreExports), which the queues' threads call.
    const env = process.env.WASMVS_QUEUE_THREADS;
    const asked = opts.queueThreads ?? (env === 'on' ? true : env === 'off' ? false : undefined);
    if (asked !== false) {
      const n = loadNativeCore();
      if (n.exports !== null) this.native = n;
      else if (asked) this.log.warn(`gateway: --queue-threads on, but ${n.why}: the queues are read and decided on Node's thread`);
      else this.log.info(`gateway: queue threads off, the queues are read and decided on Node's thread: ${n.why}`);
    }
    const clock = this.clock;
    this.gateway = new Gateway(opts, (m, level = 'info') => this.log[level](m), this.native ? { nativeCore: { core: this.native.core, clock } } : {});
  }

  /** The native core the director runs on with --queue-threads on (its queues' threads decide on it), or null. */
  private readonly native: NativeCore | null = null;
  private readonly clock = () => performance.now() / 1000;

  /** The core the daemon's director should run on: the native one the queue threads share, or null (the WebAssembly core). */
  coreExports(): { exports: object; clock: () => number } | null {
    return this.native === null ? null : { exports: this.native.exports, clock: this.clock };
  }

  async start(director: Director): Promise<void> {
    this.director = director;
    this.state = new DestState(director, this.log);
    this.applySettings(loadSettings(this.ctx.configFile, this.log));
    await this.gateway.start(director);
    // kill -USR1: one line of counters in the daemon's log.
    process.on('SIGUSR1', this.onUsr1);
    process.on('SIGHUP', this.onHup);
    // Drains follow ActiveConn/InActConn once a second.
    this.timer = setInterval(() => this.state?.step(), 1000);
    this.timer.unref();
    const at = this.settings.metrics ?? metricsEndpoint(process.env.WASMVS_METRICS);
    if (at) await this.startMetrics(director, at);
  }

  private applySettings(s: ProxySettings): void {
    this.settings = s;
    if (Object.keys(s.options).length > 0) this.director!.setOptions(s.options);
    this.state!.sync(s);
  }

  /**
   * `# wasmvs-proxy metrics HOST:PORT` or WASMVS_METRICS=[HOST:]PORT: the
   * proxy's series (services and real servers, same names and labels, health
   * and drain included) and the gateway's own counters.
   */
  private async startMetrics(director: Director, at: { host: string; port: number }): Promise<void> {
    this.metrics = new Metrics(director, () => this.state!.views(), () => new Map());
    registerGatewayMetrics(this.metrics.registry, this.gateway.source());
    try {
      const port = await this.metrics.listen(at.host, at.port);
      this.log.info({ address: `${at.host.includes(':') ? `[${at.host}]` : at.host}:${port}` }, 'metrics on /metrics');
    } catch (e) {
      this.log.error(`metrics: cannot listen on ${at.host}:${at.port}: ${(e as Error).message}`);
      this.metrics = null;
    }
  }

  /** Resolves once the rules carry the change: `wasmvsadm` returns then, as ipvsadm does once the kernel has it. */
  configChanged(journal?: string[] | null): Promise<void> {
    if (journal === null || (journal && journal.length > CHANGES_LOGGED)) this.log.info({ changes: journal?.length ?? null }, 'configuration changed (bulk)');
    else for (const rule of journal ?? []) this.log.info({ rule }, 'config change');
    const applied = this.gateway.configChanged();
    this.state?.sync(this.settings);
    return applied;
  }

  /** SIGHUP: settings first (they may name new services), then the rules' difference. */
  async reload(): Promise<void> {
    const file = this.ctx.configFile;
    if (!file || !this.director) { this.log.warn('SIGHUP: no --config file to re-read'); return; }
    try {
      this.applySettings(loadSettings(file, this.log));
      const changes = await reloadRules(this.director, file, this.log, this.ctx.apply);
      // Without ctx.apply nobody else tells the gateway; with it configChanged already ran.
      if (!this.ctx.apply) void this.configChanged();
      this.log.info({ file, changes }, 'SIGHUP: configuration reloaded');
    } catch (e) {
      this.log.error(`SIGHUP: cannot reload ${file}: ${(e as Error).message}`);
    }
  }

  beforeRead(): void {
    this.gateway.catchUp();
  }

  beforeReadAsync(): Promise<void> {
    return this.gateway.catchUpAsync();
  }

  drain(req: DrainRequest): DrainInfo[] {
    if (!this.state) return [];
    // The gateway cannot reset connections it does not terminate (dest-state.ts).
    return drainRequest(this.state, req).map((d) => ({ ...d, atDeadline: 'kept' as const }));
  }

  async stop(): Promise<void> {
    process.off('SIGUSR1', this.onUsr1);
    process.off('SIGHUP', this.onHup);
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.state?.stop();
    this.metrics?.close();
    this.metrics = null;
    await this.gateway.stop();
    this.log.info('gateway stopped');
  }
}

export const createDataPath: DataPathFactory = (ctx) => new DaemonGateway(ctx);
