// Prometheus metrics (prom-client) on a localhost HTTP port. Values are read
// from the Director at scrape time, so they mean exactly what ipvsadm's
// columns mean: conns/pkts/bytes since the last -Z (--stats), rates as
// --rate rounds them, ActiveConn/InActConn/PersistConn as -L shows them.
// Only scheduling and connect failures and flows refused at a bound
// (limits.ts) are counted on the data path.
import { createServer, type Server } from 'node:http';
import { Registry, Gauge, Counter } from 'prom-client';
import type { Director } from '../sdk/director.js';
import type { ServiceInfo, DestInfo } from '../sdk/types.js';

/** Where /metrics listens when no address is given: loopback only, never every interface. */
export const METRICS_DEFAULT_HOST = '127.0.0.1';

/**
 * WASMVS_METRICS: `HOST:PORT`, `[IPV6]:PORT`, or `:PORT` / `PORT` for
 * loopback; undefined when unset or not of these shapes. An empty host would
 * make Node listen on every interface.
 */
export function metricsEndpoint(text: string | undefined): { host: string; port: number } | undefined {
  if (!text) return undefined;
  const m = /^(?:(.*):)?(\d+)$/.exec(text);
  if (!m || Number(m[2]) > 65535) return undefined;
  const host = (m[1] ?? '').replace(/^\[|\]$/g, '');
  return { host: host === '' ? METRICS_DEFAULT_HOST : host, port: Number(m[2]) };
}

export interface DestView { svc: ServiceInfo; dest: DestInfo; healthy: boolean; draining: boolean }

type Row = { labels: Record<string, string>; value: number };
type Extract = (v: DestView[], svcs: ServiceInfo[], listeners: Map<string, boolean>) => Row[];

/** "udp|127.0.0.1|53" (the proxy's service key) → "udp/127.0.0.1:53", the label of every series. */
export const serviceLabel = (key: string) => key.replace(/^(\w+)\|(.*)\|(\d+)$/, '$1/$2:$3');
const svcLabel = (s: ServiceInfo) => `${s.protocol ?? 'fwm'}/${s.address ?? s.fwmark}:${s.port}`;
const destLabel = (d: DestInfo) => `${d.address}:${d.port}`;

const STAT_FIELDS = ['conns', 'inpkts', 'outpkts', 'inbytes', 'outbytes'] as const;
const RATE_FIELDS = ['cps', 'inpps', 'outpps', 'inbps', 'outbps'] as const;

export class Metrics {
  readonly registry = new Registry();
  readonly schedulingFailures: Counter<'service' | 'reason'>;
  readonly connectFailures: Counter<'service' | 'dest'>;
  readonly udpDropped: Counter<'service' | 'limit'>;
  readonly tcpRefused: Counter<'service'>;
  readonly tcpPendingRefused: Counter<'service'>;
  private server: Server | null = null;
  private cache: { at: number; views: DestView[]; svcs: ServiceInfo[] } | null = null;

  constructor(private readonly director: Director, private readonly views: () => DestView[],
    private readonly listeners: () => Map<string, boolean>, open: () => { tcp: number; udp: number; pending?: number } = () => ({ tcp: 0, udp: 0 }),
    fds?: () => { limit: number; listeners: number; tcpConns: number; udpSessions: number },
    threadDecisions?: () => { scheduled: number; refused: number }) {
    this.schedulingFailures = new Counter({
      name: 'wasmvs_scheduling_failures_total', help: 'Accepted connections or datagrams with no destination available (closed at once)',
      labelNames: ['service', 'reason'], registers: [this.registry],
    });
    this.connectFailures = new Counter({
      name: 'wasmvs_upstream_connect_failures_total', help: 'Connections to a real server that failed (refused, unreachable)',
      labelNames: ['service', 'dest'], registers: [this.registry],
    });
    this.udpDropped = new Counter({
      name: 'wasmvs_udp_datagrams_dropped_total', help: 'Datagrams of new client flows dropped because a new UDP session would pass a limit',
      labelNames: ['service', 'limit'], registers: [this.registry],
    });
    this.tcpRefused = new Counter({
      name: 'wasmvs_tcp_conns_refused_total', help: 'Accepted TCP connections reset because the concurrent connection limit was reached',
      labelNames: ['service'], registers: [this.registry],
    });
    this.tcpPendingRefused = new Counter({
      name: 'wasmvs_tcp_pending_refused_total', help: 'Accepted TCP connections reset because too many connections were waiting for their real server (tcp-pending)',
      labelNames: ['service'], registers: [this.registry],
    });
    new Gauge({ name: 'wasmvs_tcp_pending', help: 'Proxied TCP connections whose real server has not answered yet', registers: [this.registry], collect() { this.set(open().pending ?? 0); } });
    new Gauge({ name: 'wasmvs_udp_sessions', help: 'Open UDP sessions (one socket each)', registers: [this.registry], collect() { this.set(open().udp); } });
    new Gauge({ name: 'wasmvs_tcp_conns', help: 'Open proxied TCP connections (two sockets each)', registers: [this.registry], collect() { this.set(open().tcp); } });
    if (fds !== undefined) {
      // What the fds go to, beside the limit (docs/limits.md): the listeners first, then the flow bounds.
      new Gauge({ name: 'wasmvs_open_files_limit', help: 'The proxy process\'s open-files limit (soft, as raised for its listeners)', registers: [this.registry], collect() { this.set(fds().limit); } });
      new Gauge({ name: 'wasmvs_listener_fds', help: 'Fds the listening sockets hold (one per TCP service per pump, one per UDP service)', registers: [this.registry], collect() { this.set(fds().listeners); } });
      new Gauge({ name: 'wasmvs_tcp_conns_limit', help: 'tcp-conns: the bound on open proxied TCP connections', registers: [this.registry], collect() { this.set(fds().tcpConns); } });
      new Gauge({ name: 'wasmvs_udp_sessions_limit', help: 'udp-sessions: the bound on open UDP sessions', registers: [this.registry], collect() { this.set(fds().udpSessions); } });
    }
    if (threadDecisions !== undefined) {
      // Only with the engine's pumps deciding on the native core (--native-core on, the default): how many clients they took.
      new Counter({
        name: 'wasmvs_engine_thread_decisions_total', help: 'Clients an engine pump (the main thread\'s or a thread) scheduled itself on the native core (the rest go through JavaScript: PROXY protocol services, a spell of refusals), by outcome: scheduled, or refused with no real server (reset)',
        labelNames: ['outcome'], registers: [this.registry],
        collect(this: Counter<'outcome'>) {
          const n = threadDecisions();
          this.reset();
          this.inc({ outcome: 'scheduled' }, n.scheduled);
          this.inc({ outcome: 'refused' }, n.refused);
        },
      });
    }
    for (const f of STAT_FIELDS) {
      // Totals only grow until -Z (or the service is re-added): counters, which Prometheus's
      // rate() and increase() read across such resets.
      this.total(`wasmvs_service_${f}_total`, `ipvsadm --stats ${f} per virtual service (since -Z)`, ['service'],
        (_v, svcs) => svcs.map((s) => ({ labels: { service: svcLabel(s) }, value: s.stats[f] })));
      this.total(`wasmvs_dest_${f}_total`, `ipvsadm --stats ${f} per real server (since -Z)`, ['service', 'dest'],
        (v) => v.map((x) => ({ labels: { service: svcLabel(x.svc), dest: destLabel(x.dest) }, value: x.dest.stats[f] })));
    }
    for (const f of RATE_FIELDS) {
      this.gauge(`wasmvs_service_${f}`, `ipvsadm --rate ${f} per virtual service`, ['service'],
        (_v, svcs) => svcs.map((s) => ({ labels: { service: svcLabel(s) }, value: s.rates[f] })));
      this.gauge(`wasmvs_dest_${f}`, `ipvsadm --rate ${f} per real server`, ['service', 'dest'],
        (v) => v.map((x) => ({ labels: { service: svcLabel(x.svc), dest: destLabel(x.dest) }, value: x.dest.rates[f] })));
    }
    const perDest = (name: string, help: string, pick: (x: DestView) => number) => this.gauge(name, help, ['service', 'dest'],
      (v) => v.map((x) => ({ labels: { service: svcLabel(x.svc), dest: destLabel(x.dest) }, value: pick(x) })));
    perDest('wasmvs_dest_active_conns', 'ActiveConn (-L)', (x) => x.dest.activeconns);
    perDest('wasmvs_dest_inactive_conns', 'InActConn (-L)', (x) => x.dest.inactconns);
    perDest('wasmvs_dest_persist_conns', 'PersistConn (--persistent-conn)', (x) => x.dest.persistconns);
    perDest('wasmvs_dest_weight', 'Admin weight (-w); never changed by health checks', (x) => x.dest.weight);
    perDest('wasmvs_dest_healthy', '1 when the health check passes (or none is configured)', (x) => (x.healthy ? 1 : 0));
    perDest('wasmvs_dest_draining', '1 while the real server is being drained', (x) => (x.draining ? 1 : 0));
    this.gauge('wasmvs_listener_up', '1 when the proxy listens on the virtual service', ['service'],
      (_v, _s, l) => [...l].map(([k, up]) => ({ labels: { service: k }, value: up ? 1 : 0 })));
  }

  private gauge(name: string, help: string, labelNames: string[], extract: Extract): void {
    this.series('gauge', name, help, labelNames, extract);
  }

  private total(name: string, help: string, labelNames: string[], extract: Extract): void {
    this.series('counter', name, help, labelNames, extract);
  }

  /** A series read from one Director snapshot per scrape: a gauge is set, a counter re-filled from the total. */
  private series(kind: 'gauge' | 'counter', name: string, help: string, labelNames: string[], extract: Extract): void {
    const self = this;
    const config = {
      name, help, labelNames, registers: [this.registry],
      collect(this: Gauge | Counter) {
        const snap = self.snapshot();
        this.reset();
        for (const r of extract(snap.views, snap.svcs, self.listeners())) {
          if (this instanceof Gauge) this.set(r.labels, r.value);
          else this.inc(r.labels, r.value);
        }
      },
    };
    if (kind === 'gauge') new Gauge(config);
    else new Counter(config);
  }

  /** One Director snapshot per scrape (the gauges are collected one after another). */
  private snapshot(): { views: DestView[]; svcs: ServiceInfo[] } {
    const now = Date.now();
    if (this.cache === null || now - this.cache.at > 200) {
      this.cache = { at: now, views: this.views(), svcs: this.director.services() };
    }
    return this.cache;
  }

  /** Serve /metrics on host:port (loopback when host is empty); resolves with the bound port. */
  listen(host: string, port: number): Promise<number> {
    if (host === '') host = METRICS_DEFAULT_HOST;
    const server = createServer((req, res) => {
      if (req.url !== '/metrics') { res.writeHead(404).end('see /metrics\n'); return; }
      // Each scrape starts from a fresh snapshot: a service added just before it is in
      // the gauges as it is already in the counters.
      this.cache = null;
      this.registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': this.registry.contentType }).end(text);
      }, (e: unknown) => res.writeHead(500).end(String(e)));
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        // A failed accept (out of fds) is emitted here; unheard it would kill the daemon. The scraper retries.
        server.on('error', () => {});
        this.server = server;
        resolve((server.address() as { port: number }).port);
      });
    });
  }

  close(): void {
    this.server?.close();
    this.server = null;
  }
}
