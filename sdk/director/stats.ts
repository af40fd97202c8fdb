// Director's statistics: totals, -Z and the global counters (the work is in
// ../stats.ts; per-service and per-destination figures come with service()
// and dests()). A layer of Director (see services.ts for the chain).
import type { Core } from '../core/core.js';
import { statsSnapshot, zeroStats } from '../stats.js';
import { DirectorConns } from './conns.js';
import type { EndpointCache } from './scheduling.js';
import type { ServiceKey, StatsSnapshot } from '../types.js';

export abstract class DirectorStats extends DirectorConns {
  readonly #core: Core;

  protected constructor(core: Core, endpoints: EndpointCache) {
    super(core, endpoints);
    this.#core = core;
  }

  /** Totals over every service (/proc/net/ip_vs_stats): counters since -Z and rates. */
  totals(): StatsSnapshot {
    return statsSnapshot(this.#core, 'total');
  }

  /**
   * ipvsadm -Z: counters restart from 0 (a baseline is kept; nothing is lost)
   * and rates restart from 0. With a key, that service and its destinations;
   * without, every service, destination and the totals.
   */
  zero(key?: ServiceKey): void {
    zeroStats(this.#core, key === undefined ? 0 : this.serviceId(key));
  }

  /** A named global counter (see core/abi.gen.ts `counters`). */
  counter(index: number): number {
    return this.#core.x.counter(index);
  }
}
