// One accepted TCP connection: schedule it through the core (persistence,
// thresholds and the service's scheduler apply), connect to the chosen real
// server, pipe both ways with backpressure, and feed the socket lifecycle to
// the connection table so ActiveConn/InActConn, timeouts and -c mean what
// they mean in IPVS:
//   real server accepted            → established (SYN_RECV → ESTABLISHED, active)
//   client FIN / real server FIN    → client-fin / server-fin (CLOSE_WAIT, FIN_WAIT, TIME_WAIT; inactive)
//   an error or RST on either side  → reset (CLOSE)
//   both sockets gone               → close (TIME_WAIT stays until it expires)
// Bounds: the real server must accept within the connect timeout (else the
// client is reset, as a refusal would); the entry's expiry in the table (idle
// past the state's timeout) resets both sockets (the proxy's tick); past the
// concurrent-connection limit, or past the limit of connections still waiting
// for their real server (tcp-pending), an accepted client is reset before
// scheduling and counted.
import { connect, type Socket } from 'node:net';
import type { ConnEventName } from '../../sdk/conns.js';
import type { Decision, Endpoint } from '../../sdk/types.js';
import { tracked, type Tracked } from './account.js';
import { Pump } from './pump.js';
import { proxyHeader, plainAddress } from './proxyproto.js';
import type { Host, Flow, VirtualService } from './host.js';

/** How many times (1 ms apart) a mid-stream hand-over waits for queued writes to leave. */
const SWITCH_TRIES = 200;


export class TcpFlow implements Flow {
  readonly protocol = 'tcp';
  readonly connId: number;
  readonly destId: number;
  readonly dest: Endpoint;
  /** Its traffic not yet given to the core (a worker process reports it by flow). */
  readonly t: Tracked;
  private readonly upstream: Socket;
  private open = 2;
  private finished = false;
  /** The bytes go to the splice pump once the real server accepts (the JS path when it cannot take them). */
  private readonly native: boolean;
  /** The splice pump's id for this connection once handed over (0: on the JS path). */
  private spliceId = 0;
  /** --splice auto: bytes moved on the JS path so far, and the hand-over under way. */
  private moved = 0;
  private switching = false;
  private connected = false;
  /** Counted as pending (half-open) until the real server answers or the connection ends. */
  private waiting = true;
  /** The connect deadline while the real server has not answered (Node keeps equal timeouts in one list per duration). */
  private connectTimer: NodeJS.Timeout | null = null;
  /** The JS path's two directions: client → real server, real server → client (pump.ts). */
  private readonly up: Pump;
  private readonly down: Pump;

  constructor(private readonly host: Host, readonly svcKey: string, private readonly client: Socket,
    clientEp: Endpoint, vip: Endpoint, private readonly d: Decision) {
    this.connId = d.id;
    this.destId = d.destId;
    this.dest = d.dest;
    this.t = tracked('tcp', clientEp, vip, d.dest, d.destId, d.method);
    const account = host.account, t = this.t;
    // --splice auto: a connection that moves `after` bytes is bulk; it goes to the pump.
    const after = host.splicer?.after ?? Infinity;
    this.up = new Pump((n) => {
      account.in(t, n);
      if ((this.moved += n) >= after) this.switchToSplice();
    });
    this.down = new Pump((n) => {
      account.out(t, n);
      if ((this.moved += n) >= after) this.switchToSplice();
    });
    this.upstream = connect({ host: d.dest.address, port: d.dest.port, allowHalfOpen: true, noDelay: true, onread: this.down.onread() });
    this.up.from = this.down.to = client;
    this.up.to = this.down.from = this.upstream;
    const pp = host.proxyProtocol(svcKey, d.dest);
    const header = pp === undefined ? null : proxyHeader(pp, clientEp, vip);
    this.native = host.splicer != null && host.splicer.after === 0;
    if (this.native) {
      // Native path: nothing is read before the real server accepts; then both sockets go to the pump.
      client.pause();
      this.upstream.pause();
    } else this.jsPumps(header);
    this.wire(header);
    host.opened(this);
  }

  private event(e: ConnEventName): void {
    if (this.d.id === 0) return;
    try {
      this.host.director.connEvent(this.d.id, e);
    } catch {
      // The entry already expired or was flushed (expire_nodest_conn): nothing left to update.
    }
  }

  private wire(header: Buffer | null): void {
    const { client, upstream, host } = this;
    // Half-open until the real server answers or either side goes.
    host.pending(true);
    this.connectTimer = setTimeout(() => this.connectTimedOut(), host.limits.connectTimeoutMs);
    // Listeners with on(), not once(): each of these events fires once per
    // socket, and once() costs a wrapper, a bound function and a removal.
    upstream.on('connect', () => {
      this.connected = true;
      this.answered();
      this.event('established');
      host.connectOk(this.svcKey, this.dest);
      if (this.native && !this.handOver(header)) this.jsPumps(header);
    });
    upstream.on('error', (e: NodeJS.ErrnoException) => this.failed(upstream, e));
    client.on('error', (e: NodeJS.ErrnoException) => this.failed(client, e));
    upstream.on('close', () => { this.answered(); this.gone(); });
    client.on('close', () => this.gone());
  }

  /** The real server answered, or the connection ended before it did. */
  private answered(): void {
    if (!this.waiting) return;
    this.waiting = false;
    if (this.connectTimer !== null) { clearTimeout(this.connectTimer); this.connectTimer = null; }
    this.host.pending(false);
  }

  private failed(which: Socket, e: NodeJS.ErrnoException): void {
    const { client, upstream } = this;
    if (which === upstream && !this.connected) this.host.connectFailed(this.svcKey, this.dest, e.code ?? e.message);
    this.event('reset');
    // Propagate the reset: the peer of a failed side gets an RST, not a clean FIN.
    (which === upstream ? client : upstream).resetAndDestroy();
    which.destroy();
  }

  private gone(): void {
    if (--this.open === 0) this.finish();
  }

  /** The connect deadline passed without an answer from the real server. */
  connectTimedOut(): void {
    const e: NodeJS.ErrnoException = new Error(`no answer within ${this.host.limits.connectTimeoutMs / 1000} s`);
    e.code = 'ETIMEDOUT';
    this.upstream.destroy(e);
  }

  /** The JS path: `header` (PROXY protocol) first, then the client's bytes; both ways with backpressure. */
  private jsPumps(header: Buffer | null): void {
    const { client, upstream } = this;
    if (header !== null) upstream.write(header);
    // Reads into the pumps' buffers (pump.ts); a client that already read
    // something (a worker's, while its decision came) keeps Node's reads,
    // pumped by one 'data' listener with pipe()'s backpressure.
    if (!this.up.use(client)) {
      const up = this.up;
      client.on('data', (c: Buffer) => {
        if (!upstream.write(c)) client.pause();
        up.count(c.length);
      });
      upstream.on('drain', () => { if (!up.held) client.resume(); });
    }
    // A FIN is passed on as a FIN (half-close), after the bytes before it.
    const clientFin = () => { this.event('client-fin'); upstream.end(); };
    // A FIN read before these listeners (a worker's client waiting for its decision): passed on now.
    if (client.readableEnded) clientFin(); else client.on('end', clientFin);
    upstream.on('end', () => { this.event('server-fin'); client.end(); });
    this.up.resume();
    this.down.resume();
  }

  /**
   * The native path (splice.ts): the pump takes both sockets; its events
   * drive the same table events and accounting as the JS path's. False when
   * it cannot (the JS path carries on).
   */
  private handOver(header: Buffer | null): boolean {
    const splicer = this.host.splicer;
    if (!splicer || this.client.destroyed || this.upstream.destroyed) return false;
    const { t, host } = this;
    const id = splicer.handOver(this.client, this.upstream, header, {
      counts: (inBytes, inChunks, outBytes, outChunks) => host.account.add(t, inBytes, inChunks, outBytes, outChunks),
      fin: (dir) => this.event(dir === 'in' ? 'client-fin' : 'server-fin'),
      reset: () => this.event('reset'),
      closed: () => this.finish(),
    });
    if (id === null) return false;
    this.spliceId = id;
    return true;
  }

  /**
   * Mid-stream hand-over (--splice auto): both readers stop, the writes
   * already queued leave (bounded wait), then the pump takes the sockets with
   * whatever Node read meanwhile. A FIN already passed on keeps the connection
   * on the JS path; writes that do not drain in time put the hand-over off.
   */
  private switchToSplice(tries = 0): void {
    const { client, upstream } = this;
    if (tries === 0) {
      if (this.switching) return;
      this.switching = true;
      this.moved = -Infinity;
      this.up.hold();
      this.down.hold();
    }
    if (this.finished || client.destroyed || upstream.destroyed) return;
    const ended = client.readableEnded || upstream.readableEnded || client.writableEnded || upstream.writableEnded;
    if (!ended && client.writableLength === 0 && upstream.writableLength === 0) {
      if (this.handOver(null)) return;
    } else if (!ended && tries < SWITCH_TRIES) {
      setTimeout(() => this.switchToSplice(tries + 1), 1);
      return;
    }
    // Writes that did not drain in time (a slow reader): another try after another `after` bytes.
    if (!ended) this.moved = 0;
    this.switching = false;
    this.up.resume();
    this.down.resume();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.up.release();
    this.down.release();
    this.host.account.close(this.t);
    this.event('close');
    this.host.closed(this);
  }

  destroy(): void {
    this.event('reset');
    if (this.spliceId !== 0) { this.host.splicer?.abort(this.spliceId); return; }
    this.client.resetAndDestroy();
    this.upstream.resetAndDestroy();
  }
}

/**
 * The decision for a client accepted by service `vs` (every TCP path: this
 * process's sockets, the native engine's, a worker's): the flow bounds, then
 * the core's scheduling (persistence, thresholds, the service's scheduler,
 * the table insert). Null: the client is to be reset (counted and logged here).
 */
export function decideTcp(host: Pick<Host, 'admit' | 'director' | 'schedulingFailed'>, vs: VirtualService, client: Endpoint, reserved = 0): Decision | null {
  if (!host.admit('tcp', vs.key, 0, reserved)) return null;
  let reason = 'no-destination';
  try {
    const d = host.director.schedule({ protocol: 'tcp', client, virtual: { address: vs.address, port: vs.port } });
    if (d !== null) return d;
  } catch (e) {
    reason = (e as { code?: string }).code ?? 'error';
  }
  // IPVS answers with ICMP unreachable; a proxy that already accepted can only reset.
  host.schedulingFailed(vs.key, reason);
  return null;
}

/** Handle one accepted socket of service `vs`. */
export function acceptTcp(host: Host, vs: VirtualService, sock: Socket): void {
  const address = sock.remoteAddress, port = sock.remotePort;
  if (address === undefined || port === undefined) { sock.destroy(); return; }
  const client = { address: plainAddress(address), port };
  const d = decideTcp(host, vs, client);
  if (d === null) {
    sock.on('error', () => {});
    sock.resetAndDestroy();
    return;
  }
  new TcpFlow(host, vs.key, sock, client, { address: vs.address, port: vs.port }, d);
}
