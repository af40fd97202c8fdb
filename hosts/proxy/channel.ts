// The binary channel between `wasmvsd proxy --workers N` and each of its
// worker processes (workers.ts ↔ worker.ts): a socketpair given to the worker
// as its fd 4 (an extra stdio pipe of cluster.fork), carrying compact
// length-prefixed records instead of node:cluster's JSON messages. One record
// per accept, decision and connection event, several per write: a flush is
// one write(2) and one wake-up of the other side, and decoding a record is a
// few reads from a Buffer (no JSON text, no arrays, no 'message' event each).
//
// Frame: u32 LE length of what follows · u8 record type · fields (LE numbers,
// short ASCII strings as u8 length + bytes). Rare messages (listen, limits,
// stop, a connect failure's log line) are one JSON record.
import type { Socket } from 'node:net';
import type { ConnEventName } from '../../sdk/conns.js';
import type { Method } from '../../sdk/types.js';

/** The worker's end of the channel (cluster.fork stdio index). */
export const CHANNEL_FD = 4;

// Record types. Worker → main:
/** accepted: seq f64 · service id u32 · client port u16 · client address */
export const R_ACCEPT = 1;
/** connection event: seq f64 · event u8 (EVENT_NAMES) */
export const R_EVENT = 2;
/** closed, with its last traffic: seq f64 · in bytes f64 · in chunks f64 · out bytes f64 · out chunks f64 */
export const R_CLOSED = 3;
/** a tick's traffic: as R_CLOSED */
export const R_TRAFFIC = 4;
/** the client went before its decision came: seq f64 */
export const R_GONE = 5;
// Main → worker:
/** decision: seq f64 · connection id f64 · dest id f64 · dest port u16 · method u8 · PROXY protocol u8 · dest address */
export const R_DECIDE = 11;
/** reset the waiting client: seq f64 */
export const R_RESET = 12;
/** tear the flow down: seq f64 */
export const R_DESTROY = 13;
/** Either way: a JSON array (u32 length, UTF-8). */
export const R_JSON = 20;

export const EVENT_NAMES: readonly ConnEventName[] = ['established', 'client-fin', 'server-fin', 'reset', 'close'];
export const EVENT_CODE: Readonly<Record<ConnEventName, number>> = { established: 0, 'client-fin': 1, 'server-fin': 2, reset: 3, close: 4 };
export const METHODS: readonly Method[] = ['masq', 'route', 'tunnel', 'local'];
export const METHOD_CODE: Readonly<Record<Method, number>> = { masq: 0, route: 1, tunnel: 2, local: 3 };

/** Records written into one growing buffer; flush() sends them in one write. */
export class ChannelOut {
  private buf = Buffer.allocUnsafe(16_384);
  private n = 0;
  /** Offset of the open record's length field. */
  private start = 0;

  constructor(private readonly sock: Socket) {}

  get empty(): boolean { return this.n === 0; }

  private room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const b = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.n + k));
    this.buf.copy(b, 0, 0, this.n);
    this.buf = b;
  }

  /** Open a record of `type` whose fixed fields take at most `max` bytes (strings add their own). */
  begin(type: number, max: number): this {
    this.room(5 + max);
    this.start = this.n;
    this.buf[this.n + 4] = type;
    this.n += 5;
    return this;
  }

  u8(v: number): this { this.buf[this.n++] = v; return this; }
  u16(v: number): this { this.n = this.buf.writeUInt16LE(v, this.n); return this; }
  u32(v: number): this { this.n = this.buf.writeUInt32LE(v, this.n); return this; }
  f64(v: number): this { this.n = this.buf.writeDoubleLE(v, this.n); return this; }

  /** A short ASCII string (an IP address): u8 length + bytes. */
  ascii(s: string): this {
    if (s.length > 255) throw new Error(`proxy channel: string too long (${s.length})`);
    this.room(1 + s.length);
    this.buf[this.n++] = s.length;
    this.n += this.buf.write(s, this.n, 'latin1');
    return this;
  }

  /** Close the open record: its length goes in front. */
  end(): void {
    this.buf.writeUInt32LE(this.n - this.start - 4, this.start);
  }

  json(msg: unknown[]): void {
    const body = Buffer.from(JSON.stringify(msg), 'utf8');
    this.room(5 + body.length);
    this.begin(R_JSON, body.length);
    body.copy(this.buf, this.n);
    this.n += body.length;
    this.end();
  }

  /** Send what was written (a copy: the socket may hold it until the write completes). */
  flush(): void {
    if (this.n === 0) return;
    const b = Buffer.from(this.buf.subarray(0, this.n));
    this.n = 0;
    if (!this.sock.destroyed) this.sock.write(b);
  }
}

/** Called per record: its type, the buffer and the offset of its first field. */
export type RecordHandler = (type: number, b: Buffer, at: number, len: number) => void;

/** Reassembles records from the socket's chunks and hands each to `onRecord`. */
export class ChannelIn {
  private rest: Buffer | null = null;

  constructor(private readonly onRecord: RecordHandler) {}

  feed(chunk: Buffer): void {
    const b = this.rest === null ? chunk : Buffer.concat([this.rest, chunk]);
    let at = 0;
    while (b.length - at >= 5) {
      const len = b.readUInt32LE(at);
      if (b.length - at - 4 < len) break;
      const next = at + 4 + len;
      this.onRecord(b[at + 4], b, at + 5, len - 1);
      at = next;
    }
    this.rest = at === b.length ? null : b.subarray(at);
  }
}

/** The short ASCII string at `at` (u8 length + bytes). */
export function asciiAt(b: Buffer, at: number): string {
  return b.toString('latin1', at + 1, at + 1 + b[at]);
}

/** The JSON array of an R_JSON record. */
export function jsonAt(b: Buffer, at: number, len: number): unknown[] {
  return JSON.parse(b.toString('utf8', at, at + len)) as unknown[];
}
