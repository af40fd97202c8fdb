// Bounded memory: the connection limit with cheapest-first eviction, and
// IPVS's drop_entry defense (ip_vs_random_dropentry / todrop_entry).
//
// Eviction takes one victim of the cheapest non-empty class (conn_class.ts):
// half-open first, then idle/closing, ESTABLISHED only when neither exists;
// templates that still control connections never. Because the class counts
// are exact, the search walks the wheel from the next slot to fire (entries
// nearest expiry first) and stops at the first entry of that class.
import * as M from "./conn_mem";
import { killConn, destOf } from "./conn";
import { classOf, classCount, CLASS_HALF_OPEN, CLASS_ESTABLISHED } from "./conn_class";
import { wheelSlotHead, wheelLast, WHEEL_SIZE } from "./wheel";
import { bucketAt, bucketCount } from "./conn_hash";
import { connLimit, dropEntry, defenseOn } from "./conn_options";
import { tcpTimeout, udpTimeoutNow, S_ESTABLISHED, S_SYN_RECV, S_SYNACK } from "./tcp_states";
import { services } from "../service/services";
import { PROTO_TCP, SVC_F_ONEPACKET } from "../abi/layout";
import { bump, addTo, CNT_EVICT_HALF_OPEN, CNT_CONN_LIMIT, CNT_DROP_ENTRY, CNT_EVICT_SCANNED } from "../stats/counters";
import { Nums } from "../mem/vec";

/** Per class: the slot time at which the last victim of that class was found. */
const resumeAt = changetype<Nums<u32>>(memory.data(4 * 4, 4));

/** The first entry of class c in `count` slots from slot time `from`, or 0. */
function scanSlots(c: i32, from: u32, count: u32): u32 {
  let seen: u64 = 0;
  for (let s: u32 = 0; s < count; s++) {
    let i = wheelSlotHead(from + s);
    while (i != 0) {
      seen++;
      if (classOf(i) == c) {
        addTo(CNT_EVICT_SCANNED, seen);
        unchecked((resumeAt[c] = from + s));
        return i;
      }
      i = M.u32At(i, M.R_WNEXT);
    }
  }
  addTo(CNT_EVICT_SCANNED, seen);
  return 0;
}

/**
 * A victim of class c, nearest expiry first in the sense that matters under
 * a flood: the walk resumes at the slot where the last victim of this class
 * was found, because every slot before it held none then. (A SYN flood at
 * the limit otherwise re-walked, for every new entry, all the longer-lived
 * entries filling the slots before the first half-open one: 15 kpps instead
 * of hundreds.) Entries of class c that appeared in earlier slots since are
 * found when the walk from the resume point comes up empty and starts over
 * from the next slot to fire.
 */
function findVictim(c: i32): u32 {
  const first = wheelLast() + 1;
  let from = unchecked(resumeAt[c]);
  // Before the next slot to fire, or beyond the wheel (wrap-safe): start over.
  if (<u32>(from - first) >= WHEEL_SIZE) from = first;
  const ahead = scanSlots(c, from, WHEEL_SIZE - (from - first));
  if (ahead != 0 || from == first) return ahead;
  return scanSlots(c, first, from - first);
}

function evictOne(): bool {
  for (let c = CLASS_HALF_OPEN; c <= CLASS_ESTABLISHED; c++) {
    if (classCount(c) <= 0) continue;
    const v = findVictim(c);
    if (v == 0) continue;
    killConn(v, true);
    bump(CNT_EVICT_HALF_OPEN + c);
    return true;
  }
  return false;
}

/** Make room for `n` more entries under the limit; false (counted) when nothing can go. */
export function makeRoom(n: u32): bool {
  if (connLimit == 0) return true;
  if (n > connLimit) {
    bump(CNT_CONN_LIMIT);
    return false;
  }
  while (<u64>M.liveRecords() + n > <u64>connLimit) {
    if (!evictOne()) {
      bump(CNT_CONN_LIMIT);
      return false;
    }
  }
  return true;
}

// --- drop_entry --------------------------------------------------------------
const todropCounter = changetype<Nums<i32>>(memory.data(9 * 4, 4));
let sweepPos: u32 = 0;

/** todrop_entry: idle >= 60 s since its last re-arm and in_pkts 1..8, one in in_pkts. */
function todrop(i: u32, now: u32, timeout: u32): bool {
  const expires = M.u32At(i, M.R_EXPIRES);
  if (<u64>now + <u64>timeout < <u64>expires + 60) return false;
  const n = <i32>M.inPkts(i);
  if (n < 1 || n > 8) return false;
  const c = todropCounter[n] - 1;
  todropCounter[n] = c;
  if (c > 0) return false;
  todropCounter[n] = n;
  return true;
}

function isOpsTemplate(i: u32): bool {
  const d = destOf(i);
  if (d === null) return false;
  const svc = services.get(d.svcId);
  return svc !== null && (svc.flags & SVC_F_ONEPACKET) != 0;
}

function shouldDrop(i: u32, now: u32): bool {
  const f = M.flagsOf(i);
  if (f & M.F_TEMPLATE) {
    if (M.u32At(i, M.R_CONTROL) != 0) return false;
    if (isOpsTemplate(i)) return todrop(i, now, 60);
    return (f & M.F_ASSURED) == 0;
  }
  if (M.protoOf(i) == PROTO_TCP) {
    const s = M.stateOf(i);
    if (s == S_SYN_RECV || s == S_SYNACK) return true;
    return s == S_ESTABLISHED && todrop(i, now, tcpTimeout(s));
  }
  return todrop(i, now, udpTimeoutNow());
}

/** One drop_entry pass over 1/32 of the buckets (IPVS runs it once a second). */
export function dropEntryPass(now: u32): void {
  if (!defenseOn(dropEntry, M.liveRecords())) return;
  const nb = bucketCount();
  const n = nb >> 5;
  for (let k: u32 = 0; k < n; k++) {
    let i = bucketAt(sweepPos);
    sweepPos = (sweepPos + 1) & (nb - 1);
    while (i != 0) {
      let next = M.u32At(i, M.R_HNEXT);
      if (shouldDrop(i, now)) {
        const ct = (M.flagsOf(i) & M.F_TEMPLATE) == 0 ? M.u32At(i, M.R_CONTROL) : 0;
        killConn(i, true);
        bump(CNT_DROP_ENTRY);
        if (ct != 0 && M.u32At(ct, M.R_CONTROL) == 0) {
          if (ct == next) next = M.u32At(ct, M.R_HNEXT);
          killConn(ct, true);
          bump(CNT_DROP_ENTRY);
        }
      }
      i = next;
    }
  }
}
