// The conntrack feed's accounting (ctfeed.ts with the addon's delta ledger,
// ct_socket.cc) replayed in the orders the kernel and the gateway's timers can
// produce, against a stand-in kernel that speaks ctnetlink bytes: every packet
// the kernel counted reaches `--stats` once, whatever the order of the reads.
//  - a dump of every entry of ours (the one at stop, a sweep) kills the expired
//    entries it walks over, as the kernel's dump does, so their destroy events
//    are still unread when it ends: their last counters must stay until then;
//  - the 200 ms event reader still going when the once-a-second round starts
//    reads destroy events between the round's dump slices, i.e. before the
//    dump's own, older record of the same entry (the kernel wrote it first);
//  - a listing (the control socket's -L --stats, -c) reads events and a dump
//    of its own in the middle of all this.
// And the ledger alone: an older record after a newer read, a new entry under
// the same key, entries gone without an event forgotten after a full dump.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { ADDON, inCI } from './prereq.js';
import { CT, CT_SETTLED, CtFeed, SLICE, SWEEP_TICKS, youngBits, type NativeConntrack } from '../../../hosts/gateway/ctfeed.js';
import { FAST_MARK_BASE, FAST_MARK_MASK } from '../../../hosts/gateway/fastpath.js';
import { director } from '../../helpers.js';
import { A, CT_DELETE, CT_NEW, attr, be32, be64, cat, ip, msg, nest, tuple } from '../../native/ct-msg.js';

const built = existsSync(ADDON);
if (!built && !inCI) console.warn(`\n*** SKIPPING conntrack feed accounting suite: addon not built (${ADDON}); npm run build:native ***\n`);
const suite = describe.skipIf(!built && !inCI);

interface Ledger {
  begin(sliced: boolean): number;
  dump(bytes: Uint8Array, epoch: number, mark: number, mask: number): Uint8Array;
  events(bytes: Uint8Array, mark: number, mask: number): Uint8Array;
  end(epoch: number, sliced: boolean, complete: boolean, prune: boolean): void;
  drained(): void;
  size(): number;
}
const Ledger = () => new ((createRequire(import.meta.url)(ADDON) as { Conntrack: { LedgerForTest: new () => Ledger } }).Conntrack.LedgerForTest)();

const C = '198.18.40.2', V = '198.18.42.1', R = '198.18.41.3';
const MARK = FAST_MARK_BASE + 1;
/** nf_conntrack_tcp states. */
const ESTABLISHED = 3, TIME_WAIT = 7;

interface Entry { id: number; cport: number; op: number; ob: number; rp: number; rb: number; state: number; mark: number; expired: boolean }

/** An entry as ctnetlink sends it (a dump's record, or with CT_DELETE its destroy event). */
const message = (e: Entry, type = CT_NEW) => msg(type, 0,
  tuple(A.TUPLE_ORIG, C, V, e.cport, 80), tuple(A.TUPLE_REPLY, R, C, 8080, e.cport),
  attr(A.MARK, be32(e.mark)), attr(A.ID, be32(e.id)),
  nest(A.COUNTERS_ORIG, attr(1, be64(e.op)), attr(2, be64(e.ob))), nest(A.COUNTERS_REPLY, attr(1, be64(e.rp)), attr(2, be64(e.rb))),
  // The client closed first (CLOSE_INIT on the original side).
  nest(A.PROTOINFO, nest(1, attr(1, Uint8Array.of(e.state)), attr(4, Uint8Array.of(0x04, 0x04)), attr(5, Uint8Array.of(0, 0x04)))));

/**
 * The kernel's side of the addon's Conntrack: a table of entries with counters, a queue of
 * destroy events, dumps that kill the expired entries they walk over (as ctnetlink's dump
 * does) and, read in slices, hand out records written when the dump began; every record
 * goes through the addon's real parser and delta ledger.
 */
class Kernel implements NativeConntrack {
  readonly led = Ledger();
  readonly table = new Map<number, Entry>();
  private queue: Uint8Array[] = [];
  private sliced: { recs: Uint8Array[]; epoch: number; mark: number; mask: number; prune: boolean } | null = null;
  /** Runs right after a sliced dump began (its records written). */
  onDumpBegin: (() => void) | null = null;
  /** Runs before a dump walks the table, with the dump's mask. */
  onWalk: ((mask: number) => void) | null = null;
  private ids = 100;

  open(cport: number, mark = MARK): Entry {
    const e = { id: this.ids++, cport, op: 1, ob: 60, rp: 0, rb: 0, state: 1, mark, expired: false };
    this.table.set(cport, e);
    return e;
  }
  /** Packets each way (52 bytes each), and the state they leave. */
  carry(cport: number, inPkts: number, outPkts: number, state = ESTABLISHED): void {
    const e = this.table.get(cport)!;
    e.op += inPkts; e.ob += 52 * inPkts; e.rp += outPkts; e.rb += 52 * outPkts; e.state = state;
  }
  kill(cport: number): void {
    const e = this.table.get(cport);
    if (!e) return;
    this.table.delete(cport);
    this.queue.push(message(e, CT_DELETE));
  }
  /** A walk of the table as a dump does: expired entries killed, the others' records. */
  private walk(mask: number): Uint8Array[] {
    this.onWalk?.(mask);
    const recs: Uint8Array[] = [];
    for (const e of [...this.table.values()]) {
      if (e.expired) this.kill(e.cport);
      else recs.push(message(e));
    }
    return recs;
  }

  dump(mark: number, mask: number, deltas?: boolean, prune?: boolean): Uint8Array {
    expect(deltas).toBe(true);
    const epoch = this.led.begin(false);
    const out = this.led.dump(cat(...this.walk(mask)), epoch, mark, mask);
    this.led.end(epoch, false, true, prune === true);
    return out;
  }
  dumpBegin(mark: number, mask: number, deltas?: boolean, prune?: boolean): void {
    expect(deltas).toBe(true);
    expect(this.sliced).toBeNull();
    this.sliced = { recs: this.walk(mask), epoch: this.led.begin(true), mark, mask, prune: prune === true };
    this.onDumpBegin?.();
  }
  dumpNext(max: number): Uint8Array {
    const s = this.sliced!;
    const out = this.led.dump(cat(...s.recs.splice(0, max)), s.epoch, s.mark, s.mask);
    if (!s.recs.length) {
      this.led.end(s.epoch, true, true, s.prune);
      this.sliced = null;
    }
    return out;
  }
  dumpActive(): boolean { return this.sliced !== null; }
  events(mark: number, mask: number, max: number): Uint8Array {
    const taken = this.queue.splice(0, max);
    const out = this.led.events(cat(...taken), mark, mask);
    if (taken.length < max) this.led.drained(); // read until the socket was empty
    return out;
  }
  setMarks(list: Uint32Array, n: number): number {
    let done = 0;
    for (let i = 0; i < n; i++) {
      const e = this.table.get(list[i * 6 + 3]);
      if (e) { e.mark = list[i * 6 + 5]; done++; }
    }
    return done;
  }
  flush(mark: number, mask: number): void {
    for (const e of [...this.table.values()]) if (((e.mark & mask) >>> 0) === ((mark & mask) >>> 0)) this.kill(e.cport);
  }
  remove(_p: number, _s: number, _d: number, sport: number): boolean {
    const had = this.table.has(sport);
    this.kill(sport);
    return had;
  }
  stats() { return { dumps: 0, events: 0, datagrams: 0, enobufs: 0 }; }
  close(): void {}
}

/** A director with the service and its real server, a kernel, a feed, and flows opened through both. */
async function setup() {
  const d = await director(3);
  const key = { protocol: 'tcp' as const, address: V, port: 80 };
  d.addService(key);
  d.addDest(key, { address: R, port: 8080, method: 'masq' });
  const k = new Kernel();
  const feed = new CtFeed(k, d, FAST_MARK_BASE, FAST_MARK_MASK);
  /** Everything the kernel counted for the service: entries alive and gone. */
  const carried = { inpkts: 0, inbytes: 0, outpkts: 0, outbytes: 0 };
  const all = new Map<number, Entry>();
  /** A flow's SYN through the core (which counts it; the feed takes it off the entry's counters), then its entry. */
  const open = (cport: number, mark = MARK) => {
    expect(d.packet({ protocol: 'tcp', direction: 'in', client: { address: C, port: cport }, virtual: { address: V, port: 80 }, flags: { syn: true }, length: 60 }, 10)[0]).toMatchObject({ ok: true });
    feed.countQueued(6, ip(C), cport, ip(R), 8080, 60);
    all.set(cport, k.open(cport, mark));
  };
  const truth = () => {
    const t = { ...carried };
    for (const e of all.values()) { t.inpkts += e.op; t.inbytes += e.ob; t.outpkts += e.rp; t.outbytes += e.rb; }
    return t;
  };
  const stats = () => {
    const s = d.service(key).stats;
    return { inpkts: s.inpkts, inbytes: s.inbytes, outpkts: s.outpkts, outbytes: s.outbytes };
  };
  const state = (cport: number) => d.connections().find((c) => c.client.port === cport)?.state;
  return { d, k, feed, open, truth, stats, state };
}

const turns = async (n = 50) => { for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r)); };

suite('the conntrack feed\'s accounting: each packet the kernel counted reaches --stats once, whatever the order of the reads', () => {
  it('a dump of every entry (at stop, at a sweep) kills the expired entries it walks over: their destroy events, read after it, hand over only what came since the last read', async () => {
    const { k, feed, open, truth, stats, state } = await setup();
    const ports = [41000, 41001, 41002, 41003];
    for (const p of ports) open(p, MARK);
    for (const p of ports) k.carry(p, 10, 8);
    feed.tick();
    expect(stats()).toEqual(truth());
    // Closed and listed in TIME_WAIT (settled), a last ACK each way after that read, then expired.
    for (const p of ports) k.carry(p, 2, 2, TIME_WAIT);
    feed.tick();
    expect(ports.map(state)).toEqual(ports.map(() => 'TIME_WAIT'));
    expect([...k.table.values()].every((e) => (e.mark & CT_SETTLED) !== 0)).toBe(true);
    for (const p of ports) { k.carry(p, 1, 1, TIME_WAIT); k.table.get(p)!.expired = true; }
    // The full read at stop: its dump kills all four and lists none.
    expect(feed.tick(true)).toBe(0);
    expect(k.table.size).toBe(0);
    feed.tick(); // their destroy events
    expect(stats()).toEqual(truth());
    feed.tick();
    expect(stats()).toEqual(truth());

    // The same at a sweep (every SWEEP_TICKS ticks the sliced dump lists every entry of ours).
    const more = [41010, 41011, 41012];
    for (const p of more) open(p, MARK);
    for (const p of more) k.carry(p, 5, 5, TIME_WAIT);
    feed.tick();
    expect(stats()).toEqual(truth());
    for (const p of more) k.carry(p, 1, 1, TIME_WAIT);
    // They expire just before the sweep's dump walks the table (settled entries are left out of the others).
    let sweeps = 0;
    k.onWalk = (mask) => {
      if (mask !== feed.anyMask) return;
      sweeps++;
      for (const p of more) if (k.table.has(p)) k.table.get(p)!.expired = true;
    };
    for (let i = 0; i < SWEEP_TICKS + 1; i++) {
      const errors: unknown[] = [];
      expect(feed.tickSliced((e) => errors.push(e))).toBe(true);
      await turns();
      expect(errors).toEqual([]);
    }
    expect(sweeps).toBe(1);
    expect(k.table.size).toBe(0);
    feed.tick();
    expect(stats()).toEqual(truth());
    expect(k.led.size()).toBe(0);
  });

  it('destroy events read between the slices of a round\'s dump (the 200 ms reader still going when the round starts) come before the dump\'s older records of the same entries', async () => {
    const { k, feed, open, truth, stats, state } = await setup();
    // Long flows, listed (and promoted) by a round.
    const long = [42000, 42001, 42002, 42003, 42004];
    for (const p of long) open(p, (MARK | youngBits(2)) >>> 0);
    for (const p of long) k.carry(p, 20, 30);
    feed.tick();
    feed.tick();
    expect(stats()).toEqual(truth());
    expect(long.map(state)).toEqual(long.map(() => 'ESTABLISHED'));
    // Short flows that lived and died unlisted: 3 slices and a bit of destroy events pending, so the
    // event reader and the round's own event phase take turns until the round's dump begins, and the
    // reader's next turn comes before the dump's first slice.
    const short = Array.from({ length: 3 * SLICE + 10 }, (_, i) => 43000 + i);
    for (const p of short) open(p, (MARK | feed.young) >>> 0);
    for (const p of short) { k.carry(p, 4, 3, TIME_WAIT); k.kill(p); }
    // The round's dump has written its records of the long flows when they carry one more segment
    // each way, close and go: their destroy events queue behind it.
    k.onDumpBegin = () => {
      for (const p of long) { k.carry(p, 3, 3, TIME_WAIT); k.kill(p); }
      k.onDumpBegin = null;
    };
    const errors: unknown[] = [];
    feed.eventsSliced((e) => errors.push(e));
    expect(feed.tickSliced((e) => errors.push(e))).toBe(true);
    await turns();
    expect(errors).toEqual([]);
    expect(k.dumpActive()).toBe(false);
    feed.tick();
    expect(long.map(state)).toEqual(long.map(() => 'TIME_WAIT'));
    expect(short.every((p) => state(p) === 'TIME_WAIT')).toBe(true);
    expect(stats()).toEqual(truth());
    expect(k.led.size()).toBe(0);
  });

  it('a listing reads conntrack first (readNow): young flows\' counters so far, once, before and in the middle of a round, and again from their destroy events only what came after', async () => {
    const { k, feed, open, truth, stats, state } = await setup();
    const young = [44000, 44001];
    for (const p of young) open(p, (MARK | feed.young) >>> 0);
    for (const p of young) k.carry(p, 6, 5);
    // No round has listed them (too young): the listing's read does.
    expect(feed.readNow()).toBe(2);
    expect(stats()).toEqual(truth());
    expect(young.map(state)).toEqual(['ESTABLISHED', 'ESTABLISHED']);
    // A round under way (its dump begun), more traffic, a listing, the round's rest, the flows' end.
    for (const p of young) k.carry(p, 2, 2);
    const errors: unknown[] = [];
    k.onDumpBegin = () => { for (const p of young) k.carry(p, 1, 1); };
    expect(feed.tickSliced((e) => errors.push(e))).toBe(true);
    await new Promise((r) => setImmediate(r));
    expect(k.dumpActive()).toBe(true);
    expect(feed.readNow()).toBe(2);
    expect(k.dumpActive()).toBe(false);
    expect(stats()).toEqual(truth());
    await turns();
    for (const p of young) { k.carry(p, 2, 2, TIME_WAIT); k.kill(p); }
    expect(feed.readNow()).toBe(0);
    expect(stats()).toEqual(truth());
    feed.tick();
    feed.tick(true);
    expect(stats()).toEqual(truth());
    expect(errors).toEqual([]);
    expect(k.led.size()).toBe(0);
  });
  it('a listing\'s read without holding the loop (readNowAsync): after a round under way, once per packet; a stop in the middle of it finishes it', async () => {
    const { k, feed, open, truth, stats, state } = await setup();
    const young = [45000, 45001, 45002];
    for (const p of young) open(p, (MARK | feed.young) >>> 0);
    for (const p of young) k.carry(p, 6, 5);
    // Too young for a round: the listing's read lists them.
    expect(await feed.readNowAsync()).toBe(3);
    expect(stats()).toEqual(truth());
    expect(young.map(state)).toEqual(young.map(() => 'ESTABLISHED'));
    // A round under way (its dump begun, records written), more traffic; the listing waits for the round.
    for (const p of young) k.carry(p, 2, 2);
    const errors: unknown[] = [];
    k.onDumpBegin = () => { for (const p of young) k.carry(p, 1, 1); k.onDumpBegin = null; };
    expect(feed.tickSliced((e) => errors.push(e))).toBe(true);
    await new Promise((r) => setImmediate(r));
    const read = feed.readNowAsync();
    // While the listing's read holds the dump socket, the next round waits.
    await turns(5);
    for (const p of young) k.carry(p, 1, 0);
    expect(await read).toBe(3);
    // Those last packets may have come before or after the read's dump began (the round's end is the
    // reader thread's, not these turns'): a second read takes what the first did not, nothing twice.
    expect(await feed.readNowAsync()).toBe(3);
    expect(stats()).toEqual(truth());
    // A stop (the full read) while a listing's read is in the middle of its dump: finished at once, nothing twice.
    for (const p of young) k.carry(p, 4, 4, TIME_WAIT);
    const SLICES = 3 * SLICE + 5;
    const many = Array.from({ length: SLICES }, (_, i) => 46000 + i);
    for (const p of many) { open(p, MARK); k.carry(p, 2, 1); }
    const again = feed.readNowAsync();
    await new Promise((r) => setImmediate(r));
    expect(k.dumpActive()).toBe(true);
    feed.tick(true);
    expect(k.dumpActive()).toBe(false);
    await again;
    expect(stats()).toEqual(truth());
    for (const p of [...young, ...many]) k.kill(p);
    feed.tick();
    feed.tick(true);
    expect(stats()).toEqual(truth());
    expect(errors).toEqual([]);
    expect(k.led.size()).toBe(0);
  });
});

suite('the addon\'s delta ledger on its own (ct_socket.cc)', () => {
  const mark = FAST_MARK_BASE, mask = (FAST_MARK_MASK & ~CT_SETTLED & ~0xa0000000) >>> 0;
  const entry = (o: Partial<Entry>): Entry => ({ id: 1, cport: 40000, op: 0, ob: 0, rp: 0, rb: 0, state: ESTABLISHED, mark: MARK, expired: false, ...o });
  const counts = (b: Uint8Array) => {
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    return Array.from({ length: b.length / CT.SIZE }, (_, i) => [v.getFloat64(i * CT.SIZE + CT.OPKTS, true), v.getFloat64(i * CT.SIZE + CT.RPKTS, true)]);
  };
  const dump = (l: Ledger, e: Entry, prune = false) => {
    const epoch = l.begin(false);
    const out = l.dump(message(e), epoch, mark, mask);
    l.end(epoch, false, true, prune);
    return counts(out);
  };

  it('a record of a dump begun before a later read of its entry is dropped; a new entry under the same key counts from zero', () => {
    const l = Ledger();
    // A sliced dump begins (its record of the entry written: 5 and 4), a whole dump reads it later (8 and 6).
    const sliced = l.begin(true);
    expect(dump(l, entry({ op: 8, rp: 6 }))).toEqual([[8, 6]]);
    expect(counts(l.dump(message(entry({ op: 5, rp: 4 })), sliced, mark, mask))).toEqual([]);
    l.end(sliced, true, true, false);
    expect(dump(l, entry({ op: 9, rp: 6 }))).toEqual([[1, 0]]);
    // The same id and port, counters below the last read, from a dump begun after it: a new entry.
    expect(dump(l, entry({ op: 2, rp: 1 }))).toEqual([[2, 1]]);
    expect(counts(l.events(message(entry({ op: 3, rp: 1 }), CT_DELETE), mark, mask))).toEqual([[1, 0]]);
    expect(l.size()).toBe(0);
  });

  it('a dump of every entry forgets those it did not list only once the destroy events pending then are read', () => {
    const l = Ledger();
    const a = entry({ id: 1, cport: 40001, op: 3, rp: 2 }), b = entry({ id: 2, cport: 40002, op: 7, rp: 7 });
    dump(l, a);
    dump(l, b);
    // a dies during the full dump (not listed), b's destroy event is lost (an overrun).
    const epoch = l.begin(false);
    l.dump(message(b), epoch, mark, mask);
    l.end(epoch, false, true, true);
    expect(l.size()).toBe(2);
    expect(counts(l.events(message({ ...a, op: 4, rp: 2 }, CT_DELETE), mark, mask))).toEqual([[1, 0]]);
    l.drained();
    expect(l.size()).toBe(1); // b, listed by the full dump
    const again = l.begin(false);
    l.dump(new Uint8Array(0), again, mark, mask); // b gone, its event lost
    l.end(again, false, true, true);
    l.drained();
    expect(l.size()).toBe(0);
  });
});
