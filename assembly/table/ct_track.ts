// The fast path's open flows, for the conntrack feed's per-tuple reads
// (hosts/gateway/ctfeed.ts). A ctnetlink dump walks the kernel's whole
// conntrack hash with softirqs off on its CPU (7 ms at 262,144 buckets idle,
// 14-33 ms under a connection-rate load; bench/gateway/ANALYSIS.md), once a
// second. Instead, the core keeps the connections it answered with a fast
// mark (and those a walk listed), each with its original tuple, and hands
// out the tuples of those the feed must read this tick; the addon asks
// conntrack for each one (a hash lookup, IPCTNL_MSG_CT_GET).
//
// An entry is handed out while its connection may still have a conntrack
// entry to read: not a TCP flow younger than TRACK_AGE that has never been
// listed (a short connection is over by then, and its destroy event is the
// one record read of it: no GET), not a TCP flow the table has seen both FINs
// or a reset of (its destroy event brings the rest). A listed connection
// the table no longer has (it expired idle) is handed out once more: the feed
// then deletes its conntrack entry, as after a walk. One never listed is not:
// the table let it go for a new connection on the same tuple (a client
// reusing its port), and a GET would find that one's entry. A destroy event ends the entry (ctUntrack).
// The flag F_CTTRACK on a connection says it has an entry here.
//
// Entry layout (TRACK_SIZE bytes): conn id u32, when it was tracked (the
// table's clock, seconds) u32, proto u8, family u8, cport u16, vport
// u16, listed u8 (the table has had conntrack's state of it), pad, client address (16 bytes: IPv4 in the first word), virtual
// address (16 bytes).
import { alloc, free } from "../mem/alloc";
import * as M from "./conn_mem";
import { ioBase } from "../abi/io";
import {
  REGION_CT, CT_REC_SIZE, CT_MAX, CT_PROTO, CT_FAMILY, CT_OSRC, CT_ODST, CT_OSPORT, CT_ODPORT, CT_OSRC6, CT_ODST6,
} from "../abi/layout";
import { S_ESTABLISHED, S_FIN_WAIT, S_CLOSE_WAIT, S_TIME_WAIT, S_LAST_ACK, S_CLOSE } from "./tcp_states";

const TRACK_SIZE: usize = 48;
const T_ID: usize = 0;
const T_STAMP: usize = 4;
const T_PROTO: usize = 8;
const T_FAMILY: usize = 9;
const T_CPORT: usize = 10;
const T_VPORT: usize = 12;
const T_LISTED: usize = 14;
const T_CADDR: usize = 16;
const T_VADDR: usize = 32;
/**
 * A TCP flow never listed is first read this many seconds after it was tracked. With the fast path's
 * 1 s TIME_WAIT a short connection's entry is dead by then and (the kernel's GC reaps expired entries
 * within a second or so) its destroy event read: reading it by tuple earlier costs a GET that finds it
 * closing or expired.
 */
export const TRACK_AGE: u32 = 2;
/** At most this many entries (12 MiB); past it a flow is not tracked and `overflowed` says so. */
export const TRACK_MAX: u32 = 1 << 18;

let base: usize = 0;
let cap: u32 = 0;
let count: u32 = 0;
/** Where the scan under way stands (read index) and where it writes kept entries (write index). */
let readAt: u32 = 0;
let writeAt: u32 = 0;
let scanning = false;
/** A flow was not tracked for want of room (since the last ctTrackReset). */
let overflowed = false;

@inline function at(k: u32): usize { return base + <usize>k * TRACK_SIZE; }

function grow(): bool {
  if (cap >= TRACK_MAX) return false;
  const n: u32 = cap == 0 ? 1024 : cap << 1;
  const p = alloc(<usize>n * TRACK_SIZE);
  if (p == 0) return false;
  if (count != 0) memory.copy(p, base, <usize>count * TRACK_SIZE);
  if (base != 0) free(base, <usize>cap * TRACK_SIZE);
  base = p;
  cap = n;
  return true;
}

/** Connection record i (its id `id`) tracked at `now`, unless it is already. */
export function ctTrack(i: u32, id: u32, now: u32): void {
  const f = M.flagsOf(i);
  if ((f & M.F_CTTRACK) != 0) return;
  if (count == cap && !grow()) {
    overflowed = true;
    return;
  }
  const e = at(count++);
  store<u32>(e + T_ID, id);
  store<u32>(e + T_STAMP, now);
  store<u16>(e + T_LISTED, 0);
  store<u8>(e + T_PROTO, <u8>M.protoOf(i));
  store<u16>(e + T_CPORT, <u16>M.u16At(i, M.R_CPORT));
  store<u16>(e + T_VPORT, <u16>M.u16At(i, M.R_VPORT));
  if ((f & M.F_V6) != 0) {
    store<u8>(e + T_FAMILY, 6);
    const x = M.u32At(i, M.R_CADDR);
    for (let w: u32 = 0; w < 4; w++) {
      store<u32>(e + T_CADDR + <usize>w * 4, M.v6Word(x, 0, w));
      store<u32>(e + T_VADDR + <usize>w * 4, M.v6Word(x, 1, w));
    }
  } else {
    store<u8>(e + T_FAMILY, 4);
    store<u32>(e + T_CADDR, M.u32At(i, M.R_CADDR));
    store<u32>(e + T_VADDR, M.u32At(i, M.R_VADDR));
  }
  M.setFlags(i, f | M.F_CTTRACK);
}

/** Connection record i's conntrack entry is gone (its destroy event): its entry leaves at the next scan. */
@inline export function ctUntrack(i: u32): void {
  const f = M.flagsOf(i);
  if ((f & M.F_CTTRACK) != 0) M.setFlags(i, f & ~M.F_CTTRACK);
}

/**
 * Whether entry e's flow is still to be read by the feed; `hand` set when it is this tick. `last`: the
 * scan that hands out (else the count before it, which keeps the entries it would hand out last).
 */
let hand = false;
function keep(e: usize, now: u32, last: bool): bool {
  hand = false;
  const i = M.indexOf(load<u32>(e + T_ID));
  if (i == 0) {
    // The table let it go: a listed flow's conntrack entry is read once more, and the feed deletes it.
    hand = load<u8>(e + T_LISTED) != 0;
    return hand && !last;
  }
  if ((M.flagsOf(i) & M.F_CTTRACK) == 0) return false; // its destroy event came
  if (<u32>load<u8>(e + T_PROTO) == 6) {
    const s = M.stateOf(i);
    // Both FINs or a reset seen: conntrack's last counters come with its destroy event.
    if (s == S_TIME_WAIT || s == S_LAST_ACK || s == S_CLOSE) {
      M.setFlags(i, M.flagsOf(i) & ~M.F_CTTRACK);
      return false;
    }
    const listed = s == S_ESTABLISHED || s == S_FIN_WAIT || s == S_CLOSE_WAIT;
    if (listed) store<u8>(e + T_LISTED, 1);
    // Young: not before TRACK_AGE.
    if (!listed && now - load<u32>(e + T_STAMP) < TRACK_AGE) return true;
  }
  // UDP: read every tick (its packets re-arm it in the table).
  if (<u32>load<u8>(e + T_PROTO) != 6) store<u8>(e + T_LISTED, 1);
  hand = true;
  return true;
}

/**
 * The next up to `max` (at most CT_MAX) tuples to read, written at REGION_CT as conntrack records
 * (protocol, family, original tuple); `now` is the table's clock. The first call after a
 * finished scan starts one. Returns how many; fewer than `max` means the scan is over.
 */
export function ctTrackNext(max: u32, now: u32): u32 {
  if (max > CT_MAX) max = CT_MAX;
  if (!scanning) {
    scanning = true;
    readAt = 0;
    writeAt = 0;
  }
  const recs = ioBase() + REGION_CT;
  let n: u32 = 0;
  while (n < max && readAt < count) {
    const e = at(readAt++);
    const kept = keep(e, now, true);
    if (hand) {
      const r = recs + <usize>n * CT_REC_SIZE;
      memory.fill(r, 0, CT_REC_SIZE);
      store<u8>(r + CT_PROTO, load<u8>(e + T_PROTO));
      const fam = load<u8>(e + T_FAMILY);
      store<u8>(r + CT_FAMILY, fam);
      store<u16>(r + CT_OSPORT, load<u16>(e + T_CPORT));
      store<u16>(r + CT_ODPORT, load<u16>(e + T_VPORT));
      if (fam == 6) {
        memory.copy(r + CT_OSRC6, e + T_CADDR, 16);
        memory.copy(r + CT_ODST6, e + T_VADDR, 16);
      } else {
        store<u32>(r + CT_OSRC, load<u32>(e + T_CADDR));
        store<u32>(r + CT_ODST, load<u32>(e + T_VADDR));
      }
      n++;
    }
    if (kept) {
      if (writeAt != readAt - 1) memory.copy(at(writeAt), e, TRACK_SIZE);
      writeAt++;
    }
  }
  if (readAt >= count) {
    // Entries tracked during the scan (past where it began) were moved down with the rest.
    count = writeAt;
    scanning = false;
  }
  return n;
}

/**
 * Before a tick's reads: the entries whose flows are over dropped, and how many tuples the scan would
 * hand out now (the feed walks conntrack instead when there are too many). Ends a scan under way.
 */
export function ctTrackPrepare(now: u32): u32 {
  scanning = false;
  let w: u32 = 0, n: u32 = 0;
  for (let k: u32 = 0; k < count; k++) {
    const e = at(k);
    if (keep(e, now, false)) {
      if (w != k) memory.copy(at(w), e, TRACK_SIZE);
      w++;
    }
    if (hand) n++;
  }
  count = w;
  return n;
}

/** Entries now (an upper bound on what a scan hands out). */
export function ctTrackCount(): u32 { return count; }
/** Whether a flow went untracked for want of room since the last reset. */
export function ctTrackOverflowed(): bool { return overflowed; }
/** After a walk that listed every entry of ours (the sweep): the walk tracked what it could again. */
export function ctTrackReset(): void { overflowed = false; }
