// `wasmvsd proxy --workers N` (N ≥ 2): N worker processes (node:cluster,
// worker.ts) accept the TCP connections and pump their bytes, every worker
// accepting on the same listening socket (cluster's SCHED_NONE: the kernel
// hands each connection to one of them); this process keeps the one core.
// Every scheduling decision, connection event, threshold and bound is taken
// here, by the one Director, on the whole connection table (central.ts) — a
// central scheduler, so lc/wlc/sed/nq and -x/-y read exactly the counts a single
// process would (docs/proxy.md "Workers"). Per connection that costs one
// round trip over the worker's channel (channel.ts: binary records on a
// socketpair, batched per event-loop turn) before the real server is contacted.
//
// Worker → main (flows named by the worker's sequence number):  R_ACCEPT · R_EVENT connection
//   event · R_TRAFFIC · R_CLOSED closed, with its last traffic · R_GONE client gone before its
//   decision · JSON: f connect failed · L listener result · R ready · Z stopped. Accepts and
//   ESTABLISHED go at the end of the worker's loop turn; the rest within LAZY_MS (worker.ts), or
//   with the next of those.
// Main → worker:  R_DECIDE · R_RESET the client · R_DESTROY a flow · JSON: l listen · u unlisten ·
//   C limits · S stop.
import cluster, { type Worker } from 'node:cluster';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Socket } from 'node:net';
import type { VirtualService } from './host.js';
import type { Limits } from './limits.js';
import { spliceModeOf } from './splice.js';
import { ChannelIn, ChannelOut, CHANNEL_FD, R_JSON, jsonAt } from './channel.js';
import { Central, type Peer, type PoolHost } from './central.js';

export type { PoolHost } from './central.js';

export type Msg = unknown[];
export { parseWorkers } from '../../daemon/workers-option.js';

/** The worker entry: beside this file once built; from vitest (sources), the built one in dist/. */
export function workerEntry(): string {
  for (const rel of ['./worker.js', '../../dist/hosts/proxy/worker.js']) {
    const f = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(f)) return f;
  }
  throw new Error('proxy workers: dist/hosts/proxy/worker.js is missing (npm run build)');
}

/** A worker process: its peer state in the scheduler, its channel and its listeners. */
interface Member extends Peer {
  worker: Worker;
  /** The binary channel to it (channel.ts); `queued`: a write is due at the end of this loop turn. */
  chan: Socket;
  queued: boolean;
  /** Listen requests in flight, per service key, first come first answered. */
  listens: Map<string, ((err: NodeJS.ErrnoException | null) => void)[]>;
  /** Unlistens in flight, per service key: done once the worker says cluster has its close. */
  unlistens: Map<string, (() => void)[]>;
  ready: Promise<void>;
  stopped?: () => void;
}

/** How long stop() waits for a worker to close its flows and exit. */
const STOP_MS = 5_000;
/** How long a listener's close waits for the workers (a worker that does not answer has hung or died). */
const UNLISTEN_MS = 2_000;

/** A listened service as the workers know it: a number names it in their accept records. */
interface Listened { vs: VirtualService; id: number }

export class WorkerPool {
  private members: Member[] = [];
  /** TCP services listened on (their listeners re-open in a replacement worker). */
  private readonly services = new Map<string, Listened>();
  private readonly byId = new Map<number, Listened>();
  private lastId = 0;
  private stopping = false;
  private readonly central: Central;

  constructor(private readonly host: PoolHost, readonly size: number, private readonly tickMs: number) {
    this.central = new Central(host, (id) => this.byId.get(id)?.vs, (m) => this.soon(m as Member));
  }

  async start(): Promise<void> {
    // Each worker accepts on the shared socket itself (no round-robin hand-off through this process).
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    // The channel is the worker's fd 4: a socketpair of its own (cluster's IPC only starts and stops it).
    const stdio = ['inherit', 'inherit', 'inherit', 'ipc', 'pipe'];
    if (stdio.length !== CHANNEL_FD + 1) throw new Error('proxy workers: channel fd mismatch');
    cluster.setupPrimary({ exec: workerEntry(), args: [], serialization: 'json', stdio });
    for (let i = 0; i < this.size; i++) this.members.push(this.fork());
    await Promise.all(this.members.map((m) => m.ready));
    this.host.log.info({ workers: this.size }, 'proxy workers ready (TCP in the workers; scheduling, accounting and UDP here)');
  }

  private fork(): Member {
    const worker = cluster.fork({ WASMVS_PROXY_WORKER: '1' });
    const chan = worker.process.stdio[CHANNEL_FD] as Socket;
    let ready!: () => void;
    const m: Member = {
      worker, flows: new Map(), pend: 0, chan, out: new ChannelOut(chan), queued: false, listens: new Map(), unlistens: new Map(),
      ready: new Promise((r) => { ready = r; }),
    };
    // Unlisten answers come on cluster's IPC, behind cluster's own close of the shared handle.
    worker.on('message', (msg: unknown) => {
      if (!Array.isArray(msg) || msg[0] !== 'U') return;
      const q = m.unlistens.get(msg[1] as string);
      q?.shift()?.();
      if (q?.length === 0) m.unlistens.delete(msg[1] as string);
    });
    const input = new ChannelIn((type, b, at, len) => {
      if (type !== R_JSON) { this.central.record(m, type, b, at); return; }
      const msg = jsonAt(b, at, len);
      if (msg[0] === 'R') { this.post(m, ['C', this.host.limits, this.tickMs, spliceModeOf(this.host.splicer)]); ready(); }
      else this.handle(m, msg);
    });
    chan.on('data', (chunk: Buffer) => input.feed(chunk));
    // A dead worker's end closes: its exit event does the rest.
    chan.on('error', () => {});
    worker.once('exit', (code, signal) => this.exited(m, code, signal));
    return m;
  }

  /** Queue a JSON message to a worker (rare: listeners, limits, stop). */
  post(m: Member, msg: Msg): void {
    m.out.json(msg);
    this.soon(m);
  }

  /** What was queued for a worker goes in one write at the end of this loop turn. */
  private soon(m: Member): void {
    if (m.queued) return;
    m.queued = true;
    setImmediate(() => {
      m.queued = false;
      m.out.flush();
    });
  }

  private broadcast(msg: Msg): void {
    for (const m of this.members) this.post(m, msg);
  }

  configure(limits: Limits): void {
    this.broadcast(['C', limits, this.tickMs, spliceModeOf(this.host.splicer)]);
  }

  /** A worker's JSON message (rare). */
  private handle(m: Member, msg: Msg): void {
    const h = this.host;
    switch (msg[0]) {
      case 'f': h.connectFailed(msg[1] as string, { address: msg[2] as string, port: msg[3] as number }, msg[4] as string); return;
      case 'L': {
        const q = m.listens.get(msg[1] as string);
        const done = q?.shift();
        if (q?.length === 0) m.listens.delete(msg[1] as string);
        if (msg[2] === null) { done?.(null); return; }
        const e: NodeJS.ErrnoException = new Error(msg[3] as string);
        e.code = msg[2] as string;
        done?.(e);
        return;
      }
      case 'Z': m.stopped?.(); return;
    }
  }

  private exited(m: Member, code: number | null, signal: string | null): void {
    this.members = this.members.filter((x) => x !== m);
    const open = m.flows.size;
    for (const q of m.listens.values()) for (const done of q) done(Object.assign(new Error('worker exited'), { code: 'EWORKER' }));
    for (const q of m.unlistens.values()) for (const done of q) done();
    m.unlistens.clear();
    this.central.lostAll(m);
    m.stopped?.();
    if (this.stopping) return;
    this.host.log.error({ code, signal, flows: open }, 'proxy worker died; its connections are gone; starting another');
    const n = this.fork();
    this.members.push(n);
    void n.ready.then(() => {
      for (const l of this.services.values()) this.listenOn(n, l).then((e) => {
        if (e) this.host.log.error({ service: l.vs.key }, `replacement worker cannot listen: ${e.message}`);
      }, () => {});
    });
  }

  private listenOn(m: Member, l: Listened): Promise<NodeJS.ErrnoException | null> {
    return new Promise((resolve) => {
      let q = m.listens.get(l.vs.key);
      if (!q) { q = []; m.listens.set(l.vs.key, q); }
      q.push(resolve);
      this.post(m, ['l', l.vs, l.id]);
    });
  }

  /** A worker lets go of a service's socket; resolves once cluster in this process has its close too (or UNLISTEN_MS). */
  private unlistenOn(m: Member, key: string): Promise<void> {
    return new Promise((resolve) => {
      let q = m.unlistens.get(key);
      if (!q) { q = []; m.unlistens.set(key, q); }
      const timer = setTimeout(resolve, UNLISTEN_MS);
      timer.unref();
      q.push(() => { clearTimeout(timer); resolve(); });
      this.post(m, ['u', key]);
    });
  }

  /**
   * Host.tcpListen: every worker listens on the service (one shared socket); the first error fails it.
   * close() resolves once every worker has let go of it and cluster here closed it: the VIP refuses.
   */
  async listen(vs: VirtualService): Promise<{ close(): Promise<void> }> {
    const l: Listened = { vs, id: ++this.lastId };
    const old = this.services.get(vs.key);
    if (old !== undefined) this.byId.delete(old.id);
    this.services.set(vs.key, l);
    this.byId.set(l.id, l);
    const close = async () => {
      if (this.services.get(vs.key) === l) this.services.delete(vs.key);
      this.byId.delete(l.id);
      await Promise.all(this.members.map((m) => this.unlistenOn(m, vs.key)));
    };
    const errors = (await Promise.all(this.members.map((m) => this.listenOn(m, l)))).filter((e) => e !== null);
    if (errors.length > 0) { void close(); throw errors[0]; }
    return { close };
  }

  /** The worker processes' pids (their open-files limits follow this process's, fdlimit.ts). */
  pids(): number[] {
    return this.members.map((m) => m.worker.process.pid).filter((p): p is number => p !== undefined);
  }

  /** Open flows in the workers (all, for tests and shutdown). */
  flows(): number {
    let n = 0;
    for (const m of this.members) n += m.flows.size;
    return n;
  }

  /** Shutdown: every worker resets what is left, reports it, and exits. */
  async stop(): Promise<void> {
    this.stopping = true;
    const all = [...this.members];
    await Promise.all(all.map((m) => new Promise<void>((resolve) => {
      const timer = setTimeout(() => { m.worker.kill('SIGKILL'); resolve(); }, STOP_MS);
      m.stopped = () => { clearTimeout(timer); resolve(); };
      this.post(m, ['S']);
    })));
    // Stopped workers exit when their channel closes.
    await Promise.all(all.map((m) => new Promise<void>((resolve) => {
      if (m.worker.isDead()) { resolve(); return; }
      const timer = setTimeout(() => { m.worker.kill('SIGKILL'); resolve(); }, STOP_MS);
      m.worker.once('exit', () => { clearTimeout(timer); resolve(); });
      m.chan.end();
      if (m.worker.isConnected()) m.worker.disconnect();
    })));
  }
}
