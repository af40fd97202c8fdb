// One listener per TCP/UDP virtual service, kept in step with the Director.
// A listener that cannot open (VIP not local, port in use, no permission)
// is reported once with a clear reason and retried on later syncs; the
// other services keep running. Closing a listener stops new connections
// only: established ones go on until they end.
import { createServer, type Server, type Socket } from 'node:net';
import { createSocket, type Socket as Dgram } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { ServiceInfo } from '../../sdk/types.js';
import { svcKeyText } from '../../daemon/settings.js';
import { acceptTcp } from './tcp.js';
import { UdpService } from './udp.js';
import type { Host, ListenerRoom, VirtualService } from './host.js';

interface Entry {
  vs: VirtualService;
  /** This process's server, or the worker processes' listeners (workers.ts: their close resolves once the VIP refuses). */
  tcp?: { close(): unknown };
  udp?: UdpService;
  /** Last error text, reported once per distinct text. */
  error?: string;
  opening?: boolean;
  /** A failed listener is tried again from this time (ms) on. */
  retryAt?: number;
  /** The fds its listener holds or is opening with (Listeners.held). */
  held?: number;
  /** Its last try found no room under the open-files limit: tried again as soon as a listener closes. */
  noRoom?: boolean;
}

/** A named service's listener to open, or (by key) to close: what a -A or -D changes (Listeners.change). */
export type ListenerOp = { open: VirtualService } | { close: string };

/** Failed listeners are retried after this long (a VIP may be added to an interface later). */
const RETRY_MS = 30_000;
/** Listener errors logged one by one per sync; the rest are summed up in one line. */
const ERRORS_LOGGED = 10;

/** "TCP 127.0.0.1:80", "UDP [::1]:53": a service as its listener errors name it. */
function whereOf(vs: VirtualService): string {
  return `${vs.protocol.toUpperCase()} ${isIPv6(vs.address) ? `[${vs.address}]` : vs.address}:${vs.port}`;
}

export function listenError(vs: VirtualService, e: NodeJS.ErrnoException): string {
  const where = whereOf(vs);
  switch (e.code) {
    case 'EADDRNOTAVAIL':
      return `${where}: ${vs.address} is not a local address (EADDRNOTAVAIL); add it to an interface — the service stays configured but receives nothing`;
    case 'EADDRINUSE':
      return `${where}: port ${vs.port} is already in use on ${vs.address} (EADDRINUSE)`;
    case 'EACCES':
      return `${where}: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)`;
    default:
      return `${where}: cannot listen: ${e.message}`;
  }
}

/** A service left without a listener: the listeners hold all the open-files limit allows them. */
export function noRoom(vs: VirtualService, room: ListenerRoom): string {
  const where = whereOf(vs);
  return `${where}: cannot listen: the listeners hold all the open-files limit (${room.limit}) allows them, ` +
    `${room.kept} fds stay free for wasmvsadm, health checks and metrics (EMFILE); raise LimitNOFILE= (systemd) or ulimit -n`;
}

export class Listeners {
  private readonly entries = new Map<string, Entry>();
  /** What listeners may hold of the open-files limit (the host's last word); null: no bound. */
  private room: ListenerRoom | null = null;
  /** Fds the listeners hold or are opening now. */
  private held = 0;

  constructor(private readonly host: Host) {}

  /** Open listeners for new services, close those of deleted ones, retry failed ones. */
  async sync(services: readonly Pick<ServiceInfo, 'fwmark' | 'address' | 'protocol' | 'port'>[]): Promise<void> {
    const wanted = new Map<string, VirtualService>();
    for (const s of services) {
      if (s.fwmark || s.address === null || (s.protocol !== 'tcp' && s.protocol !== 'udp')) continue;
      const key = svcKeyText(s.protocol, s.address, s.port);
      wanted.set(key, { key, protocol: s.protocol, address: s.address, port: s.port });
    }
    const closing: Promise<void>[] = [];
    for (const [key, e] of this.entries) {
      if (!wanted.has(key)) closing.push(this.drop(key, e));
    }
    const batch: Entry[] = [];
    const now = Date.now();
    for (const [key, vs] of wanted) {
      let e = this.entries.get(key);
      if (e === undefined) { e = { vs }; this.entries.set(key, e); }
      if (!e.tcp && !e.udp && !e.opening && (e.retryAt ?? 0) <= now) batch.push(e);
    }
    await Promise.all([this.openAll(batch), ...closing]);
  }

  /**
   * Open a batch of listeners within the room the open-files limit leaves them: the first that
   * would pass it asks the host for room for the whole rest of the batch (a raise of the limit,
   * fdlimit.ts); the ones still past it report why. Then the flow bounds follow the fds held.
   */
  private async openAll(batch: readonly Entry[]): Promise<void> {
    this.room = this.host.listenerRoom?.(this.held, this.held) ?? null;
    let pending = 0;
    for (const e of batch) pending += this.cost(e.vs);
    const opens: Promise<string | null>[] = [];
    let inflight: Promise<unknown>[] = [];
    for (const e of batch) {
      const cost = this.cost(e.vs);
      pending -= cost;
      const room = this.room;
      if (room !== null && this.held + cost > room.fds) {
        // Near the room, the ones still opening settle first: a failed one (a VIP not local) frees its share.
        if (inflight.length) { await Promise.all(inflight); inflight = []; }
        if (this.held + cost > room.fds) this.room = this.host.listenerRoom!(this.held, this.held + cost + pending);
      }
      if (e.tcp || e.udp || e.opening || this.entries.get(e.vs.key) !== e) continue; // opened or deleted meanwhile
      const p = this.open(e);
      opens.push(p);
      inflight.push(p);
    }
    this.report((await Promise.all(opens)).filter((m): m is string => m !== null));
    if (this.room !== null) this.room = this.host.listenerRoom!(this.held, this.held);
  }

  /**
   * The listeners of named services only, in the order given (the last word on a key wins): `open`
   * ones listen (a failed one is tried again now), `close` ones stop. What a -A or -D needs before its
   * answer, without sync's pass over every service.
   */
  async change(ops: readonly ListenerOp[]): Promise<void> {
    const last = new Map<string, VirtualService | null>();
    for (const op of ops) {
      if ('open' in op) last.set(op.open.key, op.open);
      else last.set(op.close, null);
    }
    const batch: Entry[] = [];
    const closing: Promise<void>[] = [];
    for (const [key, vs] of last) {
      let e = this.entries.get(key);
      if (vs === null) {
        if (e !== undefined) closing.push(this.drop(key, e));
        continue;
      }
      if (e === undefined) { e = { vs }; this.entries.set(key, e); }
      if (!e.tcp && !e.udp && !e.opening) batch.push(e);
    }
    await Promise.all([this.openAll(batch), ...closing]);
  }

  /** New listener errors: the first few one per line, the rest as one summary (20,000 foreign VIPs must not flood the log). */
  private report(errors: string[]): void {
    for (const m of errors.slice(0, ERRORS_LOGGED)) this.host.log.error(m);
    if (errors.length > ERRORS_LOGGED) {
      this.host.log.error({ more: errors.length - ERRORS_LOGGED }, `…and ${errors.length - ERRORS_LOGGED} more services cannot listen (see wasmvs_listener_up)`);
    }
  }

  /** True when a failed listener is due for another try. */
  retryDue(now = Date.now()): boolean {
    for (const e of this.entries.values()) if (e.error !== undefined && (e.retryAt ?? 0) <= now) return true;
    return false;
  }

  /** Fds the listeners hold (or are opening with) now. */
  get heldFds(): number { return this.held; }

  /** The fds a listener of this service holds. */
  private cost(vs: VirtualService): number {
    return vs.protocol === 'tcp' ? this.room?.tcp ?? 1 : 1;
  }

  /** Open one listener; resolves with an error text to report (new or changed), else null. */
  private async open(e: Entry): Promise<string | null> {
    let report: string | null = null;
    const cost = this.cost(e.vs);
    if (this.room !== null && this.held + cost > this.room.fds) {
      // Past the room: the last fds stay free for wasmvsadm, health checks and metrics (fdlimit.ts).
      const msg = noRoom(e.vs, this.room);
      if (msg !== e.error) report = msg;
      e.error = msg;
      e.retryAt = Date.now() + RETRY_MS;
      e.noRoom = true;
      return report;
    }
    this.held += cost;
    e.held = cost;
    e.noRoom = false;
    e.opening = true;
    try {
      if (e.vs.protocol === 'tcp') e.tcp = this.host.tcpListen ? await this.host.tcpListen(e.vs) : await this.openTcp(e.vs);
      else e.udp = new UdpService(this.host, e.vs, await this.openUdp(e.vs));
      e.error = undefined;
      e.retryAt = undefined;
      this.host.log.info({ service: e.vs.key }, 'listening');
    } catch (err) {
      this.release(e);
      const msg = listenError(e.vs, err as NodeJS.ErrnoException);
      if (msg !== e.error) report = msg;
      e.error = msg;
      e.retryAt = Date.now() + RETRY_MS;
    } finally {
      e.opening = false;
    }
    // Deleted while opening: close what just opened.
    if (this.entries.get(e.vs.key) !== e) void this.closeEntry(e);
    return report;
  }

  private openTcp(vs: VirtualService): Promise<Server> {
    const server = createServer({ allowHalfOpen: true, noDelay: true }, (sock: Socket) => acceptTcp(this.host, vs, sock));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: vs.address, port: vs.port, backlog: 4096, exclusive: true }, () => {
        server.off('error', reject);
        server.on('error', (err) => this.host.log.error({ service: vs.key }, `listener error: ${err.message}`));
        resolve(server);
      });
    });
  }

  private openUdp(vs: VirtualService): Promise<Dgram> {
    const sock = createSocket({ type: isIPv6(vs.address) ? 'udp6' : 'udp4' });
    return new Promise((resolve, reject) => {
      sock.once('error', (err) => { try { sock.close(); } catch { /* not open */ } reject(err); });
      sock.bind({ address: vs.address, port: vs.port, exclusive: true }, () => {
        sock.removeAllListeners('error');
        sock.on('error', (err) => this.host.log.error({ service: vs.key }, `listener error: ${err.message}`));
        resolve(sock);
      });
    });
  }

  /** A deleted service's listener: closed and forgotten; resolves once it refuses (workers: a moment later). */
  private drop(key: string, e: Entry): Promise<void> {
    const freed = e.held ?? 0;
    const closed = this.closeEntry(e);
    this.entries.delete(key);
    // Its fds are free: the services that found no room try again at the next sync.
    if (freed > 0) for (const o of this.entries.values()) if (o.noRoom) o.retryAt = 0;
    this.host.log.info({ service: key }, 'listener closed');
    return closed;
  }

  private closeEntry(e: Entry): Promise<void> {
    const closed = e.tcp?.close();
    e.udp?.close();
    e.tcp = undefined;
    e.udp = undefined;
    this.release(e);
    return closed instanceof Promise ? closed : Promise.resolve();
  }

  private release(e: Entry): void {
    this.held -= e.held ?? 0;
    e.held = undefined;
  }

  /** service key → listening, for metrics and status. */
  states(): Map<string, boolean> {
    const out = new Map<string, boolean>();
    for (const [k, e] of this.entries) out.set(k, e.tcp !== undefined || e.udp !== undefined);
    return out;
  }

  /** Stop accepting everywhere (shutdown); UDP sessions go too. */
  closeAll(): void {
    for (const e of this.entries.values()) void this.closeEntry(e);
    this.entries.clear();
  }
}
