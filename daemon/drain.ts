// Drain as a state (beyond IPVS's weight 0): a drained real server takes no
// new connections (the core's DOWN flag, weight untouched) while its open
// connections go on; it is "drained" once the proxy holds no connection to
// it, or at the deadline, when the ones left are reset. Progress reports
// the proxy's open connections and the core's ActiveConn/InActConn (InActConn
// includes TIME_WAIT entries, which linger after the sockets are gone).

export type DrainStatus = 'draining' | 'drained';

export interface DrainProgress {
  service: string;
  dest: string;
  status: DrainStatus;
  /** Proxied connections/sessions still open to this real server. */
  open: number;
  activeconns: number;
  inactconns: number;
  startedAt: number;
  /** Epoch ms, or null without a deadline. */
  deadline: number | null;
  /** True when the deadline cut connections. */
  forced: boolean;
}

export interface DrainEntry extends DrainProgress { key: string }

export class Drains {
  private readonly entries = new Map<string, DrainEntry>();

  /** key = "svcKey#destKey". Restarting a drain keeps its start time. */
  start(key: string, service: string, dest: string, deadlineS: number | null, now = Date.now()): DrainEntry {
    const old = this.entries.get(key);
    const e: DrainEntry = {
      key, service, dest, status: 'draining', open: old?.open ?? 0, activeconns: 0, inactconns: 0,
      startedAt: old?.startedAt ?? now, deadline: deadlineS === null ? null : now + deadlineS * 1000, forced: false,
    };
    this.entries.set(key, e);
    return e;
  }

  cancel(key: string): boolean {
    return this.entries.delete(key);
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  get(key: string): DrainEntry | undefined {
    return this.entries.get(key);
  }

  all(): DrainEntry[] {
    return [...this.entries.values()];
  }

  /**
   * Update one entry with fresh counts; returns what happened: 'drained' when
   * it just emptied, 'deadline' when the caller must cut what is left.
   */
  step(e: DrainEntry, open: number, activeconns: number, inactconns: number, now = Date.now()): 'drained' | 'deadline' | null {
    e.open = open;
    e.activeconns = activeconns;
    e.inactconns = inactconns;
    if (e.status === 'drained') return null;
    if (open === 0) {
      e.status = 'drained';
      return 'drained';
    }
    if (e.deadline !== null && now >= e.deadline) {
      e.status = 'drained';
      e.forced = true;
      return 'deadline';
    }
    return null;
  }
}
