// What one control socket may cost the daemon, and the log of what it
// refused. Every client is bounded on the way in (one unfinished request
// line, a share of a global budget) and on the way out (at most one answer
// being written, paced by 'drain'), so no client can grow the daemon's memory
// without bound or hold up the others. Pure: no node: imports.
import { MAX_LINE_BYTES } from '../ipvsadm/protocol.js';

export interface ControlBounds {
  /** Longest request line, in characters (JSON is ASCII: bytes). Past it: error reply, connection closed. */
  maxLineBytes: number;
  /** Unfinished request lines of all clients together; the client that passes it is refused. */
  maxPendingBytes: number;
  /** Clients connected at once; one more gets an error reply and is closed. */
  maxClients: number;
  /** A client with a request half sent or an answer half read that moves nothing for this long is closed (ms). */
  stallMs: number;
  /**
   * An answer the client reads nothing of for this long: the client is closed
   * (ms). Shorter than stallMs: a stuck reader holds a listing turn and its
   * snapshot, and wasmvsadm always reads its answer whole at once.
   */
  answerStallMs: number;
  /** About this many characters of a listing are serialized and written at a time. */
  chunkBytes: number;
}

export const DEFAULT_BOUNDS: ControlBounds = {
  maxLineBytes: MAX_LINE_BYTES,
  maxPendingBytes: 2 * MAX_LINE_BYTES,
  maxClients: 64,
  stallMs: 60_000,
  answerStallMs: 10_000,
  chunkBytes: 256 * 1024,
};

export type RefusalReason = 'line-too-long' | 'busy' | 'too-many-clients' | 'stalled' | 'accept-failed';

const TEXT: Record<RefusalReason, string> = {
  'line-too-long': 'request line too long',
  busy: 'too much request data in flight from all clients',
  'too-many-clients': 'too many control clients',
  stalled: 'client stalled',
  'accept-failed': 'cannot accept a client',
};

/** Logged at most once per reason in this many ms, with the running count. */
const LOG_EVERY_MS = 60_000;

/**
 * Counts refusals by reason. The first of a reason is logged at once; later
 * ones are folded into at most one line a minute, so a client in a loop
 * cannot flood the log.
 */
export class RefusalLog {
  readonly counts: Record<RefusalReason, number> = { 'line-too-long': 0, busy: 0, 'too-many-clients': 0, stalled: 0, 'accept-failed': 0 };
  private readonly loggedAt = new Map<RefusalReason, number>();
  private readonly loggedCount = new Map<RefusalReason, number>();

  constructor(private readonly log: (m: string) => void, private readonly now: () => number = Date.now) {}

  note(reason: RefusalReason, limit: string): void {
    const n = ++this.counts[reason];
    const t = this.now();
    const last = this.loggedAt.get(reason);
    if (last !== undefined && t - last < LOG_EVERY_MS) return;
    const since = n - (this.loggedCount.get(reason) ?? 0);
    this.loggedAt.set(reason, t);
    this.loggedCount.set(reason, n);
    this.log(`control: ${TEXT[reason]} (${limit}); client refused and closed` +
      (n > 1 ? ` (${since} since the last report, ${n} in all)` : ''));
  }
}

/** The error text a refused client receives (the daemon's side of the refusal). */
export function refusalText(reason: RefusalReason, limit: string): string {
  return `${TEXT[reason]} (${limit})`;
}
