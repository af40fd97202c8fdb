// Bounds on what clients can make the proxy hold open. A UDP session holds
// one file descriptor, a TCP connection two (client and real server); once
// the process's open-files limit is reached nothing opens any more — not the
// control socket, not a health probe, not a client of another service. So the
// defaults come from that limit: a reserve for the daemon's own work
// (listeners, control clients, health probes, metrics, the state file), then
// half of the rest for UDP sessions and half for TCP connections:
//
//   reserve     = clamp(fds / 8, 64, 1024)
//   udpSessions = clamp((fds - reserve) / 2, 1, 65536)      1 fd each
//   tcpConns    = clamp((fds - reserve) / 4, 1, 65536)      2 fds each
//   udpSessionsPerService = ceil(udpSessions / 2)           one flooded service leaves room for the others
//   tcpPending  = tcpConns                                   half-open: off unless set lower
//
// tcpPending bounds the connections accepted from a client whose real server
// has not answered yet (IPVS's SYN_RECV towards the real server): a real
// server that drops SYNs holds each such client for connect-timeout seconds,
// and without a lower bound a burst of them can take every tcp-conns slot.
//
// so udpSessions + 2 * tcpConns + reserve <= fds. Node raises its soft limit to
// the hard one at start-up; /proc/self/limits shows the raised value.
//
// Listening sockets past half the reserve (20,000 services, or two pumps
// each holding one per TCP service) come out of the budget, and fds the limit
// was raised by for them (fdlimit.ts) go into it:
//
//   budget = fds + raised - reserve - max(0, listenerFds - reserve / 2)
import { readFileSync } from 'node:fs';
import type { LimitSettings } from '../../daemon/settings.js';

export { limitsOf, type LimitSettings } from '../../daemon/settings.js';

export interface Limits {
  /** The open-files limit the defaults were derived from. */
  fds: number;
  reserve: number;
  udpSessions: number;
  udpSessionsPerService: number;
  tcpConns: number;
  tcpPending: number;
  connectTimeoutMs: number;
}

/** Open-files limit assumed where /proc/self/limits cannot be read (not Linux). */
export const FALLBACK_FDS = 1024;
/** Largest default session/connection bound, however high the fd limit ("unlimited" included). */
export const MAX_DEFAULT_FLOWS = 65536;
export const CONNECT_TIMEOUT_S = 10;

export interface Nofile { soft: number; hard: number }

/** "Max open files" (soft and hard) of a /proc/PID/limits text; null when absent. Infinity for "unlimited". */
export function parseNofile(text: string): Nofile | null {
  const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)\s/m.exec(text);
  if (!m) return null;
  const n = (v: string) => (v === 'unlimited' ? Infinity : Number(v));
  return { soft: n(m[1]), hard: n(m[2]) };
}

/** The soft "Max open files" of /proc/self/limits text; null when absent. Infinity for "unlimited". */
export function parseOpenFiles(text: string): number | null {
  return parseNofile(text)?.soft ?? null;
}

/** This process's open-files limit, or FALLBACK_FDS. */
export function openFilesLimit(read: () => string = () => readFileSync('/proc/self/limits', 'utf8')): number {
  try {
    return parseOpenFiles(read()) ?? FALLBACK_FDS;
  } catch {
    return FALLBACK_FDS;
  }
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, Math.floor(v)));

/** The listeners' fds and what the limit was raised by since `fds` was read (fdlimit.ts). */
export interface ListenerFds { listenerFds: number; raised: number }

/** Explicit settings over the defaults derived from `fds` (and the listeners' share of it). */
export function resolveLimits(s: LimitSettings, fds: number, room: ListenerFds = { listenerFds: 0, raised: 0 }): Limits {
  const reserve = clamp(fds / 8, 64, 1024);
  const budget = Math.max(0, fds + room.raised - reserve - Math.max(0, room.listenerFds - Math.floor(reserve / 2)));
  const udpSessions = s.udpSessions ?? clamp(budget / 2, 1, MAX_DEFAULT_FLOWS);
  const tcpConns = s.tcpConns ?? clamp(budget / 4, 1, MAX_DEFAULT_FLOWS);
  return {
    fds, reserve, udpSessions,
    udpSessionsPerService: s.udpSessionsPerService ?? Math.max(1, Math.ceil(udpSessions / 2)),
    tcpConns, tcpPending: s.tcpPending ?? tcpConns,
    connectTimeoutMs: (s.connectTimeout ?? CONNECT_TIMEOUT_S) * 1000,
  };
}

/** A limit a new flow would pass: the metric's `limit` label. */
export type LimitName = 'udp_sessions_per_service' | 'udp_sessions' | 'tcp_conns' | 'tcp_pending';

/** What the gate tells its owner: a refusal (first of a spell or not), the end of a spell. */
export interface GateSink {
  refused(protocol: 'tcp' | 'udp', svcKey: string, limit: LimitName, bound: number, firstOfSpell: boolean): void;
  recovered(svcKey: string): void;
}

/**
 * Open flows against the bounds. A spell of refusals for a service starts at
 * its first refusal and ends once the load it hit is below 3/4 of the bound,
 * so a flood that frees one slot at a time is one log line, not two per slot.
 */
export class FlowGate {
  /** Open flows; `pending`: TCP connections among them whose real server has not answered yet. */
  readonly open = { tcp: 0, udp: 0, pending: 0 };
  private readonly full = new Map<string, LimitName>();

  constructor(public limits: Limits, private readonly sink: GateSink) {}

  /** May a new flow open (`svcOpen`: UDP sessions of its service)? */
  admit(protocol: 'tcp' | 'udp', svcKey: string, svcOpen: number, reservedTcp = 0): boolean {
    const L = this.limits;
    let limit: LimitName | null = null;
    if (protocol === 'tcp') limit = this.open.tcp + reservedTcp >= L.tcpConns ? 'tcp_conns' : this.open.pending + reservedTcp >= L.tcpPending ? 'tcp_pending' : null;
    else if (svcOpen >= L.udpSessionsPerService) limit = 'udp_sessions_per_service';
    else if (this.open.udp >= L.udpSessions) limit = 'udp_sessions';
    if (limit === null) {
      const hit = this.full.size > 0 ? this.full.get(svcKey) : undefined;
      if (hit !== undefined && this.load(hit, svcOpen) < this.bound(hit) * 0.75) {
        this.full.delete(svcKey);
        this.sink.recovered(svcKey);
      }
      return true;
    }
    const first = !this.full.has(svcKey);
    if (first) this.full.set(svcKey, limit);
    this.sink.refused(protocol, svcKey, limit, this.bound(limit), first);
    return false;
  }

  /**
   * New TCP connections admit() would take one after another now, and whether a service's spell of
   * refusals is on (its end is only seen through admit). The engine's threads decide within that
   * room, counted against it with JS's own admissions (engine.ts), and nothing during a spell.
   */
  tcpRoom(): { room: number; refusing: boolean } {
    const L = this.limits;
    return { room: Math.max(0, Math.min(L.tcpConns - this.open.tcp, L.tcpPending - this.open.pending)), refusing: this.full.size > 0 };
  }

  private bound(limit: LimitName): number {
    const L = this.limits;
    return limit === 'tcp_conns' ? L.tcpConns : limit === 'tcp_pending' ? L.tcpPending : limit === 'udp_sessions' ? L.udpSessions : L.udpSessionsPerService;
  }

  private load(limit: LimitName, svcOpen: number): number {
    return limit === 'tcp_conns' ? this.open.tcp : limit === 'tcp_pending' ? this.open.pending : limit === 'udp_sessions' ? this.open.udp : svcOpen;
  }
}
