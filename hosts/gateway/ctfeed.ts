// The fast path's feedback (fastpath.ts): the kernel carries every packet of
// a fast flow after its first, so what IPVS would learn from those packets is
// read back from conntrack (ctnetlink, ct_socket.cc) and given to the core,
// which stays the one table `-L -c`, `-L --stats`, ActiveConn/InActConn and
// the timeouts are read from:
//  - every second, the pending destroy events (an entry's last counters) and
//    the open fast flows the core tracks, read by their tuples (lookup: one
//    GET each, assembly/table/ct_track.ts), in slices (tickSliced), so the
//    queue's new flows are answered between them, not after the round. A dump
//    of our entries (ct mark under FAST_MARK_MASK) instead every SWEEP_TICKS,
//    past LOOKUP_MAX flows to read, and after the tracker overflowed: it walks
//    the kernel's whole conntrack hash with softirqs off on its CPU
//    (bench/gateway/ANALYSIS.md);
//  - young TCP flows are not read for 2-3 s (by tuple; a dump leaves them out
//    for 1-2 s, CT_YOUNG), by then
//    a short connection's entry is gone (the fast path's ct timeout policy:
//    TIME_WAIT lasts SETTLED_CT_TIMEOUT_S) and its destroy event is the one
//    record read of it; a longer one is then promoted into every dump;
//  - a TCP flow conntrack calls TIME_WAIT or CLOSE is settled: the core has
//    its last state, and its last counters come with its destroy event, so its
//    entry takes the CT_SETTLED bit in its mark (one batched update), which
//    keeps it out of the next dumps. A short connection is then dumped about
//    once instead of every second of conntrack's 120 s TIME_WAIT (for a
//    connection-rate load, the dump was the feed's whole cost in
//    bench/gateway/connrate.sh). Every SWEEP_TICKS the dump takes the settled
//    entries too, so a settled flow the core let go loses its entry then;
//  - TCP state: conntrack's state becomes the socket events the core already
//    knows (connEvent): ESTABLISHED; the first FIN by the side that sent it
//    (conntrack's CLOSE_INIT flag); the second; a reset (CLOSE);
//  - counters (nf_conntrack_acct): the addon keeps each entry's counters as
//    last read and hands over the difference, so every record and destroy
//    event carries the packets and bytes since the last look and no per-flow
//    state is kept here; less what the core counted itself (queued packets
//    the core rewrote: held verdicts turned later; the core does not count a
//    packet it marks for a fast flow) they go to the real server, its service
//    and the total. (Not the kernel's get-and-zero dump: it resets an entry's
//    counters before writing them, and an entry that then overflows the
//    dump's buffer is sent again in the next with its counters lost.)
//  - TCP events: the core's own state of the connection says which it has
//    had (the per-flow memory), conntrack's state which it needs;
//  - a flow whose counters moved re-arms its entry in the core (ESTABLISHED
//    or UDP), so a busy flow never expires there;
//  - a flow the core no longer has (expired on its own timeout, dropped by
//    expire_nodest_conn, flushed) loses its conntrack entry too: its next
//    packet is new to the kernel and goes through the core again, as a packet
//    without an IPVS connection does.
// The records are applied by the core, a batch per call (ctApply: the lookup,
// the counters, the TCP events); destroy events are read straight into its
// memory (REGION_CT). What is left here is the notes, and carrying out what
// the core answers for the kernel's entries (delete, settle, promote).
// IPv4 and IPv6 entries alike: one dump lists both, each record says its family.
import { createRequire } from 'node:module';
import { layout as L } from '../../sdk/core/abi.gen.js';
import type { Director } from '../../sdk/director.js';
import { coreOf } from '../../sdk/core/index.js';
import { loadNativeAddon } from '../../native/addon.js';

/** The addon's ctnetlink socket (ct_socket.cc). */
export interface NativeConntrack {
  /**
   * deltas: each record's counters are those since the entry's last read (the addon keeps the last
   * values; destroy events too); prune: the dump lists all our entries, those it did not list are forgotten.
   */
  dump(mark: number, mask: number, deltas?: boolean, prune?: boolean): Uint8Array;
  /**
   * The entries with the original tuples of the first n records of `recs` (the core's ctTrackNext),
   * one GET each (a hash lookup, no walk), as a dump in delta mode lists them (mark/mask filtered).
   */
  lookup?(recs: Uint8Array, n: number, mark: number, mask: number): Uint8Array;
  /** The same dump read in slices (its own socket): begin, then records until dumpActive() is false. */
  dumpBegin?(mark: number, mask: number, deltas?: boolean, prune?: boolean): void;
  /** What was read so far, parsed until `max` records; none while the addon's reader is still reading (wait: block until `max` or the end). */
  dumpNext?(max: number, wait?: boolean): Uint8Array;
  dumpActive?(): boolean;
  /**
   * quick: done after a read that found the socket empty, without the read more that sees EAGAIN (an overrun is then reported by the next full read).
   * target: the records are written into it (the core's REGION_CT; at most as many as fit) and their number returned, instead of a Buffer.
   */
  events(mark: number, mask: number, max: number, quick?: boolean, target?: Uint8Array): Uint8Array | number;
  flush(mark: number, mask: number): void;
  /** IPv4: src and dst as numbers; IPv6: four words each. */
  remove(proto: number, src: number | Uint32Array, dst: number | Uint32Array, sport: number, dport: number): boolean;
  /**
   * n tuples of 6 (protocol, orig src, dst, sport, dport, new mark), or with v6 of 12 (the
   * addresses as four words each) → how many entries took it.
   */
  setMarks(list: Uint32Array, n: number, v6?: boolean, timeoutS?: number): number;
  stats(): { dumps: number; events: number; datagrams: number; enobufs: number; marks?: number; lookups?: number };
  close(): void;
}
export type NativeConntrackClass = new (options: { events?: boolean; rcvBuf?: number }) => NativeConntrack;

/** The Conntrack class of the addon the gateway loaded. */
export function loadConntrack(): NativeConntrackClass {
  const { path } = loadNativeAddon();
  const C = (createRequire(import.meta.url)(path) as { Conntrack?: NativeConntrackClass }).Conntrack;
  if (!C) throw new Error(`the addon at ${path} has no conntrack support (rebuild it: npm run build:native)`);
  return C;
}

/**
 * Record layout of ct_socket.cc. FAMILY 6: the addresses are the four words
 * at OSRC6.. (the core's form), the IPv4 fields 0; anything else is IPv4.
 */
export const CT = {
  SIZE: L.CT_REC_SIZE, KIND: L.CT_KIND, PROTO: L.CT_PROTO, STATE: L.CT_STATE, CLOSE: L.CT_CLOSE, MARK: L.CT_MARK, ID: L.CT_ID,
  TIMEOUT: L.CT_TIMEOUT, OSRC: L.CT_OSRC, ODST: L.CT_ODST, OSPORT: L.CT_OSPORT, ODPORT: L.CT_ODPORT,
  RSRC: L.CT_RSRC, RDST: L.CT_RDST, RSPORT: L.CT_RSPORT, RDPORT: L.CT_RDPORT, FAMILY: L.CT_FAMILY,
  OPKTS: L.CT_OPKTS, OBYTES: L.CT_OBYTES, RPKTS: L.CT_RPKTS, RBYTES: L.CT_RBYTES,
  OSRC6: L.CT_OSRC6, ODST6: L.CT_ODST6, RSRC6: L.CT_RSRC6, RDST6: L.CT_RDST6,
  KIND_DUMP: L.CT_KIND_DUMP, KIND_NEW: L.CT_KIND_NEW, KIND_UPDATE: L.CT_KIND_UPDATE, KIND_DESTROY: L.CT_KIND_DESTROY,
} as const;

/**
 * The bit a settled entry's ct mark gains (outside the DNAT, whose map was
 * read at the entry's first packet). Our entries are those whose mark matches
 * under the feed's mask less this bit (anyMask).
 */
export const CT_SETTLED = 0x00400000;
/**
 * Seconds a settled entry stays in conntrack (its TIME_WAIT or CLOSE timer cut
 * to this): the core keeps the connection for IPVS's own TIME_WAIT, so the
 * kernel's entry is needed only for the flow's last packets (a retransmitted
 * FIN the real server sends late is still de-NATed), not for conntrack's
 * 120 s. At 7,000 connections/s 120 s of TIME_WAIT filled the default
 * nf_conntrack_max (262,144) in about 37 s, and a full table drops new flows,
 * which IPVS, keeping no conntrack entries, never does. A packet after the
 * entry is gone is new to the kernel and meets the core, which still has
 * the connection. The same value is the fast path's ct timeout policy for
 * TIME_WAIT and CLOSE (fastpath.ts), so a short connection's entry goes this
 * long after its close without any update from here, before its young
 * generation comes round (CT_YOUNG). (It was 10 s: the real server's
 * retransmitted FIN or ACK still de-NATed that much later; after 1 s such a
 * late reply leaves un-NATed, which the client ignores.)
 */
export const SETTLED_CT_TIMEOUT_S = 1;

/**
 * The bits of a young TCP entry's ct mark (outside the DNAT's: the map is
 * read with them masked off): one of two generations, the one in force when
 * its first packet was queued (CtFeed.young, set by retarget). Each tick's
 * dump asks for the entries with neither bit, and those of the generation
 * handed out next (masking its bit off: one walk of the table), then that
 * generation is handed out and the other's entries wait for the next tick. So
 * a young entry is listed once it is 1–2 s old, and then promoted (its bit
 * cleared: one batched update) or, closed, settled. A short connection is
 * over and its entry gone before that (its TIME_WAIT cut to
 * SETTLED_CT_TIMEOUT_S by the fast path's ct timeout policy): the kernel
 * kills the entry unread, and its destroy event, with the entry's TCP state
 * and counters, is the one record the feed reads of it. For a connection-rate
 * load this takes the dump's listing and the settle update out of nearly
 * every connection (bench/gateway/ANALYSIS.md). UDP flows are not made young:
 * the core's UDP timeout may be shorter than the wait.
 */
export const CT_YOUNG = 0xa0000000;
/** The young bit of generation g (1 or 2). */
export const youngBits = (g: number) => (g === 1 ? 0x20000000 : 0x80000000);

/**
 * A tick reads the fast flows the core tracks by their tuples (lookup) while at most this many are
 * to be read; past it (or when one went untracked, or at a sweep) it walks conntrack's table as before.
 * A GET never holds a CPU with softirqs off for a walk's length (bench/gateway/ANALYSIS.md), but costs
 * the gateway's thread about 3 µs (a walk that lists 2,846 entries, 9 ms): past this many, about 25 ms
 * a second, the walk's one stall is the smaller price.
 */
export const LOOKUP_MAX = 8192;

/** Tuples read per slice of a tick that reads by tuple. */
const LOOKUP_SLICE = 64;

/** Every SWEEP_TICKS ticks the dump lists the settled entries too. */
export const SWEEP_TICKS = 30;

/** Records per slice of a sliced tick (about 1 ms of work on this machine's core). */
export const SLICE = 256;
/** slice(): the dump's next part is still being read by the addon's thread. */
const WAITING = 2;
/** How often a sliced tick looks for the next part of a dump the addon's thread is reading (ms). */
const DUMP_POLL_MS = 2;
/** A queued-packet note whose flow never showed up is dropped after this many ticks. */
const NOTE_TICKS = 10;

export interface FeedStats { flows: number; fedPackets: number; events: number; removed: number; lost: number; settled: number; promoted: number }

/** Keys of the queued first packets of IPv6 flows: protocol, client address (four words, the core's form) and port, real server address and port. */
export const queuedKey6 = (proto: number, c: ArrayLike<number>, cport: number, r: ArrayLike<number>, rport: number) =>
  `${proto} ${c[0] >>> 0}:${c[1] >>> 0}:${c[2] >>> 0}:${c[3] >>> 0} ${cport} ${r[0] >>> 0}:${r[1] >>> 0}:${r[2] >>> 0}:${r[3] >>> 0} ${rport}`;
/** Four address words of an IPv6 record at `o` + `at`. */
const words = (v: DataView, at: number) =>
  Uint32Array.of(v.getUint32(at, true), v.getUint32(at + 4, true), v.getUint32(at + 8, true), v.getUint32(at + 12, true));
const isV6 = (v: DataView, o: number) => v.getUint8(o + CT.FAMILY) === 6;

/** A note of a fast IPv6 flow's queued packets (counted by the core), under its queuedKey6. */
interface Note { pkts: number; bytes: number; tick: number }

/** At most this many queued-packet notes are kept (IPv4 and IPv6 each). */
const MAX_NOTES = 1 << 20;

/**
 * The notes of IPv4 fast flows' queued packets: an open-addressing hash table
 * over typed arrays keyed by the whole tuple (protocol, client address and
 * port, real server address and port), linear probing, deletion by shifting
 * back. One note per flow and one lookup per queued packet and per record,
 * with no object, string or Map entry per connection (a Map of note objects
 * was ~3 % of the gateway's samples at 9,000 connections/s).
 */
export class NoteTable {
  private mask = 0;
  private proto = new Uint8Array(0); // 0: empty slot
  private caddr = new Uint32Array(0);
  private raddr = new Uint32Array(0);
  private ports = new Uint32Array(0); // client port | real server port << 16
  private pkts = new Uint32Array(0);
  private bytes = new Float64Array(0);
  private ticks = new Uint32Array(0);
  size = 0;
  /** What take() found: the note's packets and bytes. */
  takenPkts = 0;
  takenBytes = 0;

  constructor(private readonly max = MAX_NOTES, slots = 1 << 12) {
    this.alloc(slots);
  }

  private alloc(slots: number): void {
    this.mask = slots - 1;
    this.proto = new Uint8Array(slots);
    this.caddr = new Uint32Array(slots);
    this.raddr = new Uint32Array(slots);
    this.ports = new Uint32Array(slots);
    this.pkts = new Uint32Array(slots);
    this.bytes = new Float64Array(slots);
    this.ticks = new Uint32Array(slots);
    this.size = 0;
  }

  private home(caddr: number, ports: number, raddr: number): number {
    let h = Math.imul(caddr ^ Math.imul(ports, 0x9e3779b1), 0x85ebca6b) ^ raddr;
    h = Math.imul(h ^ (h >>> 15), 0xc2b2ae35);
    return (h ^ (h >>> 13)) & this.mask;
  }

  /** The slot holding this flow's note, or -1. */
  private find(proto: number, caddr: number, ports: number, raddr: number): number {
    for (let i = this.home(caddr, ports, raddr); ; i = (i + 1) & this.mask) {
      const p = this.proto[i];
      if (p === 0) return -1;
      if (p === proto && this.caddr[i] === caddr && this.ports[i] === ports && this.raddr[i] === raddr) return i;
    }
  }

  /** Counts a queued packet of `len` bytes on the flow's note (made at `tick` if new); false when full. */
  add(proto: number, caddr: number, cport: number, raddr: number, rport: number, len: number, tick: number): boolean {
    caddr >>>= 0; raddr >>>= 0;
    const ports = (cport | (rport << 16)) >>> 0;
    let i = this.find(proto, caddr, ports, raddr);
    if (i < 0) {
      if (this.size >= this.max) return false;
      if (2 * (this.size + 1) > this.mask + 1) this.grow();
      for (i = this.home(caddr, ports, raddr); this.proto[i] !== 0; i = (i + 1) & this.mask);
      this.proto[i] = proto; this.caddr[i] = caddr; this.raddr[i] = raddr; this.ports[i] = ports;
      this.pkts[i] = 0; this.bytes[i] = 0; this.ticks[i] = tick;
      this.size++;
    }
    this.pkts[i]++;
    this.bytes[i] += len;
    return true;
  }

  /** Takes the flow's note out (its counts in takenPkts, takenBytes); false when there is none. */
  take(proto: number, caddr: number, cport: number, raddr: number, rport: number): boolean {
    if (this.size === 0) return false;
    const i = this.find(proto, caddr >>> 0, (cport | (rport << 16)) >>> 0, raddr >>> 0);
    if (i < 0) return false;
    this.takenPkts = this.pkts[i];
    this.takenBytes = this.bytes[i];
    this.remove(i);
    return true;
  }

  /** Empties slot i, shifting back the notes after it whose probe passed through it. */
  private remove(i: number): void {
    const m = this.mask;
    for (let j = (i + 1) & m; this.proto[j] !== 0; j = (j + 1) & m) {
      const h = this.home(this.caddr[j], this.ports[j], this.raddr[j]);
      // j's note may move to i when its home is not in (i, j] (cyclically).
      if (i <= j ? h > i && h <= j : h > i || h <= j) continue;
      this.move(j, i);
      i = j;
    }
    this.proto[i] = 0;
    this.size--;
  }

  private move(from: number, to: number): void {
    this.proto[to] = this.proto[from]; this.caddr[to] = this.caddr[from]; this.raddr[to] = this.raddr[from];
    this.ports[to] = this.ports[from]; this.pkts[to] = this.pkts[from]; this.bytes[to] = this.bytes[from]; this.ticks[to] = this.ticks[from];
  }

  /** Keeps only the notes with a tick of at least `oldest` (those whose flow never showed up go). */
  expire(oldest: number): void {
    this.rebuild(this.mask + 1, oldest);
  }

  clear(): void {
    if (this.size) this.alloc(1 << 12);
  }

  private grow(): void {
    this.rebuild(2 * (this.mask + 1), 0);
  }

  /** The notes again in `slots` slots, those with a tick of at least `oldest`. */
  private rebuild(slots: number, oldest: number): void {
    const { proto, caddr, raddr, ports, pkts, bytes, ticks } = this;
    const old = this.mask + 1;
    this.alloc(slots);
    for (let i = 0; i < old; i++) {
      if (proto[i] === 0 || ticks[i] < oldest) continue;
      let j = this.home(caddr[i], ports[i], raddr[i]);
      while (this.proto[j] !== 0) j = (j + 1) & this.mask;
      this.proto[j] = proto[i]; this.caddr[j] = caddr[i]; this.raddr[j] = raddr[i]; this.ports[j] = ports[i];
      this.pkts[j] = pkts[i]; this.bytes[j] = bytes[i]; this.ticks[j] = ticks[i];
      this.size++;
    }
  }
}

export class CtFeed {
  /**
   * Packets and bytes of fast flows the core counted itself (their queued
   * packets) and the tick of the note, until the flow's next record takes
   * them off its counters: IPv4 flows' in the note table, IPv6 flows' by queuedKey6.
   */
  private readonly queued = new NoteTable();
  private readonly queuedFull = new Map<string, Note>();
  /** Views of the core's REGION_CT and of its memory, made again only when the memory grows. */
  private regionCache: { buf: ArrayBufferLike; base: number; bytes: Uint8Array; dv: DataView } | null = null;
  private tickNo = 0;
  /** flows: the entries the last dump listed (the unsettled ones, all of them at a sweep). */
  readonly totals: FeedStats = { flows: 0, fedPackets: 0, events: 0, removed: 0, lost: 0, settled: 0, promoted: 0 };
  /** Our entries, settled or not. */
  readonly anyMask: number;
  /**
   * The young bit new TCP flows' marks take now (retarget), of generation
   * gen; each tick's dump lists the other generation's entries too (made 1–2 s
   * ago), then hands it out.
   */
  young = youngBits(1);
  private gen = 1;
  /** Told the young bits each time a generation is handed out (the gateway passes them to the core, gwFastParams). */
  onYoung: ((young: number) => void) | null = null;
  /** Entries promoted out of their young generation (their bits cleared, no timeout change). */
  private readonly promote = new MarkLists();
  /** Entries to settle after this tick's records (their settled mark, SETTLED_CT_TIMEOUT_S). */
  private readonly settle = new MarkLists();
  private sweeping = false;
  /** A sliced tick is under way (tickSliced), and the entries its dump listed so far. */
  private slicing = false;
  /** A listing's read under way (readNowAsync): its token while it holds the dump socket. */
  private catching: object | null = null;
  private listed = 0;
  /** The sliced tick reads the tracked flows by tuple (lookup) instead of a dump. */
  private byTuple = false;
  /** Ticks that read by tuple and walked (at sweeps, past LOOKUP_MAX). */
  readonly rounds = { byTuple: 0, walked: 0 };
  /** Entries asked for by tuple (one GET each), all ticks together. */
  get lookups(): number { return this.ct.stats().lookups ?? 0; }
  /** The sliced tick is still reading the pending events (its dump not begun yet). */
  private eventsLeft = false;
  /** An events-only pass (eventsSliced) is under way. */
  private eventing = false;

  constructor(private readonly ct: NativeConntrack, private readonly director: Director, readonly mark: number, readonly mask: number) {
    if ((mark & CT_SETTLED) !== 0) throw new RangeError(`conntrack feed: mark ${mark.toString(16)} has the settled bit`);
    if ((mark & CT_YOUNG) !== 0 || ((mask & CT_YOUNG) >>> 0) !== CT_YOUNG) throw new RangeError(`conntrack feed: mark ${mark.toString(16)} / ${mask.toString(16)} must leave the young bits to the feed`);
    this.anyMask = (mask & ~CT_SETTLED & ~CT_YOUNG) >>> 0;
  }

  /** A queued packet of a fast flow (counted by the core), `len` bytes. */
  countQueued(proto: number, caddr: number, cport: number, raddr: number, rport: number, len: number): void {
    this.queued.add(proto, caddr, cport, raddr, rport, len, this.tickNo);
  }

  /** A queued packet of a fast IPv6 flow, under its queuedKey6. */
  countQueued6(key: string, len: number): void {
    let q = this.queuedFull.get(key);
    if (!q) {
      if (this.queuedFull.size >= MAX_NOTES) return;
      this.queuedFull.set(key, q = { pkts: 0, bytes: 0, tick: this.tickNo });
    }
    q.pkts++;
    q.bytes += len;
  }

  /** The note takeNote found: its packets and bytes. */
  private notePkts = 0;
  private noteBytes = 0;

  /** The note of record `o`'s flow, taken out of the notes (its counts in notePkts, noteBytes); false when none. */
  private takeNote(v: DataView, o: number): boolean {
    if (isV6(v, o)) {
      if (!this.queuedFull.size) return false;
      const key6 = queuedKey6(v.getUint8(o + CT.PROTO), words(v, o + CT.OSRC6), v.getUint16(o + CT.OSPORT, true), words(v, o + CT.RSRC6), v.getUint16(o + CT.RSPORT, true));
      const q6 = this.queuedFull.get(key6);
      if (!q6) return false;
      this.queuedFull.delete(key6);
      this.notePkts = q6.pkts;
      this.noteBytes = q6.bytes;
      return true;
    }
    const t = this.queued;
    if (!t.take(v.getUint8(o + CT.PROTO), v.getUint32(o + CT.OSRC, true), v.getUint16(o + CT.OSPORT, true),
      v.getUint32(o + CT.RSRC, true), v.getUint16(o + CT.RSPORT, true))) return false;
    this.notePkts = t.takenPkts;
    this.noteBytes = t.takenBytes;
    return true;
  }

  /** Our conntrack entries, all of them (start, stop: the core's table is empty or going). */
  flushAll(): void {
    this.ct.flush(this.mark, this.anyMask);
    this.queued.clear();
    this.queuedFull.clear();
  }

  /**
   * The entries of one real server's mark (it left the map: deleted, or its
   * service left the fast path). Their next packets are new to the kernel and
   * meet the core, which drops them as IPVS does for a connection whose real
   * server is gone (or forwards them on the userspace path).
   */
  flushMark(mark: number): void {
    this.ct.flush(mark, (~CT_SETTLED & ~CT_YOUNG) >>> 0);
  }

  /**
   * The pending destroy events, up to `max`, read and applied now (the gateway's drain, between reading
   * a burst with a stale SYN and deciding it). Conntrack sends a flow's destroy event before it
   * queues the packet that reuses the flow's tuple (the SYN that ends a TIME_WAIT entry, or meets an
   * expired one), so the core then knows how the old flow ended before it decides the new one. Returns how many.
   */
  eventsNow(max: number): number {
    const got = this.readEvents(max, true);
    this.flushSettle();
    return got;
  }

  /** Events, then one dump: the core brought up to date (all: every entry of ours, the young ones too; at stop). Returns the flows listed. */
  tick(all = false): number {
    this.finishSliced();
    this.beginTick();
    const dump = this.ct.dump(this.mark, all ? this.anyMask : this.dumpMask(), true, this.sweeping || all);
    this.apply(dump);
    return this.endTick(dump.byteLength / CT.SIZE);
  }

  /**
   * Before a listing (the control socket's -L, --stats, -c): the core brought up to what the kernel
   * carried until now, between the ticks and without being one (no generation handed out, no sweep,
   * the notes' age untouched): a sliced tick under way finished, the pending destroy events, then one
   * dump of every entry of ours (young and settled ones too). Each packet is still handed over once
   * whatever the order of these reads (the addon's ledger, ct_socket.cc). Returns the entries listed.
   */
  readNow(): number {
    this.finishSliced();
    this.readEvents(65536);
    const dump = this.ct.dump(this.mark, this.anyMask, true, false);
    this.apply(dump);
    this.flushSettle();
    return dump.byteLength / CT.SIZE;
  }

  /**
   * readNow without holding the event loop: the same reads (the pending destroy events, then one dump
   * of every entry of ours), the dump read by the addon's thread and applied SLICE records at a time,
   * the queue's packets answered meanwhile. A sliced tick under way finishes first (it holds the dump
   * socket); while this read runs, ticks and the event reader wait their next turn; a stop (tick,
   * finishSliced) or a synchronous readNow meanwhile finishes it at once. Resolves with the entries listed.
   */
  async readNowAsync(): Promise<number> {
    if (!this.ct.dumpBegin) return this.readNow();
    // Bounded: a round's dump is read in well under this.
    for (let i = 0; this.slicing && i < 2500; i++) await new Promise((r) => setTimeout(r, DUMP_POLL_MS));
    if (this.slicing) return this.readNow();
    const token = {};
    this.slicing = true;
    this.catching = token;
    try {
      this.readEvents(65536);
      this.ct.dumpBegin(this.mark, this.anyMask, true, false);
      let listed = 0;
      while (this.catching === token) {
        const recs = this.ct.dumpNext!(SLICE);
        listed += recs.byteLength / CT.SIZE;
        this.apply(recs);
        this.flushSettle();
        if (!this.ct.dumpActive!()) break;
        await new Promise((r) => (recs.byteLength ? setImmediate(r) : setTimeout(r, DUMP_POLL_MS)));
      }
      return listed;
    } finally {
      if (this.catching === token) {
        this.catching = null;
        this.slicing = false;
      }
    }
  }

  /**
   * Whether this tick reads the tracked flows by tuple: the addon can, no sweep is due (a sweep's walk
   * lists every entry of ours, those the core does not track too), none went untracked, and at most
   * LOOKUP_MAX are to be read.
   */
  private tupleRound(): boolean {
    if (!this.ct.lookup) return false;
    const x = coreOf(this.director).x;
    // The tracker's finished flows go whichever way the tick reads (a walk does not scan it).
    const n = x.ctTrackPrepare(this.director.now());
    if (this.sweeping) return false;
    return (x.ctTrackState() >>> 0) < 0x80000000 && n <= LOOKUP_MAX;
  }

  /** This tick's dump: our unsettled entries and the next generation's young ones (at a sweep, every entry of ours). */
  private dumpMask(): number {
    return this.sweeping ? this.anyMask : (this.mask & ~youngBits(3 - this.gen)) >>> 0;
  }

  /**
   * The same without holding the event loop (the gateway's timer): the dump
   * is read and applied SLICE records at a time, the queue's packets answered
   * in between (setImmediate), each slice's closed flows settled with it.
   * False when the last one is still going (or the addon reads dumps whole:
   * then it ran as tick()).
   */
  tickSliced(onError: (e: unknown) => void): boolean {
    if (this.slicing) return false;
    if (!this.ct.dumpBegin) {
      this.tick();
      return false;
    }
    // The pending destroy events first, a slice at a time too (a connection-rate load brings thousands a
    // second, each a full record now that short flows are never dumped), then the dump.
    this.beginTick(false);
    this.eventsLeft = true;
    this.slicing = true;
    this.listed = 0;
    const step = () => {
      if (!this.slicing) return; // finished meanwhile (finishSliced) or closed
      try {
        const more = this.slice(SLICE);
        // The addon's reader thread still walking the kernel's table: back in a moment, the loop free meanwhile.
        if (more === WAITING) return void setTimeout(step, DUMP_POLL_MS);
        if (more) return void setImmediate(step);
        this.slicing = false;
        this.endTick(this.listed);
      } catch (e) {
        this.slicing = false;
        onError(e);
      }
    };
    setImmediate(step);
    return true;
  }

  /**
   * Between ticks (the gateway's faster timer): the pending destroy events read and applied a
   * slice at a time. Every short connection's one record is its destroy event, thousands a
   * second under a connection-rate load: read only once a second they can overrun the socket's
   * buffer (ENOBUFS, ct_lost), and a young flow whose event is lost is never read at all.
   */
  eventsSliced(onError: (e: unknown) => void): void {
    if (this.eventing || this.slicing) return;
    this.eventing = true;
    const step = () => {
      if (!this.eventing) return;
      try {
        const got = this.readEvents(SLICE);
        this.flushSettle();
        if (got >= SLICE) return void setImmediate(step);
      } catch (e) {
        onError(e);
      }
      this.eventing = false;
    };
    setImmediate(step);
  }

  /** A sliced tick under way is finished at once (the counters its records carry are read only once: they must not be lost). */
  finishSliced(): void {
    if (!this.slicing) return;
    if (this.catching) {
      // A listing's read (readNowAsync): its dump read and applied now; no round ends.
      try {
        while (this.ct.dumpActive!()) {
          this.apply(this.ct.dumpNext!(1 << 20, true));
          this.flushSettle();
        }
      } finally {
        this.catching = null;
        this.slicing = false;
      }
      return;
    }
    try {
      while (this.slice(1 << 20, true));
    } finally {
      this.slicing = false;
    }
    this.endTick(this.listed);
  }

  /**
   * One slice of the sliced tick applied (events, then the dump); true while more is to come,
   * WAITING when the dump's next part is still being read (wait: block for it instead).
   */
  private slice(max: number, wait = false): boolean | typeof WAITING {
    if (this.eventsLeft) {
      const got = this.readEvents(max);
      this.flushSettle();
      if (got >= max) return true;
      this.eventsLeft = false;
      this.byTuple = this.tupleRound();
      if (this.byTuple) this.rounds.byTuple++;
      else {
        this.rounds.walked++;
        this.ct.dumpBegin!(this.mark, this.dumpMask(), true, this.sweeping);
      }
      return true;
    }
    if (this.byTuple) {
      // GETs run on this thread (each a hash lookup, and the reaping of an expired entry it finds):
      // a smaller slice than a dump's, so the queue's packets are answered between them.
      const want = Math.min(max, LOOKUP_SLICE, L.CT_MAX);
      const core = coreOf(this.director);
      const n = core.x.ctTrackNext(want, this.director.now());
      if (n > 0) {
        // Any young bits: the core picks the flows by age, and a flow's generation may be the one in force again.
        const recs = this.ct.lookup!(this.region().bytes, n, this.mark, (this.mask & ~CT_YOUNG) >>> 0);
        this.listed += recs.byteLength / CT.SIZE;
        this.apply(recs);
        this.flushSettle();
      }
      return n === want;
    }
    const recs = this.ct.dumpNext!(max, wait);
    this.listed += recs.byteLength / CT.SIZE;
    this.apply(recs);
    this.flushSettle();
    if (!this.ct.dumpActive!()) return false;
    return recs.byteLength === 0 ? WAITING : true;
  }

  /** Up to `max` pending destroy events read and applied; how many. */
  private readEvents(max: number, quick = false): number {
    // Straight into the core's memory, a region's worth at a time (no Buffer, no copy in JS).
    let total = 0;
    while (total < max) {
      const want = Math.min(max - total, L.CT_MAX);
      const got = this.ct.events(this.mark, this.anyMask, want, quick, this.region().bytes);
      // A number: written into the region (the addon); a Buffer: read whole (a reader without targets).
      const n = typeof got === 'number' ? got : got.byteLength / CT.SIZE;
      if (typeof got === 'number') this.applyRegion(n);
      else this.apply(got);
      total += n;
      if (n < want) break;
    }
    this.totals.events += total;
    return total;
  }

  /** The core's REGION_CT as bytes, and its whole memory as a DataView (offsets from 0). */
  private region() {
    const core = coreOf(this.director);
    const buf = core.x.memory.buffer;
    const c = this.regionCache;
    if (c && c.buf === buf && c.base === core.base) return c;
    return (this.regionCache = { buf, base: core.base, bytes: new Uint8Array(buf, core.base + L.REGION_CT, L.REGION_CT_SIZE), dv: new DataView(buf) });
  }

  private beginTick(events = true): void {
    this.tickNo++;
    this.sweeping = this.tickNo % SWEEP_TICKS === 0;
    if (!events) return;
    this.readEvents(65536);
  }

  private endTick(listed: number): number {
    // A sweep listed every entry of ours and the core tracked those it lacked: reads by tuple may resume.
    if (this.sweeping) coreOf(this.director).x.ctTrackReset();
    // The other generation's entries were listed (and promoted or settled): it is handed out now.
    this.gen = 3 - this.gen;
    this.young = youngBits(this.gen);
    this.onYoung?.(this.young);
    if (this.tickNo % NOTE_TICKS === 0) {
      this.queued.expire(this.tickNo - NOTE_TICKS);
      for (const [k, q] of this.queuedFull) if (q.tick < this.tickNo - NOTE_TICKS) this.queuedFull.delete(k);
    }
    this.flushSettle();
    this.totals.flows = listed;
    this.totals.lost = this.ct.stats().enobufs;
    return listed;
  }

  /** The entries queued to settle take their settled mark, those promoted their plain one (batched updates). */
  private flushSettle(): void {
    this.totals.promoted += this.promote.send(this.ct);
    this.totals.settled += this.settle.send(this.ct, SETTLED_CT_TIMEOUT_S);
  }

  close(): void {
    this.slicing = false;
    this.eventing = false;
    this.catching = null;
    this.ct.close();
  }

  /** Records read whole (a dump's slice; a Buffer of events): into the core's region and applied, a region's worth at a time. */
  private apply(buf: Uint8Array): void {
    const n = buf.byteLength / CT.SIZE;
    for (let at = 0; at < n; at += L.CT_MAX) {
      const m = Math.min(L.CT_MAX, n - at);
      this.region().bytes.set(buf.subarray(at * CT.SIZE, (at + m) * CT.SIZE));
      this.applyRegion(m);
    }
  }

  /**
   * The n records at the core's REGION_CT applied by the core in one call (ctApply: the lookup, the
   * counters to the statistics, conntrack's TCP state as connection events), less first the packets
   * the core counted itself (the notes of the queued packets; a settled flow has had all of its: a
   * note under its key now is a new flow's on the same tuple). Then what the core asks of the
   * kernel's entries: a delete (no connection), a settled or a promoted mark (batched).
   */
  private applyRegion(n: number): void {
    if (n === 0) return;
    const core = coreOf(this.director);
    let { dv, base } = this.region();
    const recs = base + L.REGION_CT;
    if (this.queued.size || this.queuedFull.size) {
      for (let k = 0, o = recs; k < n; k++, o += CT.SIZE) {
        if ((dv.getUint32(o + CT.MARK, true) & CT_SETTLED) !== 0 || !this.takeNote(dv, o)) continue;
        dv.setFloat64(o + CT.OPKTS, Math.max(0, dv.getFloat64(o + CT.OPKTS, true) - this.notePkts), true);
        dv.setFloat64(o + CT.OBYTES, Math.max(0, dv.getFloat64(o + CT.OBYTES, true) - this.noteBytes), true);
      }
    }
    const acts = core.x.ctApply(n, this.director.now(), CT_SETTLED, CT_YOUNG);
    if (acts < 0) throw new Error(`conntrack feed: the core refused ${n} records (status ${acts})`);
    // The call may have grown the memory.
    ({ dv } = this.region());
    this.totals.fedPackets += dv.getFloat64(base + L.REGION_SPEC + L.CT_SUM_FED, true);
    this.act(() => this.region().dv, recs, base + L.REGION_LIST, acts);
  }

  /**
   * What the core asked of the kernel's entries (ctApply's `acts` actions at `list`, on the records
   * at `recs`, both read through `view()`, taken again after each call out): a delete, or a settled or
   * promoted mark (queued, sent with flushSettle).
   */
  private act(view: () => DataView, recs: number, list: number, acts: number): void {
    let dv = view();
    for (let a = 0; a < acts; a++) {
      const p = list + a * L.CT_ACT_SIZE;
      const o = recs + dv.getUint32(p + L.CT_ACT_REC, true) * CT.SIZE;
      const kind = dv.getUint32(p + L.CT_ACT_KIND, true);
      if (kind === L.CT_ACT_REMOVE) {
        const v6 = isV6(dv, o);
        if (this.ct.remove(dv.getUint8(o + CT.PROTO), v6 ? words(dv, o + CT.OSRC6) : dv.getUint32(o + CT.OSRC, true),
          v6 ? words(dv, o + CT.ODST6) : dv.getUint32(o + CT.ODST, true), dv.getUint16(o + CT.OSPORT, true), dv.getUint16(o + CT.ODPORT, true))) {
          this.totals.removed++;
        }
        // The delete may not run JS, but keep to the rule: views again after a call out.
        dv = view();
      } else {
        this.toSettle(dv, o, dv.getUint32(p + L.CT_ACT_MARK, true), kind === L.CT_ACT_PROMOTE);
      }
    }
  }

  /**
   * Records a gateway queue thread had the core apply (its destroy events, read before a burst with
   * stale SYNs: native/src/nfq_thread.cc), with the actions the core asked for: carried out here.
   */
  actionsFrom(ct: Uint8Array, acts: Uint8Array): void {
    const buf = new Uint8Array(ct.byteLength + acts.byteLength);
    buf.set(ct);
    buf.set(acts, ct.byteLength);
    const dv = new DataView(buf.buffer);
    this.act(() => dv, 0, ct.byteLength, acts.byteLength / L.CT_ACT_SIZE);
    this.flushSettle();
  }

  /** The feed's destroy events its socket gives (a queue thread reads them too: useConntrack). */
  get conntrack(): NativeConntrack { return this.ct; }

  /**
   * Whether it keeps notes of queued packets (held verdicts' first packets, counted by the core): the
   * records of their flows must have them taken off first, so a queue thread leaves those to JS.
   */
  get hasNotes(): boolean { return this.queued.size > 0 || this.queuedFull.size > 0; }

  /** Queues the entry of record `o` for its settled mark, or its promoted one (sent with the slice). */
  private toSettle(v: DataView, o: number, mark: number, promote = false): void {
    (promote ? this.promote : this.settle).push(v, o, mark);
  }
}

/** Conntrack entries queued for one batched mark update (setMarks): IPv4 ones 6 numbers each, IPv6 ones 12. */
class MarkLists {
  private v4 = new Uint32Array(6 * 1024);
  private n4 = 0;
  private v6 = new Uint32Array(12 * 256);
  private n6 = 0;

  push(v: DataView, o: number, mark: number): void {
    if (isV6(v, o)) {
      if ((this.n6 + 1) * 12 > this.v6.length) this.v6 = grow(this.v6);
      put6(this.v6, this.n6++ * 12, v, o, mark);
    } else {
      if ((this.n4 + 1) * 6 > this.v4.length) this.v4 = grow(this.v4);
      put4(this.v4, this.n4++ * 6, v, o, mark);
    }
  }

  /** Sends and empties both lists; the entries updated. */
  send(ct: Pick<NativeConntrack, 'setMarks'>, timeoutS?: number): number {
    let done = 0;
    if (this.n4) {
      const n = this.n4;
      this.n4 = 0;
      done += ct.setMarks(this.v4, n, false, timeoutS);
    }
    if (this.n6) {
      const n = this.n6;
      this.n6 = 0;
      done += ct.setMarks(this.v6, n, true, timeoutS);
    }
    return done;
  }
}

/** A list twice as long, the same numbers first. */
function grow(a: Uint32Array<ArrayBuffer>): Uint32Array<ArrayBuffer> {
  const bigger = new Uint32Array(a.length * 2);
  bigger.set(a);
  return bigger;
}

/** setMarks' tuple of IPv4 record `o` with `mark`, at list[at..at+5]. */
function put4(list: Uint32Array, at: number, v: DataView, o: number, mark: number): void {
  list[at] = v.getUint8(o + CT.PROTO);
  list[at + 1] = v.getUint32(o + CT.OSRC, true);
  list[at + 2] = v.getUint32(o + CT.ODST, true);
  list[at + 3] = v.getUint16(o + CT.OSPORT, true);
  list[at + 4] = v.getUint16(o + CT.ODPORT, true);
  list[at + 5] = mark;
}

/** The same for IPv6 record `o`, at list[at..at+11]. */
function put6(list: Uint32Array, at: number, v: DataView, o: number, mark: number): void {
  list[at] = v.getUint8(o + CT.PROTO);
  list.set(words(v, o + CT.OSRC6), at + 1);
  list.set(words(v, o + CT.ODST6), at + 5);
  list[at + 9] = v.getUint16(o + CT.OSPORT, true);
  list[at + 10] = v.getUint16(o + CT.ODPORT, true);
  list[at + 11] = mark;
}
