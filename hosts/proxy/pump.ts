// One direction of a proxied TCP connection on the JS path, reading into
// buffers it keeps instead of a fresh one per read.
//
// By default Node allocates a 64 KiB buffer for every read of a socket. In
// bulk that is one external allocation per chunk, and in a process whose
// heap is past V8's 8 MB activation threshold (the daemon: the core, the
// control server, the logger) the external bytes allocated since the last
// mark-compact count against the old generation's limit, so a bulk transfer
// ran a mark-compact every few scavenges (22 per 2 GB, a fifth of the
// process's CPU in the profile) on top of the malloc/free and page faults of
// the chunks themselves. Node's `onread` (user buffer) mode reads into a
// buffer the caller gives and hands over (nread, buffer) with no allocation.
//
// A buffer given to a write that does not complete at once (the kernel's
// send buffer is full) stays in use until that write is done, so:
//   - every direction starts on one buffer shared by the whole process; what
//     a read puts there is copied out at once (short exchanges cost no more
//     than before: one small copy instead of a 64 KiB allocation);
//   - a read of OWN_AFTER bytes or more (bulk) gives the direction its own
//     64 KiB buffer (at most MAX_OWN at a time, bounding the memory): from
//     then on the bytes go to the writer without a copy;
//   - while bytes of its own buffer wait in the writer's queue the reader is
//     stopped (pipe()'s backpressure, stricter: past 0 bytes, not past 16
//     KiB), so a buffer is never read into while a write still points at it;
//     copies out of the shared one queue up to the high-water mark as pipe()'s do.
import type { Socket } from 'node:net';

const BUF_SIZE = 64 * 1024;
/** A read this large marks the direction as bulk: it gets its own buffer. */
const OWN_AFTER = 16 * 1024;
/** Directions with their own buffer at once (64 KiB each: 64 MiB in all); the rest copy out of the shared one. */
export const MAX_OWN = 1024;

let shared: Buffer | null = null;
let owned = 0;

/** Directions holding their own buffer now (tests, metrics). */
export function ownedBuffers(): number { return owned; }

interface Internals { buffer: symbol; cb: symbol; gen: symbol }
let internals: Internals | null | undefined;

/**
 * Node's socket fields behind `onread` (net.js: kBuffer, kBufferCb,
 * kBufferGen), found on a socket by their names; null when this Node has
 * none (then everything stays on Node's default reads).
 */
function internalsOf(s: Socket): Internals | null {
  if (internals !== undefined) return internals;
  const syms = Object.getOwnPropertySymbols(s);
  const find = (name: string) => syms.find((x) => x.description === name);
  const buffer = find('kBuffer'), cb = find('kBufferCb'), gen = find('kBufferGen');
  internals = buffer && cb && gen ? { buffer, cb, gen } : null;
  return internals;
}

type Handle = { useUserBuffer?: (b: Buffer) => void; reading?: boolean } | null | undefined;
type Raw = Socket & { _handle?: Handle; [k: symbol]: unknown };

export class Pump {
  /** The reader's buffer for its next read: the shared one until this direction has its own. */
  private buf: Buffer;
  private own = false;
  /** Stopped until the writer's queue is empty (its own buffer is still being written). */
  private waiting = false;
  /** Stopped from outside (the splice hand-over) until resume(). */
  held = false;
  to!: Socket;
  from!: Socket;

  /** `count(n)`: a chunk of n bytes read (accounting, --splice auto); the pump writes it on. */
  constructor(readonly count: (n: number) => void) {
    shared ??= Buffer.allocUnsafeSlow(BUF_SIZE);
    this.buf = shared;
  }

  /** For a socket made with connect(): its `onread` option. */
  onread(): { buffer: () => Buffer; callback: (n: number, b: Buffer) => boolean } {
    return { buffer: this.next, callback: this.read };
  }

  /**
   * Switch an accepted socket to reads into this pump's buffers; false (it
   * keeps Node's own reads) when it already read something or this Node lacks
   * the fields.
   */
  use(s: Socket): boolean {
    const raw = s as Raw;
    const k = internalsOf(s);
    const h = raw._handle;
    if (k === null || !h || typeof h.useUserBuffer !== 'function' || raw[k.buffer] !== null
      || s.readableLength > 0 || s.readableEnded || s.destroyed) return false;
    raw[k.buffer] = this.buf;
    raw[k.cb] = this.read;
    raw[k.gen] = this.next;
    h.useUserBuffer(this.buf);
    return true;
  }

  private readonly next = (): Buffer => this.buf;

  private readonly read = (n: number, b: Buffer): boolean => {
    let chunk: Buffer;
    if (this.own) chunk = n === b.length ? b : b.subarray(0, n);
    else if (n >= OWN_AFTER && owned < MAX_OWN) {
      owned++;
      this.own = true;
      this.buf = Buffer.allocUnsafeSlow(BUF_SIZE);
      b.copy(this.buf, 0, 0, n);
      chunk = this.buf.subarray(0, n);
    } else {
      chunk = Buffer.allocUnsafe(n);
      b.copy(chunk, 0, 0, n);
    }
    const to = this.to;
    to.write(chunk, this.written);
    this.count(n);
    // A copy holds no pump buffer: it may queue up to the writer's high-water
    // mark (pipe()'s rule), so a client's first bytes, queued while the real
    // server's connect is under way, do not stop and restart its reads (one
    // epoll_ctl pair per connection). A chunk of the direction's own buffer
    // stops the reader until the queue is empty.
    const queued = to.writableLength;
    if (queued === 0 || (!this.own && queued < to.writableHighWaterMark)) return !this.held;
    this.waiting = true;
    return false;
  };

  /** After each write: a reader stopped for its buffer goes on once the writer's queue is empty. */
  private readonly written = (): void => {
    if (!this.waiting || this.to.writableLength !== 0) return;
    this.waiting = false;
    if (!this.held) this.from.resume();
  };

  /** The pump's reader is wanted again (start, the end of a hold): resumed unless its buffer is still being written. */
  resume(): void {
    this.held = false;
    if (this.waiting) return;
    this.from.resume();
  }

  /** Stop reading (a hold: the splice hand-over) until resume(). */
  hold(): void {
    this.held = true;
    this.from.pause();
  }

  /** The connection is over: its own buffer goes back to the bound. */
  release(): void {
    if (!this.own) return;
    this.own = false;
    owned--;
    this.buf = shared!;
  }
}
