// The proxy's zero-copy bulk path: once a real server has accepted, the two
// sockets of a TCP connection go to the native addon's splice pump
// (native/src/splice_pump.h), which moves their bytes kernel to kernel
// (splice(2) through a pipe) on its own thread. Node stops owning them: the
// bytes it already read go along (in order, first), its handles are closed
// (the pump keeps duplicates of the fds), and from then on JS hears only
// lifecycle events and byte counts, in batches: counts of busy connections
// every REPORT_MS, a FIN passed on, a reset, the close.
//
// --splice auto (default): when the addon loads, a connection goes to the
// pump once it has moved AUTO_AFTER bytes on the JS path (bulk; short
// request/response exchanges never pay for a hand-over), else the JS path;
// on: the addon is required and every connection goes to the pump when its
// real server accepts; off: the JS path.
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { loadNativeAddon } from '../../native/addon.js';
import type { Logger } from '../../daemon/logger.js';

import type { SpliceMode } from './options.js';
// The modes and their parser are options.ts's (wasmvsd checks --splice without loading the addon).
export { SPLICE_MODES, parseSpliceMode, type SpliceMode } from './options.js';

/** How often the pump reports the counts of busy connections (the proxy's tick, 1 s, reads them). */
const REPORT_MS = 250;
/** --splice auto: bytes (both directions) after which a connection is handed over. */
export const AUTO_AFTER = 64 * 1024;
/** Numbers per event record (native/src/splice.cc). */
const RECORD = 8;
const enum Kind { Counts = 0, FinIn = 1, FinOut = 2, Reset = 3, Closed = 4 }

/** What one handed-over connection hears. Bytes "in" go client → real server, "out" back. */
export interface SpliceSink {
  counts(inBytes: number, inChunks: number, outBytes: number, outChunks: number): void;
  /** A FIN was passed on: the client's ('in') to the real server, or the real server's ('out') to the client. */
  fin(dir: 'in' | 'out'): void;
  /** A socket failed (`code`: its errno name); the other was reset. `closed` follows. */
  reset(side: 'client' | 'server', code: string): void;
  /** Both sockets are closed: the last call. */
  closed(): void;
}

export interface SpliceStats { conns: number; pipes: number; pooled: number; spliced: number; copied: number; added: number; closed: number }

/** The native class (native/src/splice.cc); tests may pass another with this shape. */
export interface NativePump {
  add(id: number, clientFd: number, serverFd: number, preIn: Buffer | null, preOut: Buffer | null, eofIn: boolean, eofOut: boolean): void;
  abort(id: number): void;
  stats(): SpliceStats;
  close(): void;
}
export type SplicePumpClass = new (onEvents: (records: Float64Array) => void, opts?: { pipeSize?: number; reportMs?: number }) => NativePump;

type WithHandle = Socket & { _handle?: { fd?: number } | null; _readableState?: { ended?: boolean } };

/** The fd behind a connected net.Socket, or -1 (no handle, not a TCP wrap). */
function fdOf(s: Socket): number {
  const fd = (s as WithHandle)._handle?.fd;
  return typeof fd === 'number' ? fd : -1;
}

/** Bytes Node already read from `s` (paused), and whether it saw EOF. */
function takeBuffered(s: Socket): { chunks: Buffer[]; eof: boolean } {
  const chunks: Buffer[] = [];
  for (let i = 0; i < 1024 && s.readableLength > 0; i++) {
    const c = s.read() as Buffer | null;
    if (c === null) break;
    chunks.push(c);
  }
  return { chunks, eof: (s as WithHandle)._readableState?.ended === true };
}

const ERRNO_NAMES: Record<number, string> = { 104: 'ECONNRESET', 32: 'EPIPE', 110: 'ETIMEDOUT', 113: 'EHOSTUNREACH', 111: 'ECONNREFUSED' };

export class Splicer {
  private readonly pump: NativePump;
  private readonly sinks = new Map<number, SpliceSink>();
  private nextId = 1;
  /** Hand a connection over once it moved this many bytes (0: when its real server accepts). */
  after = 0;

  constructor(Pump: SplicePumpClass, private readonly log: Logger, opts: { pipeSize?: number } = {}) {
    this.pump = new Pump((r) => this.deliver(r), { reportMs: REPORT_MS, ...opts });
  }

  /** Connections the pump holds. */
  get size(): number { return this.sinks.size; }

  stats(): SpliceStats { return this.pump.stats(); }

  /**
   * Hands both sockets to the pump; `header` (a PROXY protocol header) goes
   * to the real server before anything of the client's. Returns the
   * connection's id, or null when the pump cannot take it (the caller keeps
   * the sockets on the JS path; nothing was lost). Counts of bytes Node had
   * already read are given to `sink` here.
   */
  handOver(client: Socket, server: Socket, header: Buffer | null, sink: SpliceSink): number | null {
    const cfd = fdOf(client), sfd = fdOf(server);
    if (cfd < 0 || sfd < 0 || client.writableLength > 0 || server.writableLength > 0) return null;
    // read() emits 'data' for what it returns: the JS path's pumps must not see these bytes too.
    const pumps = [client.listeners('data'), server.listeners('data')] as ((c: Buffer) => void)[][];
    client.removeAllListeners('data');
    server.removeAllListeners('data');
    const fromClient = takeBuffered(client), fromServer = takeBuffered(server);
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    const preIn = header === null && fromClient.chunks.length === 0 ? null : Buffer.concat(header ? [header, ...fromClient.chunks] : fromClient.chunks);
    const preOut = fromServer.chunks.length === 0 ? null : Buffer.concat(fromServer.chunks);
    try {
      this.pump.add(id, cfd, sfd, preIn, preOut, fromClient.eof, fromServer.eof);
    } catch (e) {
      // Put back what was read: the JS path sends it.
      for (const c of fromClient.chunks.reverse()) client.unshift(c);
      for (const c of fromServer.chunks.reverse()) server.unshift(c);
      for (const l of pumps[0]) client.on('data', l);
      for (const l of pumps[1]) server.on('data', l);
      this.log.warn(`splice: cannot hand a connection over (${(e as Error).message}); it stays on the JS path`);
      return null;
    }
    this.sinks.set(id, sink);
    const inBytes = fromClient.chunks.reduce((n, c) => n + c.length, 0), outBytes = preOut?.length ?? 0;
    if (inBytes > 0 || outBytes > 0) sink.counts(inBytes, fromClient.chunks.length, outBytes, fromServer.chunks.length);
    // Node lets go: its handles close (the pump's duplicates keep the connections), nothing is sent.
    for (const s of [client, server]) {
      s.removeAllListeners();
      s.on('error', () => {});
      s.destroy();
    }
    return id;
  }

  /** Reset both sockets of a handed-over connection; its sink hears `closed`. */
  abort(id: number): void {
    if (this.sinks.has(id)) this.pump.abort(id);
  }

  /** Stops the pump: connections it still holds are reset. */
  close(): void {
    this.pump.close();
    const left = [...this.sinks.values()];
    this.sinks.clear();
    for (const s of left) this.call(() => s.closed());
  }

  private deliver(r: Float64Array): void {
    for (let i = 0; i + RECORD <= r.length; i += RECORD) {
      const id = r[i], sink = this.sinks.get(id);
      if (sink === undefined) continue;
      const kind = r[i + 1] as Kind;
      if (r[i + 5] > 0 || r[i + 7] > 0) this.call(() => sink.counts(r[i + 4], r[i + 5], r[i + 6], r[i + 7]));
      if (kind === Kind.FinIn) this.call(() => sink.fin('in'));
      else if (kind === Kind.FinOut) this.call(() => sink.fin('out'));
      else if (kind === Kind.Reset) this.call(() => sink.reset(r[i + 2] === 0 ? 'client' : 'server', ERRNO_NAMES[r[i + 3]] ?? `errno ${r[i + 3]}`));
      else if (kind === Kind.Closed) {
        this.sinks.delete(id);
        this.call(() => sink.closed());
      }
    }
  }

  /** A sink's failure is logged, never thrown into the pump's callback (that would end the process). */
  private call(f: () => void): void {
    try { f(); } catch (e) { this.log.error(`splice: ${(e as Error).stack ?? String(e)}`); }
  }
}

/** The mode a loaded splicer runs in (what a worker process is told to load). */
export function spliceModeOf(s: Splicer | null): SpliceMode {
  return s === null ? 'off' : s.after === 0 ? 'on' : 'auto';
}

/**
 * The splicer for `mode`: null for 'off', or for 'auto' when the addon does
 * not load (logged once, the JS path moves the bytes); 'on' without the
 * addon is an error.
 */
export function loadSplicer(mode: SpliceMode, log: Logger, Pump?: SplicePumpClass): Splicer | null {
  if (mode === 'off') return null;
  try {
    if (Pump === undefined) {
      const addon = loadNativeAddon();
      const mod = createRequire(import.meta.url)(addon.path) as { SplicePump?: SplicePumpClass };
      if (typeof mod.SplicePump !== 'function') throw new Error(`${addon.path} has no splice pump (an older build: run \`npm run build:native\`)`);
      Pump = mod.SplicePump;
    }
    const s = new Splicer(Pump, log);
    s.after = mode === 'auto' ? AUTO_AFTER : 0;
    return s;
  } catch (e) {
    const why = (e as Error).message;
    if (mode === 'on') throw new Error(`--splice on: the native splice path is unavailable: ${why}`);
    log.info(`splice: native path unavailable, bytes move through JS (${why.split('\n')[0]})`);
    return null;
  }
}
