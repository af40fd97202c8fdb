// Verdicts held while the kernel rules for their real server are not in
// place yet. A configuration change reaches the core at once, and the rules
// that carry its new real servers' flows follow a few milliseconds later
// (an nft transaction and iptables-restore in the background: gateway.ts
// configChanged). A packet the core sends to such a real server meanwhile
// would go out before the kernel can carry its flow: a fast NAT flow has no
// DNAT map element for its mark, so its first packet leaves with the core's
// rewrite, its conntrack entry NATs nothing, and the client's next packet
// (the SYN again, a second later) meets the director's own stack and is
// reset; a userspace NAT flow's replies are not queued for de-NAT; a DR mark
// has no route. So such a verdict waits here, only it, with a copy of what
// the core wrote, while every other packet goes on; the next round of rules
// that began after it answers it as the rules then installed say (a fast
// flow's mark, or the core's own verdict). As IPVS, which never holds a
// packet for a change of its configuration, no client sees the change.
//
// Bounded: at most HELD_MAX verdicts wait (more go out as the core decided,
// counted), none longer than a round of rules, which the gateway starts
// when it holds the first one, and HELD_MS at most.
import { layout as L } from '../../sdk/core/abi.gen.js';
import { packedSpan } from './records.js';

export const HELD_MAX = 4096;
export const HELD_MS = 2000;

/** What a held verdict needs of its queue: the addon's verdicts() (native/addon.ts NativeQueue). */
export interface VerdictSink {
  verdicts(records: Uint8Array, count: number, payloads?: Uint8Array, batch?: boolean): number;
}

interface Held<Q> {
  q: Q;
  /** The verdict record as the core wrote it (GW_VER_SIZE bytes). */
  ver: Uint8Array;
  /** The packet record's mark (the queue rule's FAST_INVALID_MARK, for retarget). */
  recMark: number;
  /** The bytes the payload verdict sends (the core's rewrite), or null for a mark verdict. */
  payload: Uint8Array | null;
  /** The round of rules during which it was held: the next round that begins answers it. */
  round: number;
  /** When (ms). */
  at: number;
}

/**
 * Turns held verdicts into final ones: called on a scratch copy laid out as a
 * burst (packed records, then the verdict list), as retarget does on a burst.
 */
export type Finish = (mem: DataView, list: number, packets: number, n: number) => void;

/** The real server a verdict sends its packet to, when rules may be needed for it: its slot (dest id & GW_DR_SLOT_MASK), else -1. */
export function verdictSlot(flags: number, mark: number): number {
  if ((flags & L.GW_VF_PAYLOAD) && (flags & L.GW_VF_NAT_IN)) return (mark & L.GW_DR_SLOT_MASK) >>> 0;
  if ((flags & L.GW_VF_MARK) && !(flags & L.GW_VF_PAYLOAD) && ((mark & ~L.GW_DR_SLOT_MASK) >>> 0) === L.GW_DR_MARK_BASE) return (mark & L.GW_DR_SLOT_MASK) >>> 0;
  return -1;
}

export class HeldVerdicts<Q extends VerdictSink> {
  private items: Held<Q>[] = [];
  /** Verdicts held so far. */
  held = 0;
  /** Verdicts that found the wait full and went out as the core decided. */
  overflow = 0;

  get size(): number { return this.items.length; }

  /**
   * One answered burst, before its verdicts go out: each verdict towards a
   * real server whose slot is not `ready` is taken out of the list (the rest
   * move up) and kept. `packets`, `stride`: the burst's records (as retarget
   * reads them). Returns how many verdicts are left in the list.
   */
  take(q: Q, mem: DataView, list: number, packets: number, n: number, stride: number, ready: (slot: number) => boolean, round: number, now: number): number {
    let kept = 0;
    // Made only when a verdict moves or is kept (none in the common burst: no allocation per burst).
    let bytes: Uint8Array | null = null;
    for (let i = 0, rec = 0; i < n; i++) {
      const at = packets + (stride === L.GW_STRIDE_PACKED ? rec : i * stride);
      if (stride === L.GW_STRIDE_PACKED) rec += packedSpan(mem.getUint32(at + L.GW_REC_LEN, true));
      const v = list + i * L.GW_VER_SIZE;
      const flags = mem.getUint32(v + L.GW_VER_FLAGS, true);
      const slot = verdictSlot(flags, mem.getUint32(v + L.GW_VER_MARK, true));
      const waits = slot >= 0 && !ready(slot);
      if (!waits || this.items.length >= HELD_MAX) {
        if (waits) this.overflow++;
        if (kept !== i) (bytes ??= new Uint8Array(mem.buffer)).copyWithin(list + kept * L.GW_VER_SIZE, v, v + L.GW_VER_SIZE);
        kept++;
        continue;
      }
      let payload: Uint8Array | null = null;
      bytes ??= new Uint8Array(mem.buffer);
      if (flags & L.GW_VF_PAYLOAD) {
        const off = packets + mem.getUint32(v + L.GW_VER_OFF, true);
        payload = bytes.slice(off, off + mem.getUint32(v + L.GW_VER_LEN, true));
      }
      this.items.push({ q, ver: bytes.slice(v, v + L.GW_VER_SIZE), recMark: mem.getUint32(at + L.GW_REC_MARK, true), payload, round, at: now });
      this.held++;
    }
    return kept;
  }

  /**
   * Answers the verdicts held before round `upTo` (all: every one), and those
   * waiting since before `now - HELD_MS`, queue by queue in the order they
   * came: `finish` turns them as the rules now installed say, then they go out.
   * Returns how many.
   */
  release(finish: Finish, upTo = Infinity, now = 0): number {
    const due = this.items.filter((h) => h.round < upTo || h.at < now - HELD_MS);
    if (!due.length) return 0;
    this.items = this.items.filter((h) => !(h.round < upTo || h.at < now - HELD_MS));
    const byQueue = new Map<Q, Held<Q>[]>();
    for (const h of due) {
      const l = byQueue.get(h.q);
      if (l) l.push(h);
      else byQueue.set(h.q, [h]);
    }
    for (const [q, hs] of byQueue) {
      // A burst of their own: packed records (the payload where the core put its rewrite), then the list.
      const spans = hs.map((h) => packedSpan(h.payload?.length ?? 0));
      const recBytes = spans.reduce((a, b) => a + b, 0);
      const buf = new ArrayBuffer(recBytes + hs.length * L.GW_VER_SIZE);
      const mem = new DataView(buf);
      const bytes = new Uint8Array(buf);
      const list = recBytes;
      let rec = 0;
      hs.forEach((h, i) => {
        const v = list + i * L.GW_VER_SIZE;
        bytes.set(h.ver, v);
        mem.setUint32(rec + L.GW_REC_ID, mem.getUint32(v + L.GW_VER_ID, true), true);
        mem.setUint32(rec + L.GW_REC_MARK, h.recMark, true);
        mem.setUint32(rec + L.GW_REC_LEN, h.payload?.length ?? 0, true);
        if (h.payload) {
          bytes.set(h.payload, rec + L.GW_REC_HEADER);
          mem.setUint32(v + L.GW_VER_OFF, rec + L.GW_REC_HEADER, true);
        }
        rec += spans[i];
      });
      finish(mem, list, 0, hs.length);
      q.verdicts(new Uint8Array(buf, list, hs.length * L.GW_VER_SIZE), hs.length, new Uint8Array(buf, 0, recBytes), false);
    }
    return due.length;
  }

  /**
   * Whether packets of queue `q` are held: its verdicts must then go one by one, as a batch verdict
   * (NFQNL_MSG_VERDICT_BATCH: every queued id up to one) would take the held packets too.
   */
  holds(q: Q): boolean {
    return this.items.some((h) => h.q === q);
  }

  /** Whether any verdict waits since before `now - HELD_MS`. */
  overdue(now: number): boolean {
    return this.items.length > 0 && this.items[0].at < now - HELD_MS;
  }
}
