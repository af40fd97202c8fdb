// Registers the gateway as wasmvsd's 'gateway' data path (loaded by
// sdk/control/datapath.ts when the daemon runs in gateway mode).
import { registerDataPath, type DataPathContext, type DataPath } from '../../sdk/control/datapath.js';
import type { Director } from '../../sdk/src/director.js';
import { Metrics, metricsEndpoint } from '../../sdk/proxy/metrics.js';
import { Gateway, parseGatewayArgs } from './gateway.js';
import { registerGatewayMetrics } from './metrics.js';

class DaemonGateway implements DataPath {
  readonly name = 'gateway';
  readonly gateway: Gateway;
  private metrics: Metrics | null = null;
  private readonly onUsr1 = () => this.ctx.log(this.gateway.summary());

  constructor(private readonly ctx: DataPathContext) {
    this.gateway = new Gateway(parseGatewayArgs(ctx.args ?? []), ctx.log);
  }

  async start(director: Director): Promise<void> {
    await this.gateway.start(director);
    // kill -USR1: one line of counters in the daemon's log.
    process.on('SIGUSR1', this.onUsr1);
    const at = metricsEndpoint(process.env.WASMVS_METRICS);
    if (at) await this.startMetrics(director, at);
  }

  /**
   * WASMVS_METRICS=[HOST:]PORT: the proxy's series (services and real servers,
   * same names and labels; no health checks or drain yet, so every real
   * server reads healthy and not draining) and the gateway's own counters.
   */
  private async startMetrics(director: Director, at: { host: string; port: number }): Promise<void> {
    const views = () => director.services().flatMap((svc) =>
      director.dests(svc.fwmark ? { fwmark: svc.fwmark, af: svc.af } : { protocol: svc.protocol!, address: svc.address!, port: svc.port })
        .map((dest) => ({ svc, dest, healthy: true, draining: false })));
    this.metrics = new Metrics(director, views, () => new Map());
    registerGatewayMetrics(this.metrics.registry, this.gateway.source());
    try {
      const port = await this.metrics.listen(at.host, at.port);
      this.ctx.log(`gateway: metrics on http://${at.host.includes(':') ? `[${at.host}]` : at.host}:${port}/metrics`);
    } catch (e) {
      this.ctx.log(`gateway: metrics: cannot listen on ${at.host}:${at.port}: ${(e as Error).message}`);
      this.metrics = null;
    }
  }

  configChanged(): void {
    this.gateway.configChanged();
  }

  async stop(): Promise<void> {
    process.off('SIGUSR1', this.onUsr1);
    this.metrics?.close();
    this.metrics = null;
    await this.gateway.stop();
  }
}

registerDataPath('gateway', (ctx) => new DaemonGateway(ctx));
