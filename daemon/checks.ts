// Keeps one HealthCheck per configured real server in step with the
// Director, and turns health + drain into the core's DOWN flag for the
// current dest id (ids change when a dest is deleted and added again).
import type { Director } from '../sdk/director.js';
import type { ServiceInfo, ServiceConfig, DestConfig } from '../sdk/types.js';
import { HealthCheck, probe } from './health.js';
import { lookup, svcKeyText, destKeyText, type ProxySettings } from './settings.js';
import type { Drains, DrainProgress } from './drain.js';
import type { Endpoint } from '../sdk/types.js';
import { NoSuchDestError } from '../sdk/errors.js';

/** A virtual service a drain names (drains work on TCP/UDP address services). */
export type DrainService = { protocol: 'tcp' | 'udp'; address: string; port: number };
import type { Logger } from './logger.js';

export const pairKey = (svcKey: string, destKey: string) => `${svcKey}#${destKey}`;

export function svcKeyOf(s: Pick<ServiceInfo, 'fwmark' | 'address' | 'protocol' | 'port'>): string | null {
  if (s.fwmark || s.address === null || (s.protocol !== 'tcp' && s.protocol !== 'udp')) return null;
  return svcKeyText(s.protocol, s.address, s.port);
}

interface Checked { check: HealthCheck; destId: number; svcKey: string; destKey: string }

export class Checks {
  private readonly checks = new Map<string, Checked>();
  /** pair key → current dest id, for every dest of a listened service. */
  private readonly ids = new Map<string, number>();

  constructor(private readonly director: Director, private readonly drains: Drains, private readonly log: Logger,
    private readonly probeFn: typeof probe = probe) {}

  /**
   * Start, retarget or stop checks after a configuration or settings change.
   * Only services named by a health directive, a drain or a running check are
   * looked at, so a daemon with 20,000 plain services pays nothing here: the
   * configuration is read (`list`) only when one is.
   */
  sync(settings: ProxySettings, list: () => readonly ServiceConfig[]): void {
    const seen = new Set<string>();
    const relevant = new Set<string>([...settings.health.map((h) => h.scope.svc), ...this.drains.all().map((e) => e.service),
      ...[...this.checks.values()].map((c) => c.svcKey)]);
    this.ids.clear();
    if (relevant.size === 0) return;
    for (const s of list()) {
      const svcKey = svcKeyOf(s);
      if (svcKey === null || !relevant.has(svcKey)) continue;
      for (const d of s.dests) {
        const destKey = destKeyText(d.address, d.port);
        const key = pairKey(svcKey, destKey);
        this.ids.set(key, d.id);
        const want = lookup(settings.health, svcKey, destKey);
        if (want) {
          seen.add(key);
          this.ensure(key, svcKey, destKey, d, want.settings);
        }
        this.apply(key);
      }
    }
    for (const [key, c] of this.checks) {
      if (seen.has(key)) continue;
      c.check.stop();
      this.checks.delete(key);
      this.apply(key);
    }
  }

  private ensure(key: string, svcKey: string, destKey: string, d: DestConfig, settings: ProxySettings['health'][number]['settings']): void {
    const c = this.checks.get(key);
    if (c) {
      c.destId = d.id;
      c.check.settings = settings;
      return;
    }
    const entry: Checked = { destId: d.id, svcKey, destKey, check: null as unknown as HealthCheck };
    entry.check = new HealthCheck({ address: d.address, port: d.port }, settings, (up, reason) => {
      this.log.warn({ service: svcKey, dest: destKey, healthy: up, reason }, up ? 'real server healthy again' : 'real server down');
      this.apply(key);
    }, this.probeFn, (why) => {
      this.log.warn({ service: svcKey, dest: destKey, reason: why }, 'health probe could not run (this process is out of sockets); real server state kept');
    });
    this.checks.set(key, entry);
    entry.check.start();
  }

  healthy(key: string): boolean {
    return this.checks.get(key)?.check.up ?? true;
  }

  /** Push healthy && !draining to the core for the dest's current id. */
  apply(key: string): void {
    const id = this.ids.get(key);
    if (id === undefined) return;
    const up = this.healthy(key) && !this.drains.has(key);
    try {
      this.director.setDestHealth(id, up);
    } catch {
      // The dest went away between the listing and now; the next sync sees it.
    }
  }

  destId(key: string): number | undefined {
    return this.ids.get(key);
  }

  /** Track a dest id outside a sync (a drain just started on it). */
  track(key: string, destId: number): void {
    this.ids.set(key, destId);
  }

  /**
   * Start (or restart with a new deadline) draining a real server: it goes
   * DOWN at once, its admin weight untouched. The host steps the drain.
   */
  startDrain(svc: DrainService, dest: Endpoint, deadlineS: number | null, now = Date.now()): DrainProgress {
    const svcKey = svcKeyText(svc.protocol, svc.address, svc.port);
    const d = this.director.dests(svc).find((x) => x.address === dest.address && x.port === dest.port);
    if (!d) throw new NoSuchDestError();
    const key = pairKey(svcKey, destKeyText(dest.address, dest.port));
    const e = this.drains.start(key, svcKey, `${dest.address}:${dest.port}`, deadlineS, now);
    this.track(key, d.id);
    this.apply(key);
    this.log.info({ service: svcKey, dest: e.dest, deadline: deadlineS }, 'drain started');
    return e;
  }

  /** End a drain: the real server takes new connections again (when healthy). */
  cancelDrain(svc: DrainService, dest: Endpoint): boolean {
    const key = pairKey(svcKeyText(svc.protocol, svc.address, svc.port), destKeyText(dest.address, dest.port));
    const had = this.drains.cancel(key);
    this.apply(key);
    if (had) this.log.info({ service: key }, 'drain cancelled');
    return had;
  }

  /** Every drain, as copies. */
  drainProgress(): DrainProgress[] {
    return this.drains.all().map((e) => ({ ...e }));
  }

  stopAll(): void {
    for (const c of this.checks.values()) c.check.stop();
    this.checks.clear();
  }
}
