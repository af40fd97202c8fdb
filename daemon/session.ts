// One control client: request lines in, one reply each, in order. Reading
// stops while lines are being answered and while an answer waits for the
// client to read it ('drain'), so a client holds at most one chunk of
// requests and one answer in the daemon. Long listings go out in pieces with
// a turn of the event loop between them: other clients and the data path run
// while a million connections are written.
import type { Socket } from 'node:net';
import { LineSplitter } from './lines.js';
import { replyTo, badRequest, HeldChanges, type ServerHooks } from './server-core.js';
import type { ControlHandler } from './handler.js';
import type { Reply } from '../ipvsadm/protocol.js';
import { refusalText, type ControlBounds, type RefusalLog, type RefusalReason } from './bounds.js';
import { replyPieces } from './reply-stream.js';

/** State every session of one server shares. */
export interface SharedState {
  readonly bounds: ControlBounds;
  readonly refusals: RefusalLog;
  /** Characters of unfinished request lines, all clients. */
  pending: number;
  clients: number;
  /** Listings being computed or written; at most LISTINGS at once, the others wait their turn. */
  listings: number;
  readonly waiting: (() => void)[];
}

/** Big listings at once: each holds a snapshot (1M connections are hundreds of MB) until written. */
export const LISTINGS = 2;
/** Listings of up to this many entries need no turn. */
const SMALL_LISTING = 4096;

/** A refused client is cut this long after its error reply, whether it read it or not (ms). */
const GRACE_MS = 1000;

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Ops whose answer is a listing: big ones take a turn among LISTINGS (their requests are short lines). */
const LISTING_OPS = /"op"\s*:\s*"(list|connections)"/;
const listingOp = (line: string) => (line.length < 4096 ? LISTING_OPS.exec(line)?.[1] as 'list' | 'connections' | undefined : undefined);

export class ControlSession {
  private readonly lines = new LineSplitter();
  private queue: string[] = [];
  private busy = false;
  private done = false;
  /** Set once the client passed a bound: it is refused after the lines before are answered. */
  private refusal: [RefusalReason, string] | null = null;
  /** This client's share of shared.pending. */
  private counted = 0;
  /** Data-path changes held back while this client streams a -R. */
  private readonly held: HeldChanges;

  constructor(private readonly sock: Socket, private readonly handler: ControlHandler,
    private readonly hooks: ServerHooks, private readonly shared: SharedState) {
    this.held = new HeldChanges(hooks);
    sock.setEncoding('utf8');
    sock.setTimeout(shared.bounds.stallMs);
    sock.on('data', (chunk: string) => this.onData(chunk));
    sock.on('timeout', () => this.onTimeout());
    sock.on('error', () => sock.destroy());
    sock.on('close', () => this.release());
  }

  private onData(chunk: string): void {
    if (this.done || this.refusal) return; // refused: read and dropped until the grace period cuts the socket
    const complete = this.lines.push(chunk);
    this.shared.pending += this.lines.pending - this.counted;
    this.counted = this.lines.pending;
    const b = this.shared.bounds;
    // A line over the bound may arrive whole in one chunk (the client was not read meanwhile).
    let tooLong = this.lines.pending > b.maxLineBytes;
    for (const line of complete) {
      if (line.length > b.maxLineBytes) { tooLong = true; break; }
      if (line.trim() !== '') this.queue.push(line);
    }
    if (tooLong) this.refusal = ['line-too-long', `limit ${b.maxLineBytes} bytes`];
    else if (this.shared.pending > b.maxPendingBytes) this.refusal = ['busy', `limit ${b.maxPendingBytes} bytes`];
    if (this.refusal) this.dropPending();
    if (this.busy) return;
    this.sock.pause();
    void this.answerQueued();
  }

  /** Answer what is queued (lines before a refused one included), then refuse or read on. */
  private async answerQueued(): Promise<void> {
    this.busy = true;
    try {
      for (let i = 0; i < this.queue.length && !this.done; i++) await this.answer(this.queue[i]);
    } finally {
      this.queue = [];
      this.busy = false;
    }
    if (this.done) return;
    if (this.refusal) this.refuse(...this.refusal);
    else this.sock.resume();
  }

  private async answer(line: string): Promise<void> {
    const op = listingOp(line);
    const listing = op !== undefined && this.handler.listingSize(op) > SMALL_LISTING;
    if (listing) await this.takeListingTurn();
    try {
      if (!this.done) await this.write(await this.replyTo(line));
    } finally {
      if (listing) this.giveListingTurn();
    }
  }

  private async replyTo(line: string): Promise<Reply> {
    try {
      return await replyTo(line, this.handler, this.hooks, this.held);
    } catch (e) {
      this.hooks.log(`control: request failed: ${e instanceof Error ? e.stack : String(e)}`);
      return { id: 0, ok: false, error: { code: 'EINTERNAL', message: 'wasmvsd: internal error' } };
    }
  }

  /** Write the pieces of a reply, waiting for 'drain' whenever the socket's buffer is full. */
  private async write(reply: Reply): Promise<void> {
    let first = true;
    for (const piece of replyPieces(reply, this.shared.bounds.chunkBytes)) {
      if (this.done) return;
      if (!first) await turn();
      first = false;
      if (!this.sock.write(piece)) await this.drained();
    }
  }

  /** Resolves on 'drain' or close; an answer the client reads nothing of for answerStallMs closes it. */
  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const ms = this.shared.bounds.answerStallMs;
      const timer = setTimeout(() => this.stalled(`answer unread for ${ms} ms`), ms);
      const done = () => { clearTimeout(timer); this.sock.off('drain', done); this.sock.off('close', done); resolve(); };
      this.sock.on('drain', done);
      this.sock.on('close', done);
    });
  }

  /** Waiting for a turn is not the client's stall: no socket timeout meanwhile. */
  private async takeListingTurn(): Promise<void> {
    if (this.shared.listings < LISTINGS) { this.shared.listings++; return; }
    this.sock.setTimeout(0);
    await new Promise<void>((resolve) => this.shared.waiting.push(resolve));
    this.sock.setTimeout(this.shared.bounds.stallMs);
  }

  /** Hand the turn to the next waiting listing, or free it. */
  private giveListingTurn(): void {
    const next = this.shared.waiting.shift();
    if (next) next();
    else this.shared.listings--;
  }

  /** Socket idle for stallMs: a half-sent request or a half-read answer is a stall; an idle client just goes. */
  private onTimeout(): void {
    if (this.done) return;
    if (this.busy || this.lines.pending > 0) this.stalled(`nothing read or sent for ${this.shared.bounds.stallMs} ms`);
    else this.sock.end();
  }

  private stalled(why: string): void {
    if (this.done) return;
    this.shared.refusals.note('stalled', why);
    this.done = true;
    this.dropPending();
    this.sock.destroy();
  }

  private refuse(reason: RefusalReason, limit: string): void {
    this.shared.refusals.note(reason, limit);
    this.done = true;
    this.dropPending();
    this.sock.end(JSON.stringify(badRequest(refusalText(reason, limit))) + '\n');
    // Keep reading (and dropping) so the client's close is seen; cut it if it never closes.
    this.sock.resume();
    setTimeout(() => this.sock.destroy(), GRACE_MS).unref();
  }

  private dropPending(): void {
    this.shared.pending -= this.counted;
    this.counted = 0;
    this.lines.reset();
  }

  private release(): void {
    this.done = true;
    this.dropPending();
    this.held.release();
  }
}

/** Refuse a client before it sends anything (too many clients). */
export function refuseClient(sock: Socket, shared: SharedState, reason: RefusalReason, limit: string): void {
  shared.refusals.note(reason, limit);
  sock.on('error', () => sock.destroy());
  sock.end(JSON.stringify(badRequest(refusalText(reason, limit))) + '\n');
  setTimeout(() => sock.destroy(), GRACE_MS).unref();
}
