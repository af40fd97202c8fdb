// The gateway's real-server state beyond IPVS, with the proxy's pieces and
// meaning: health checks from the `# wasmvs-proxy health` directives and
// drains from `wasmvsadm --drain`, both mapped onto the core's DOWN flag
// (skipped by every scheduler, admin weight never touched). Packets of
// connections already in the table keep flowing to a DOWN real server: the
// core looks a connection up before it schedules.
//
// A drained real server is one the connection table no longer holds any
// entry for (ActiveConn + InActConn = 0): the gateway terminates no socket,
// so the table is all it knows. At the deadline the drain ends as "forced";
// the gateway cannot reset connections it does not terminate, so the
// entries left run on until they expire (or the real server is deleted).
import type { Director } from '../../sdk/director.js';
import type { DestInfo, Endpoint, ServiceInfo, ServiceKey } from '../../sdk/types.js';
import { Checks, pairKey, svcKeyOf, type DrainService } from '../../daemon/checks.js';
import { Drains, type DrainProgress } from '../../daemon/drain.js';
import type { probe } from '../../daemon/health.js';
import type { Logger } from '../../daemon/logger.js';
import type { DestView } from '../../daemon/metrics.js';
import { destKeyText, type ProxySettings } from '../../daemon/settings.js';

const keyOf = (s: ServiceInfo): ServiceKey => (s.fwmark ? { fwmark: s.fwmark, af: s.af } : { protocol: s.protocol!, address: s.address!, port: s.port });

export class DestState {
  readonly drains = new Drains();
  private readonly checks: Checks;

  /** probeFn: the health probe (tests pass a fake); default the proxy's TCP connect. */
  constructor(private readonly director: Director, private readonly log: Logger, probeFn?: typeof probe) {
    this.checks = new Checks(director, this.drains, log, probeFn);
  }

  private destsOf(s: ServiceInfo): DestInfo[] {
    try { return this.director.dests(keyOf(s)); } catch { return []; }
  }

  /** Start, retarget or stop health checks and re-apply DOWN after a configuration or settings change. */
  sync(settings: ProxySettings): void {
    this.checks.sync(settings, () => this.director.configuration());
  }

  /** Start (or restart with a new deadline) draining a real server; deadlineS null = no deadline. */
  drain(svc: DrainService, dest: Endpoint, deadlineS: number | null = null, now = Date.now()): DrainProgress {
    const e = this.checks.startDrain(svc, dest, deadlineS, now);
    this.step(now);
    return { ...e };
  }

  /** End a drain: the real server takes new connections again (when healthy). */
  undrain(svc: DrainService, dest: Endpoint): boolean {
    return this.checks.cancelDrain(svc, dest);
  }

  drainProgress(): DrainProgress[] {
    return this.checks.drainProgress();
  }

  /** Once a second: fresh ActiveConn/InActConn for every drain; one log line when one ends. */
  step(now = Date.now()): void {
    for (const e of this.drains.all()) {
      const id = this.checks.destId(e.key);
      let info: DestInfo | null = null;
      if (id !== undefined) { try { info = this.director.destById(id); } catch { info = null; } }
      const active = info?.activeconns ?? 0, inactive = info?.inactconns ?? 0;
      const r = this.drains.step(e, active + inactive, active, inactive, now);
      if (r !== null) this.log.info({ service: e.service, dest: e.dest, forced: e.forced, left: e.open }, 'drained');
    }
  }

  /** Every real server with its health and drain state, for the metrics. */
  views(): DestView[] {
    const out: DestView[] = [];
    for (const svc of this.director.services()) {
      const svcKey = svcKeyOf(svc);
      for (const dest of this.destsOf(svc)) {
        const key = svcKey === null ? null : pairKey(svcKey, destKeyText(dest.address, dest.port));
        out.push({ svc, dest, healthy: key === null || this.checks.healthy(key), draining: key !== null && this.drains.has(key) });
      }
    }
    return out;
  }

  stop(): void {
    this.checks.stopAll();
  }
}
