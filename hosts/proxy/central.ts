// The central scheduler of `wasmvsd proxy --workers N` (workers.ts): the
// records a worker sends about its connections (channel.ts) applied to the
// one core in this process, in the order a single process would apply them
// (admission, the decision, connection events, traffic, the close), so
// lc/wlc/sed/nq, persistence and the -x/-y thresholds read exactly the
// counts one process would. Each worker is a Peer: its flows by the worker's
// sequence number, and its queue of records back.
import type { Director } from '../../sdk/director.js';
import type { ConnEventName } from '../../sdk/conns.js';
import type { Decision, Endpoint } from '../../sdk/types.js';
import { tracked, type Accounting, type Tracked } from './account.js';
import type { Flow, Host, VirtualService } from './host.js';
import type { Splicer } from './splice.js';
import { decideTcp } from './tcp.js';
import {
  ChannelOut, EVENT_NAMES, METHOD_CODE, R_ACCEPT, R_CLOSED, R_DECIDE, R_DESTROY, R_EVENT, R_GONE, R_RESET, R_TRAFFIC, asciiAt,
} from './channel.js';

/** What the pool needs from the proxy around it (ProxyDataPath): the flows' Host, with the whole core and accounting. */
export interface PoolHost extends Pick<Host, 'log' | 'limits' | 'admit' | 'proxyProtocol' | 'schedulingFailed' |
  'connectFailed' | 'connectOk' | 'pending' | 'opened' | 'closed'> {
  readonly director: Director;
  readonly account: Accounting;
  /** Loaded in this process: the workers load theirs (else they use the JS path). */
  readonly splicer: Splicer | null;
}

/** One worker as the scheduler sees it. */
export interface Peer {
  flows: Map<number, RemoteFlow>;
  /** Its flows still waiting for their real server (counted here at scheduling). */
  pend: number;
  /** Records to it, written at the end of this loop turn (Central's `soon`). */
  out: ChannelOut;
}

/** A flow whose sockets live in a worker: its entry, accounting and bounds live here. */
export class RemoteFlow implements Flow {
  readonly protocol = 'tcp';
  readonly connId: number;
  readonly destId: number;
  readonly dest: Endpoint;
  readonly t: Tracked;
  /** Counted in tcp-pending until its real server answers or it ends. */
  waiting = true;
  constructor(private readonly central: Central, readonly w: Peer, readonly seq: number, readonly svcKey: string,
    d: Decision, client: Endpoint, vip: Endpoint) {
    this.connId = d.id;
    this.destId = d.destId;
    this.dest = d.dest;
    this.t = tracked('tcp', client, vip, d.dest, d.destId, d.method);
  }
  destroy(): void { this.central.seqRecord(this.w, R_DESTROY, this.seq); }
}

export class Central {
  /**
   * `service`: a listened service by the number the workers know it by;
   * `soon`: have a peer's queued records written at the end of this loop turn.
   */
  constructor(private readonly host: PoolHost, private readonly service: (id: number) => VirtualService | undefined,
    private readonly soon: (p: Peer) => void) {}

  /** A record naming one flow (reset, destroy). */
  seqRecord(m: Peer, type: number, seq: number): void {
    m.out.begin(type, 8).f64(seq).end();
    this.soon(m);
  }

  /** A worker's binary record (channel.ts). */
  record(m: Peer, type: number, b: Buffer, at: number): void {
    const h = this.host;
    const seq = b.readDoubleLE(at);
    switch (type) {
      case R_ACCEPT: return this.accepted(m, seq, b.readUInt32LE(at + 8), asciiAt(b, at + 14), b.readUInt16LE(at + 12));
      case R_EVENT: {
        const f = m.flows.get(seq);
        if (f === undefined) return;
        const e = EVENT_NAMES[b[at + 8]];
        this.answered(m, f);
        this.event(f, e);
        if (e === 'established') h.connectOk(f.svcKey, f.dest);
        return;
      }
      case R_TRAFFIC: {
        const f = m.flows.get(seq);
        if (f !== undefined) h.account.add(f.t, b.readDoubleLE(at + 8), b.readDoubleLE(at + 16), b.readDoubleLE(at + 24), b.readDoubleLE(at + 32));
        return;
      }
      case R_CLOSED: {
        // Both sockets are gone: the last traffic, the entry's close, the flow's end (TcpFlow.finish's order).
        const f = m.flows.get(seq);
        if (f === undefined) return;
        this.answered(m, f);
        h.account.add(f.t, b.readDoubleLE(at + 8), b.readDoubleLE(at + 16), b.readDoubleLE(at + 24), b.readDoubleLE(at + 32));
        h.account.close(f.t);
        this.event(f, 'close');
        m.flows.delete(f.seq);
        h.closed(f);
        return;
      }
      case R_GONE: {
        const f = m.flows.get(seq);
        if (f !== undefined) { this.answered(m, f); this.lost(m, f); }
        return;
      }
    }
  }

  /** A worker accepted a client: admission, scheduling and the flow's entry here, as acceptTcp does in one process. */
  private accepted(m: Peer, seq: number, svcId: number, address: string, port: number): void {
    const h = this.host;
    const vs = this.service(svcId);
    const client = { address, port };
    const d = vs === undefined ? null : decideTcp(h, vs, client);
    if (vs === undefined || d === null) { this.seqRecord(m, R_RESET, seq); return; }
    const key = vs.key;
    const vip = { address: vs.address, port: vs.port };
    const f = new RemoteFlow(this, m, seq, key, d, client, vip);
    m.flows.set(seq, f);
    // Waiting for its real server from now on: the tcp-pending bound counts it before the next decision.
    m.pend++;
    h.pending(true);
    h.opened(f);
    m.out.begin(R_DECIDE, 28).f64(seq).f64(d.id).f64(d.destId).u16(d.dest.port).u8(METHOD_CODE[d.method])
      .u8(h.proxyProtocol(key, d.dest) ?? 0).ascii(d.dest.address).end();
    this.soon(m);
  }

  private event(f: RemoteFlow, e: ConnEventName): void {
    if (f.connId === 0) return;
    try { this.host.director.connEvent(f.connId, e); } catch { /* the entry expired or was flushed */ }
  }

  /** Its real server answered, or the flow ended: no longer counted against tcp-pending. */
  private answered(m: Peer, f: RemoteFlow): void {
    if (!f.waiting) return;
    f.waiting = false;
    m.pend--;
    this.host.pending(false);
  }

  /** A flow whose sockets are gone without the worker's lifecycle (client gone early, worker died): reset and close it. */
  lost(m: Peer, f: RemoteFlow): void {
    const h = this.host;
    m.flows.delete(f.seq);
    this.answered(m, f);
    this.event(f, 'reset');
    this.event(f, 'close');
    h.account.close(f.t);
    h.closed(f);
  }

  /** The worker is gone, and its flows' sockets with it. */
  lostAll(m: Peer): void {
    for (const f of [...m.flows.values()]) this.lost(m, f);
  }
}
