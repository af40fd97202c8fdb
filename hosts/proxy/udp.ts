// A UDP virtual service. Every datagram from a client goes through the
// connection table as an IPVS packet would (lookup, or schedule a new entry;
// counted; timer re-armed with the UDP timeout). A session = one socket to
// the real server per client flow, kept while the table keeps its entry;
// replies come back from the VIP's socket. One-packet scheduling (-o): each
// datagram is scheduled on its own and its reply socket lives one exchange.
//
// A session socket is connected to its real server, so the kernel hands it
// datagrams from that address and port only: nothing else local can speak
// as the VIP. Sessions are bounded per service and in all (limits.ts): a
// datagram that would need a session past a bound is dropped before the
// table sees it and counted, as IPVS drops what it cannot track.
import { createSocket, type Socket as Dgram, type RemoteInfo } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Endpoint } from '../../sdk/types.js';
import { tracked, type Tracked } from './account.js';
import { proxyHeader, plainAddress } from './proxyproto.js';
import type { Host, Flow, VirtualService } from './host.js';

/** How long a one-packet (-o) exchange waits for a reply, ms. */
const OPS_REPLY_MS = 2000;
/** Datagrams held while a session's connect completes (a few; the rest are dropped, as a full socket buffer would). */
const CONNECTING_QUEUE = 16;

class UdpSession implements Flow {
  readonly protocol = 'udp';
  readonly sock: Dgram;
  readonly t: Tracked;
  private done = false;
  /** Datagrams waiting for the connect (dgram refuses a send without an address until then); null once connected. */
  private waiting: Buffer[] | null = [];
  constructor(private readonly host: Host, readonly svcKey: string, readonly connId: number, readonly destId: number,
    readonly dest: Endpoint, client: Endpoint, vip: Endpoint, method: Tracked['method'], reply: (m: Buffer) => void,
    private readonly gone: (s: UdpSession) => void) {
    this.t = tracked('udp', client, vip, dest, destId, method);
    this.sock = createSocket(isIPv6(dest.address) ? 'udp6' : 'udp4');
    this.sock.on('message', (m) => { host.account.out(this.t, m.length); reply(m); });
    // After connect: ICMP errors from the real server (ECONNREFUSED); the session stays.
    this.sock.on('error', (e: NodeJS.ErrnoException) => host.connectFailed(svcKey, dest, e.code ?? e.message));
    // A failed connect (EMFILE, no route) ends the session.
    this.sock.connect(dest.port, dest.address, (e?: NodeJS.ErrnoException) => {
      if (e !== undefined && e !== null) {
        host.connectFailed(svcKey, dest, e.code ?? e.message);
        this.destroy();
        return;
      }
      const q = this.waiting ?? [];
      this.waiting = null;
      for (const m of q) this.write(m);
    });
    host.opened(this);
  }

  send(m: Buffer): void {
    if (this.done) return;
    const pp = this.host.proxyProtocol(this.svcKey, this.dest);
    const data = pp === 2 ? Buffer.concat([proxyHeader(2, this.t.client, this.t.vip, 'udp'), m]) : m;
    if (this.waiting === null) this.write(data);
    else if (this.waiting.length < CONNECTING_QUEUE) this.waiting.push(data);
  }

  private write(data: Buffer): void {
    if (this.done) return;
    try { this.sock.send(data); } catch { /* closed meanwhile */ }
  }

  destroy(): void {
    if (this.done) return;
    this.done = true;
    try { this.sock.close(); } catch { /* already closed */ }
    this.host.closed(this);
    this.gone(this);
  }
}

export class UdpService {
  private readonly sessions = new Map<string, UdpSession>();
  /** Sessions and one-packet exchanges open now (the per-service bound counts both). */
  private open = 0;

  constructor(private readonly host: Host, readonly vs: VirtualService, readonly sock: Dgram) {
    sock.on('message', (m, r) => this.datagram(m, r));
  }

  private datagram(m: Buffer, r: RemoteInfo): void {
    const client = { address: plainAddress(r.address), port: r.port };
    const vip = { address: this.vs.address, port: this.vs.port };
    const key = `${client.address}|${client.port}`;
    // A flow without a session needs a new socket: refuse before the table schedules (and counts) an entry.
    if (!this.sessions.has(key) && !this.host.admit('udp', this.vs.key, this.open)) return;
    let res;
    try {
      [res] = this.host.director.packet({ protocol: 'udp', direction: 'in', client, virtual: vip, length: m.length });
    } catch (e) {
      this.host.schedulingFailed(this.vs.key, (e as { code?: string }).code ?? 'error');
      return;
    }
    if (!res.ok) { this.host.schedulingFailed(this.vs.key, res.verdict); return; }
    // The service may be deleted (its socket closed) while a session still hears its real server.
    const reply = (b: Buffer) => { try { this.sock.send(b, r.port, r.address); } catch { /* socket closed */ } };
    if (res.id === 0) { this.onePacket(m, client, vip, res.destId, res.address, res.method, reply); return; }
    let s = this.sessions.get(key);
    if (s !== undefined && (s.connId !== res.id || s.destId !== res.destId)) { s.destroy(); s = undefined; }
    if (s === undefined) {
      s = this.session(res.id, res.destId, res.address, client, vip, res.method, reply, key);
    }
    s.send(m);
  }

  private session(connId: number, destId: number, dest: Endpoint, client: Endpoint, vip: Endpoint, method: Tracked['method'],
    reply: (b: Buffer) => void, key?: string): UdpSession {
    this.open++;
    const s = new UdpSession(this.host, this.vs.key, connId, destId, dest, client, vip, method, reply, (gone) => {
      this.open--;
      if (key !== undefined && this.sessions.get(key) === gone) this.sessions.delete(key);
    });
    if (key !== undefined) this.sessions.set(key, s);
    return s;
  }

  private onePacket(m: Buffer, client: Endpoint, vip: Endpoint, destId: number, dest: Endpoint, method: Tracked['method'],
    reply: (b: Buffer) => void): void {
    const s = this.session(0, destId, dest, client, vip, method, (b) => { reply(b); s.destroy(); });
    const timer = setTimeout(() => s.destroy(), OPS_REPLY_MS);
    timer.unref();
    s.sock.once('close', () => clearTimeout(timer));
    s.send(m);
  }

  get size(): number { return this.sessions.size; }

  close(): void {
    for (const s of [...this.sessions.values()]) s.destroy();
    try { this.sock.close(); } catch { /* already closed */ }
  }
}
