// wasmvsd --sync-listen/--sync-peers/--sync-key: connection sync between
// directors (docs/many-directors.md). Each director keeps one TCP connection
// with each peer; both ends first send a hello with a fresh random nonce,
// then a bulk snapshot of their table, a snapshot-end mark, and from then on
// batches of changed entries (new, state or real server changed, refreshed,
// ended). Every frame after the hello carries HMAC-SHA256(key, receiver's
// nonce ‖ kind ‖ seq ‖ payload) and a sequence number that must be the
// previous one plus one: a frame with a wrong key, altered, replayed (within
// the connection or into another: the nonce differs) or out of order is
// refused, counted, and the connection dropped.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Director } from '../sdk/director.js';
import type { EtcdPeers } from './sync-etcd.js';
import { syncPages, importEntry, encodeEntries, decodeEntries, entryKey, entrySize, type SyncEntry } from '../sdk/sync.js';

export const KIND_HELLO = 0;
export const KIND_BATCH = 1;
export const KIND_SNAPSHOT_END = 2;
const MAC = 32;
const HEAD = 4 + 1 + 8;
const MAX_FRAME = 1 << 20;
/** Entries per batch: a batch stays well under MAX_FRAME with IPv6 entries (61 bytes). */
const BATCH_BYTES = 64 * 1024;

export interface HostPort { host: string; port: number }

export interface SyncOptions {
  director: Director;
  key: Buffer;
  name: string;
  listen?: HostPort;
  peers: HostPort[];
  log(m: string): void;
  /** Milliseconds between scans of the table for changes (default 200). */
  interval?: number;
}

export interface SyncStats {
  batchesSent: number; entriesSent: number; bytesSent: number;
  batchesReceived: number; entriesImported: number; entriesRemoved: number;
  /** Frames refused: bad MAC (wrong key, altered, replayed) or out of sequence. */
  refused: number;
  /** Entries whose service or real server this director does not have. */
  importRefused: number;
  snapshotsReceived: number;
  /** Entries a peer sent that this director's traffic owns (kept as they are here). */
  keptLocal: number;
}

/** HOST:PORT (IPv6 in brackets); throws a clear error otherwise. */
export function parseHostPort(text: string, what: string): HostPort {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:[\]]+):(\d+)$/.exec(text);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new Error(`${what} ${text}: expected HOST:PORT`);
  return { host: m[1], port: Number(m[2]) };
}

/** Frame one message: length, kind, seq, payload, MAC over the receiver's nonce. */
export function frame(kind: number, seq: bigint, payload: Buffer, key: Buffer | null, peerNonce: Buffer | null): Buffer {
  const mac = key && peerNonce ? MAC : 0;
  const b = Buffer.alloc(HEAD + payload.length + mac);
  b.writeUInt32BE(b.length - 4, 0);
  b[4] = kind;
  b.writeBigUInt64BE(seq, 5);
  payload.copy(b, HEAD);
  if (mac) macOf(key!, peerNonce!, b.subarray(4, HEAD + payload.length)).copy(b, HEAD + payload.length);
  return b;
}

function macOf(key: Buffer, nonce: Buffer, body: Buffer): Buffer {
  return createHmac('sha256', key).update(nonce).update(body).digest();
}

interface Peer {
  sock: Socket;
  label: string;
  myNonce: Buffer;
  peerNonce: Buffer | null;
  sendSeq: bigint;
  recvSeq: bigint;
  live: boolean;
  buf: Buffer;
  /** HOST:PORT this end dialled (null: the peer dialled us). */
  dialed: string | null;
  /** Its snapshot-end mark arrived. */
  snapshotDone: boolean;
}

/** What was last sent or imported for one local entry (by the core's id). */
interface Known { abs: number; fromPeer: boolean; e: SyncEntry; gen: number; key: string | null }

export class ConnSync {
  readonly stats: SyncStats = {
    batchesSent: 0, entriesSent: 0, bytesSent: 0, batchesReceived: 0, entriesImported: 0, entriesRemoved: 0,
    refused: 0, importRefused: 0, snapshotsReceived: 0, keptLocal: 0,
  };
  private server: Server | null = null;
  private readonly peers = new Set<Peer>();
  private readonly dialing = new Map<string, Peer | null>();
  private readonly wanted = new Set<string>();
  private readonly known = new Map<number, Known>();
  /** Keys of the entries this director's own traffic made or changed last. */
  private readonly owned = new Set<string>();
  private gen = 0;
  private snapshots = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readyResolve: (() => void) | null = null;
  private readonly readyPromise: Promise<void>;
  /** The peers known at start whose snapshot (or failure) readiness still waits for. */
  private readonly awaited = new Set<string>();

  constructor(private readonly o: SyncOptions) {
    if (o.key.length < 16) throw new Error('--sync-key: the key must be at least 16 bytes');
    this.readyPromise = new Promise((r) => { this.readyResolve = r; });
  }

  async start(): Promise<void> {
    if (this.o.listen) {
      const srv = createServer((s) => this.attach(s, `${s.remoteAddress}:${s.remotePort}`));
      this.server = srv;
      await new Promise<void>((res, rej) => {
        srv.once('error', rej);
        srv.listen(this.o.listen!.port, this.o.listen!.host, () => { srv.off('error', rej); res(); });
      }).catch((e: NodeJS.ErrnoException) => { throw new Error(`--sync-listen ${this.o.listen!.host}:${this.o.listen!.port}: ${e.code ?? e.message}`); });
    }
    for (const p of this.o.peers) this.awaited.add(`${p.host}:${p.port}`);
    for (const p of this.o.peers) this.addPeer(p);
    this.schedule(this.o.interval ?? 200);
  }

  /**
   * The next scan: `interval` after this one, or 4 times as long as this one
   * took (a big table is scanned at most a fifth of the time).
   */
  private schedule(ms: number): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      const t = performance.now();
      // Not while a snapshot is going out: the scan after it finds what changed meanwhile.
      if (this.snapshots === 0) this.scan();
      this.schedule(Math.max(this.o.interval ?? 200, 4 * (performance.now() - t)));
    }, ms);
    this.timer.unref();
  }

  /**
   * Resolves true once every peer known at start has sent its whole table
   * or could not be reached (refused the connection, closed it, failed the
   * authentication) and at least one table was imported: the union of the
   * peers' tables, not just the first one to arrive. Resolves false after
   * `waitMs` when no table came (the first director of a site has nobody
   * to ask); with some tables but a peer still silent, true at `waitMs`.
   */
  async ready(waitMs: number): Promise<boolean> {
    if (this.o.peers.length === 0) return true;
    let t: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((r) => { t = setTimeout(() => r(false), waitMs); });
    const got = await Promise.race([this.readyPromise.then(() => true), timeout]);
    clearTimeout(t);
    if (!got && this.stats.snapshotsReceived > 0) {
      this.o.log(`sync: ${[...this.awaited].join(', ')} sent no snapshot within ${waitMs / 1000} s: serving with the ${this.stats.snapshotsReceived} that came`);
      return true;
    }
    return got;
  }

  /** Dial a peer (again) until dropPeer: from the etcd membership. */
  addPeer(hp: HostPort): void {
    const label = `${hp.host}:${hp.port}`;
    this.wanted.add(label);
    this.dial(hp);
  }

  /** Stop redialling a peer that left (its open connection ends with it). */
  dropPeer(hp: HostPort): void {
    this.wanted.delete(`${hp.host}:${hp.port}`);
  }

  private dial(hp: HostPort): void {
    const label = `${hp.host}:${hp.port}`;
    if (this.closed || this.dialing.get(label) || !this.wanted.has(label)) return;
    const s = connect(hp.port, hp.host);
    const peer = this.attach(s, label);
    peer.dialed = label;
    this.dialing.set(label, peer);
    s.on('close', () => {
      this.dialing.set(label, null);
      // Unreachable, or gone before its whole table came: readiness does not wait for it.
      if (!peer.snapshotDone) this.settled(label);
      if (!this.closed) setTimeout(() => this.dial(hp), 1000).unref();
    });
  }

  private attach(s: Socket, label: string): Peer {
    const peer: Peer = { sock: s, label, myNonce: randomBytes(16), peerNonce: null, sendSeq: 0n, recvSeq: 0n, live: false, buf: Buffer.alloc(0),
      dialed: null, snapshotDone: false };
    this.peers.add(peer);
    s.setNoDelay(true);
    s.on('error', () => { /* close follows */ });
    s.on('close', () => this.peers.delete(peer));
    s.on('data', (d: Buffer) => this.onData(peer, d));
    const hello = Buffer.concat([peer.myNonce, Buffer.from(this.o.name)]);
    if (s.connecting) s.once('connect', () => s.write(frame(KIND_HELLO, 0n, hello, null, null)));
    else s.write(frame(KIND_HELLO, 0n, hello, null, null));
    return peer;
  }

  private refuse(peer: Peer, why: string): void {
    this.stats.refused++;
    this.o.log(`sync: frame from ${peer.label} refused (${why}); ${this.stats.refused} refused so far`);
    peer.sock.destroy();
  }

  private onData(peer: Peer, d: Buffer): void {
    peer.buf = peer.buf.length ? Buffer.concat([peer.buf, d]) : d;
    while (peer.buf.length >= 4 && !peer.sock.destroyed) {
      const len = peer.buf.readUInt32BE(0);
      if (len < HEAD - 4 || len > MAX_FRAME) { this.refuse(peer, `bad length ${len}`); return; }
      if (peer.buf.length < 4 + len) return;
      const f = peer.buf.subarray(0, 4 + len);
      peer.buf = peer.buf.subarray(4 + len);
      this.onFrame(peer, f);
    }
  }

  private onFrame(peer: Peer, f: Buffer): void {
    const kind = f[4];
    const seq = f.readBigUInt64BE(5);
    if (kind === KIND_HELLO) {
      if (peer.peerNonce !== null || f.length < HEAD + 16) { this.refuse(peer, 'unexpected hello'); return; }
      peer.peerNonce = Buffer.from(f.subarray(HEAD, HEAD + 16));
      peer.label = `${f.subarray(HEAD + 16).toString('utf8') || '?'} (${peer.label})`;
      void this.sendSnapshot(peer);
      return;
    }
    if (peer.peerNonce === null) { this.refuse(peer, 'no hello'); return; }
    if (f.length < HEAD + MAC) { this.refuse(peer, 'short frame'); return; }
    const body = f.subarray(4, f.length - MAC);
    const mac = f.subarray(f.length - MAC);
    if (!timingSafeEqual(mac, macOf(this.o.key, peer.myNonce, body))) { this.refuse(peer, 'bad MAC: wrong key or altered'); return; }
    if (seq !== peer.recvSeq + 1n) { this.refuse(peer, `sequence ${seq} after ${peer.recvSeq}: replayed or reordered`); return; }
    peer.recvSeq = seq;
    if (kind === KIND_SNAPSHOT_END) {
      this.stats.snapshotsReceived++;
      peer.snapshotDone = true;
      this.o.log(`sync: snapshot from ${peer.label} imported (${this.o.director.connectionCount()} entries here)`);
      this.settled(peer.dialed);
      return;
    }
    if (kind !== KIND_BATCH) { this.refuse(peer, `unknown kind ${kind}`); return; }
    let list: SyncEntry[];
    try { list = decodeEntries(Buffer.from(f.subarray(HEAD, f.length - MAC))); } catch (e) { this.refuse(peer, (e as Error).message); return; }
    this.stats.batchesReceived++;
    const now = this.o.director.now();
    for (const e of list) {
      // An entry this director's own traffic made or changed is its own: a
      // peer's copy (a snapshot echoing it back, an older change) is older.
      if (this.owned.size !== 0 && this.owned.has(entryKey(e))) { this.stats.keptLocal++; continue; }
      const r = importEntry(this.o.director, e, now);
      if (r.outcome === 'imported') {
        this.stats.entriesImported++;
        this.known.set(r.id, { abs: now + e.expires, fromPeer: true, e, gen: this.gen, key: null });
      } else if (r.outcome === 'removed' || r.outcome === 'no-entry') {
        // Its id leaves `known` at the next scan, silently (it was a peer's).
        if (r.outcome === 'removed') this.stats.entriesRemoved++;
      } else {
        this.stats.importRefused++;
      }
    }
  }

  /** A peer known at start answered with its table or failed; ready once none is awaited and a table came. */
  private settled(label: string | null): void {
    if (label !== null) this.awaited.delete(label);
    if (this.awaited.size === 0 && this.stats.snapshotsReceived > 0) this.readyResolve?.();
  }

  private send(peer: Peer, kind: number, payload: Buffer): void {
    peer.sendSeq++;
    const b = frame(kind, peer.sendSeq, payload, this.o.key, peer.peerNonce);
    this.stats.bytesSent += b.length;
    peer.sock.write(b);
  }

  private sendBatches(peer: Peer, list: SyncEntry[]): void {
    let from = 0, bytes = 0;
    for (let i = 0; i <= list.length; i++) {
      if (i === list.length || bytes + entrySize(list[i]) > BATCH_BYTES) {
        if (i > from) {
          this.send(peer, KIND_BATCH, encodeEntries(list.slice(from, i)));
          this.stats.batchesSent++;
          this.stats.entriesSent += i - from;
        }
        from = i; bytes = 0;
      }
      if (i < list.length) bytes += entrySize(list[i]);
    }
  }

  /**
   * The whole table to a peer that just connected, a page (about 1,000
   * entries) at a time, letting I/O run between pages so the peer imports
   * while this side still lists. The peer is live from the start: a change
   * a scan finds meanwhile goes to it too (never older than its page).
   */
  private async sendSnapshot(peer: Peer): Promise<void> {
    this.snapshots++;
    try { await this.streamSnapshot(peer); } finally { this.snapshots--; }
  }

  private async streamSnapshot(peer: Peer): Promise<void> {
    peer.live = true;
    const now = this.o.director.now();
    const others: SyncEntry[] = [];
    let batch: SyncEntry[] = [];
    let bytes = 0;
    for (const page of syncPages(this.o.director, now)) {
      if (peer.sock.destroyed) return;
      for (const { id, e } of page) {
        this.note(id, e, now, this.gen, others);
        batch.push(e);
        bytes += entrySize(e);
      }
      if (bytes >= BATCH_BYTES / 2) {
        this.sendBatches(peer, batch);
        batch = []; bytes = 0;
        await new Promise((r) => setImmediate(r));
      }
    }
    if (peer.sock.destroyed) return;
    this.sendBatches(peer, batch);
    this.send(peer, KIND_SNAPSHOT_END, Buffer.alloc(0));
    // What changed since the last scan also goes to the other peers.
    if (others.length) for (const p of this.peers) if (p !== peer && p.live && !p.sock.destroyed) this.sendBatches(p, others);
  }

  /** Record entry `id` as seen; push it to `out` when it is new, changed or refreshed. */
  private note(id: number, e: SyncEntry, now: number, gen: number, out: SyncEntry[]): void {
    const k = this.known.get(id);
    const abs = now + e.expires;
    if (k === undefined || changed(k.e, e) || abs > k.abs + Math.max(2, Math.floor(e.expires / 4))) {
      const key = k?.key ?? entryKey(e);
      this.known.set(id, { abs, fromPeer: false, e, gen, key });
      this.owned.add(key);
      out.push(e);
    } else {
      k.gen = gen;
    }
  }

  /** One pass over the table: what changed since the last pass goes to every live peer. */
  scan(): void {
    const now = this.o.director.now();
    const out: SyncEntry[] = [];
    const gen = ++this.gen;
    for (const page of syncPages(this.o.director, now)) {
      for (const { id, e } of page) this.note(id, e, now, gen, out);
    }
    for (const [id, k] of this.known) {
      if (k.gen === gen) continue;
      this.known.delete(id);
      // An entry a peer sent ends when its owner says so: it may still live there.
      if (!k.fromPeer) {
        this.owned.delete(k.key!);
        out.push({ ...k.e, expires: 0 });
      }
    }
    if (out.length === 0) return;
    for (const p of this.peers) if (p.live && !p.sock.destroyed) this.sendBatches(p, out);
  }

  private readonly closers: (() => Promise<void>)[] = [];

  /** Run `f` at close (the etcd registration). */
  onClose(f: () => Promise<void>): void { this.closers.push(f); }

  async close(): Promise<void> {
    this.closed = true;
    for (const f of this.closers) await f();
    if (this.timer) clearTimeout(this.timer);
    for (const p of this.peers) p.sock.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

/** State or real server changed (what a peer must hear about at once). */
function changed(a: SyncEntry, b: SyncEntry): boolean {
  return a.state !== b.state || a.dport !== b.dport || a.daddr[0] !== b.daddr[0] || a.daddr[1] !== b.daddr[1]
    || a.daddr[2] !== b.daddr[2] || a.daddr[3] !== b.daddr[3];
}

/** wasmvsd's sync options, as given. */
export interface SyncArgs { listen?: string; peers?: string; keyFile?: string; wait?: string }

/**
 * Start the sync channel the options describe and wait for the peers' snapshots
 * (up to --sync-wait seconds, default 10) before the daemon reports ready.
 */
export async function startSync(a: SyncArgs, director: Director, name: string, log: (m: string) => void, store?: string): Promise<ConnSync | null> {
  if (!a.listen && !a.peers && !a.keyFile && !a.wait) return null;
  if (!a.keyFile) throw new Error('--sync-listen/--sync-peers need --sync-key FILE (the key shared by the directors)');
  if (!a.listen && !a.peers) throw new Error('--sync-key needs --sync-listen HOST:PORT and/or --sync-peers HOST:PORT[,HOST:PORT…]');
  const { readFileSync } = await import('node:fs');
  let key: Buffer;
  try { key = Buffer.from(readFileSync(a.keyFile, 'utf8').trim()); } catch (e) {
    throw new Error(`--sync-key ${a.keyFile}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  if (a.wait !== undefined && !/^\d+$/.test(a.wait)) throw new Error(`invalid --sync-wait ${a.wait} (seconds)`);
  let fromEtcd: EtcdPeers | null = null;
  let sync: ConnSync | null = null;
  let peers: HostPort[];
  if (a.peers === 'etcd') {
    if (!store) throw new Error('--sync-peers etcd: the peers come from the --store etcd://… membership; there is no --store');
    if (!a.listen) throw new Error('--sync-peers etcd needs --sync-listen HOST:PORT (the address the others are told)');
    const { etcdPeers } = await import('./sync-etcd.js');
    fromEtcd = await etcdPeers(store, name, a.listen, () => sync, log);
    peers = fromEtcd.initial;
  } else {
    peers = (a.peers ?? '').split(',').filter((s) => s !== '').map((s) => parseHostPort(s, '--sync-peers'));
  }
  sync = new ConnSync({ director, key, name, log, peers, listen: a.listen ? parseHostPort(a.listen, '--sync-listen') : undefined });
  if (fromEtcd) sync.onClose(() => fromEtcd!.close());
  await sync.start();
  const waitS = a.wait === undefined ? 10 : Number(a.wait);
  if (peers.length) {
    const got = await sync.ready(waitS * 1000);
    if (!got) log(`sync: no peer sent its snapshot within ${waitS} s: serving without one`);
  }
  return sync;
}
