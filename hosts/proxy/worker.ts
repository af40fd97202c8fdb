// One worker process of `wasmvsd proxy --workers N` (started by workers.ts
// through node:cluster). It accepts TCP connections on the services' shared
// listening sockets and pumps their bytes with the same TcpFlow as the
// single-process proxy; everything IPVS decides — admission, the scheduler,
// the connection table, thresholds, timeouts — stays in the main process,
// which owns the one core: each accepted client waits for its decision, each
// connection event and each tick's traffic goes back as a record on the
// binary channel (channel.ts; batched per event-loop turn). No core is loaded here.
import { createServer, Socket, type Server } from 'node:net';
import type { ConnEventName } from '../../sdk/conns.js';
import type { Decision, Endpoint } from '../../sdk/types.js';
import type { FlowAccounting, Tracked } from './account.js';
import type { Host, Flow, VirtualService } from './host.js';
import { resolveLimits, type Limits } from './limits.js';
import { createLogger } from '../../daemon/logger.js';
import { plainAddress } from './proxyproto.js';
import { loadSplicer, type Splicer, type SpliceMode } from './splice.js';
import { TcpFlow } from './tcp.js';
import type { Msg } from './workers.js';
import {
  ChannelIn, ChannelOut, CHANNEL_FD, EVENT_CODE, METHODS, R_ACCEPT, R_CLOSED, R_DECIDE, R_DESTROY, R_EVENT, R_GONE, R_JSON,
  R_RESET, R_TRAFFIC, asciiAt, jsonAt,
} from './channel.js';

const noop = () => {};
/**
 * Messages that are not urgent wait this long for company: every send is a
 * write to the IPC pipe and a wake-up of the main process, the largest cost
 * per connection in a worker. Accepts (a client waits for its decision) and
 * ESTABLISHED (lc/wlc/sed/nq weigh it) go at the end of the loop turn.
 */
const LAZY_MS = 2;
const chan = new Socket({ fd: CHANNEL_FD, readable: true, writable: true });
const out = new ChannelOut(chan);
let soon = false;
let later: NodeJS.Timeout | null = null;

/** A JSON message (rare: listener results, connect failures, ready, stopped). */
function send(m: Msg, urgent = false): void {
  out.json(m);
  queued(urgent);
}

/** A record was written: it goes at the end of this loop turn (urgent) or within LAZY_MS. */
function queued(urgent: boolean): void {
  if (urgent) {
    if (!soon) { soon = true; setImmediate(flush); }
  } else if (!soon && later === null) {
    later = setTimeout(flush, LAZY_MS);
  }
}

function flush(): void {
  soon = false;
  if (later !== null) { clearTimeout(later); later = null; }
  out.flush();
}

/** A record naming one flow and its traffic (R_CLOSED, R_TRAFFIC). */
function traffic(type: number, seq: number, inBytes: number, inChunks: number, outBytes: number, outChunks: number): void {
  out.begin(type, 40).f64(seq).f64(inBytes).f64(inChunks).f64(outBytes).f64(outChunks).end();
  queued(false);
}

const notHere = (): never => { throw new Error('scheduling happens in the main process'); };

interface Waiting { sock: Socket; key: string; client: Endpoint; vip: Endpoint }

class WorkerHost implements Host, FlowAccounting {
  readonly log = createLogger();
  limits: Limits = resolveLimits({}, 1 << 20);
  readonly account = this;
  readonly director = {
    schedule: notHere,
    packet: notHere,
    destById: notHere,
    decisionFor: notHere,
    // A flow's decision carries the worker's sequence number as its id (decided()): events name the flow.
    // Its close goes with its last traffic (closed()).
    connEvent: (seq: number, e: ConnEventName) => {
      if (e !== 'close') { out.begin(R_EVENT, 9).f64(seq).u8(EVENT_CODE[e]).end(); queued(e === 'established'); }
      return 0 as never;
    },
  };
  private seq = 0;
  private readonly waiting = new Map<number, Waiting>();
  /** Services listened on, by the number the main process gave them (accept records carry it). */
  private readonly ids = new Map<string, number>();
  private readonly flows = new Map<number, TcpFlow>();
  private readonly seqOf = new Map<Flow | Tracked, number>();
  /** Traffic of flows whose sockets are gone, sent with their close. */
  private readonly last = new Map<number, number[]>();
  private readonly traffic = new Set<Tracked>();
  private readonly servers = new Map<string, Server>();
  /** The flow being constructed: its sequence number and PROXY protocol version. */
  private current = 0;
  private pp: 1 | 2 | undefined;
  private ticker: NodeJS.Timeout | null = null;

  /** The worker's own splice pump, in the mode the main process resolved (on: its addon loaded). */
  splicer: Splicer | null | undefined = undefined;

  configure(limits: Limits, tickMs: number, splice: SpliceMode): void {
    this.limits = limits;
    if (this.splicer === undefined) this.splicer = loadSplicer(splice, this.log);
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = setInterval(() => this.report(), tickMs);
    this.ticker.unref();
  }

  // --- listeners ---------------------------------------------------------------------

  listen(vs: VirtualService, id: number): void {
    this.ids.set(vs.key, id);
    const reply = (e: NodeJS.ErrnoException | null) => send(['L', vs.key, e ? (e.code ?? 'ERROR') : null, e?.message ?? null], true);
    if (this.servers.has(vs.key)) { reply(null); return; }
    const server = createServer({ allowHalfOpen: true, noDelay: true }, (sock) => this.accept(vs, sock));
    server.once('error', reply);
    // Not exclusive: cluster shares the main process's socket among the workers.
    server.listen({ host: vs.address, port: vs.port, backlog: 4096, exclusive: false }, () => {
      server.off('error', reply);
      server.on('error', (err) => this.log.error({ service: vs.key }, `listener error: ${err.message}`));
      this.servers.set(vs.key, server);
      reply(null);
    });
  }

  unlisten(key: string): void {
    this.ids.delete(key);
    this.servers.get(key)?.close();
    this.servers.delete(key);
  }

  private accept(vs: VirtualService, sock: Socket): void {
    const address = sock.remoteAddress, port = sock.remotePort;
    const id = this.ids.get(vs.key);
    if (address === undefined || port === undefined || id === undefined) { sock.destroy(); return; }
    // Until the decision comes the socket only buffers; an error meanwhile is seen as `destroyed`.
    sock.on('error', noop);
    const seq = ++this.seq;
    const client = { address: plainAddress(address), port };
    this.waiting.set(seq, { sock, key: vs.key, client, vip: { address: vs.address, port: vs.port } });
    out.begin(R_ACCEPT, 14).f64(seq).u32(id).u16(port).ascii(client.address).end();
    queued(true);
  }

  decided(seq: number, d: Decision | null, pp: number): void {
    const w = this.waiting.get(seq);
    if (w === undefined) return;
    this.waiting.delete(seq);
    if (d === null) { w.sock.resetAndDestroy(); return; }
    if (w.sock.destroyed) { out.begin(R_GONE, 8).f64(seq).end(); queued(false); return; }
    w.sock.off('error', noop);
    this.current = seq;
    this.pp = pp === 1 || pp === 2 ? pp : undefined;
    // The flow's id here is its sequence number: its events name it (the main process holds the entry's id).
    new TcpFlow(this, w.key, w.sock, w.client, w.vip, { ...d, id: seq });
  }

  kill(seq: number): void {
    this.flows.get(seq)?.destroy();
  }

  // --- Host ------------------------------------------------------------------------

  admit(): boolean { return true; /* decided in the main process before the flow exists */ }
  proxyProtocol(): 1 | 2 | undefined { return this.pp; }
  schedulingFailed(): void { /* the main process counts it */ }
  connectFailed(svcKey: string, dest: Endpoint, reason: string): void { send(['f', svcKey, dest.address, dest.port, reason]); }
  /** The main process sees ESTABLISHED: it ends a failing spell there. */
  connectOk(): void { /* nothing to send */ }
  /** The main process counts the wait from its decision to the flow's ESTABLISHED, reset or close. */
  pending(): void { /* nothing to send */ }

  opened(flow: Flow): void {
    const f = flow as TcpFlow;
    this.flows.set(this.current, f);
    this.seqOf.set(f, this.current);
    this.seqOf.set(f.t, this.current);
  }

  closed(flow: Flow): void {
    const seq = this.seqOf.get(flow);
    if (seq === undefined) return;
    this.seqOf.delete(flow);
    this.flows.delete(seq);
    const l = this.last.get(seq);
    if (l === undefined) traffic(R_CLOSED, seq, 0, 0, 0, 0);
    else { this.last.delete(seq); traffic(R_CLOSED, seq, l[0], l[1], l[2], l[3]); }
  }

  // --- FlowAccounting: traffic goes to the main process once per tick, and at close -----

  in(t: Tracked, bytes: number): void {
    t.inBytes += bytes;
    t.inChunks++;
    if (!t.queued) { t.queued = true; this.traffic.add(t); }
  }

  out(t: Tracked, bytes: number): void {
    t.outBytes += bytes;
    t.outChunks++;
    if (!t.queued) { t.queued = true; this.traffic.add(t); }
  }

  add(t: Tracked, inBytes: number, inChunks: number, outBytes: number, outChunks: number): void {
    t.inBytes += inBytes; t.inChunks += inChunks;
    t.outBytes += outBytes; t.outChunks += outChunks;
    if (!t.queued && (inChunks > 0 || outChunks > 0)) { t.queued = true; this.traffic.add(t); }
  }

  close(t: Tracked): void {
    const seq = this.seqOf.get(t);
    this.seqOf.delete(t);
    this.traffic.delete(t);
    t.queued = false;
    if (seq !== undefined) this.last.set(seq, [t.inBytes, t.inChunks, t.outBytes, t.outChunks]);
    t.inBytes = t.inChunks = t.outBytes = t.outChunks = 0;
  }

  private report(): void {
    for (const t of this.traffic) {
      t.queued = false;
      const seq = this.seqOf.get(t);
      if (seq !== undefined) traffic(R_TRAFFIC, seq, t.inBytes, t.inChunks, t.outBytes, t.outChunks);
      t.inBytes = t.inChunks = t.outBytes = t.outChunks = 0;
    }
    this.traffic.clear();
  }

  /** Shutdown: stop accepting, reset every flow, report them, then say so. */
  async stop(): Promise<void> {
    for (const k of [...this.servers.keys()]) this.unlisten(k);
    for (const w of this.waiting.values()) w.sock.resetAndDestroy();
    this.waiting.clear();
    for (const f of [...this.flows.values()]) f.destroy();
    // Their sockets close on the next turns of the loop; bounded.
    for (let i = 0; i < 100 && this.flows.size > 0; i++) await new Promise((r) => setTimeout(r, 20));
    this.report();
    this.splicer?.close();
    this.splicer = null;
    send(['Z'], true);
  }
}

const host = new WorkerHost();

const input = new ChannelIn((type, b, at, len) => {
  switch (type) {
    case R_DECIDE: {
      const d: Decision = {
        id: b.readDoubleLE(at + 8), destId: b.readDoubleLE(at + 16),
        dest: { address: asciiAt(b, at + 28), port: b.readUInt16LE(at + 24) }, method: METHODS[b[at + 26]],
      };
      host.decided(b.readDoubleLE(at), d, b[at + 27]);
      return;
    }
    case R_RESET: host.decided(b.readDoubleLE(at), null, 0); return;
    case R_DESTROY: host.kill(b.readDoubleLE(at)); return;
    case R_JSON: {
      const m = jsonAt(b, at, len);
      switch (m[0]) {
        case 'l': host.listen(m[1] as VirtualService, m[2] as number); break;
        case 'u':
          host.unlisten(m[1] as string);
          // On cluster's own IPC, after the shared handle's close it sent: once the main process
          // reads this, cluster there has let go of the worker's share of the socket too.
          process.send?.(['U', m[1]]);
          break;
        case 'C': host.configure(m[1] as Limits, m[2] as number, m[3] as SpliceMode); break;
        case 'S': void host.stop(); break;
      }
    }
  }
});
chan.on('data', (chunk: Buffer) => input.feed(chunk));
// The main process's end closed: it is gone, or let us go (below).
chan.on('error', () => {});
// The main process is gone (or let us go): nothing may outlive it.
process.on('disconnect', () => process.exit(0));
send(['R'], true);
