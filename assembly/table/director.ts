// The schedule path for a batch of flow records: the inbound packet path of
// the connection table (ip_vs_in → ip_vs_schedule). Never allocates.
import { readFlow, flowFamily, writeDecisionFail } from "../abi/records";
import * as S from "../abi/status";
import * as C from "../stats/counters";
import { flow } from "../abi/flow";
import { packetIn, pickOnly, pickResolved, resolveServices, resolvedIndex, endResolved, resolveConnBatch, endResolvedConns, RESOLVE_CHUNK } from "./conn_path";
import { trackConns } from "./conn_options";
import { runClocks } from "./conn_api";

/** Failure records for flows from..to-1, whose family is not 4 or 6 (the caller counts them). */
@inline function refuseRange(from: u32, to: u32): void {
  for (let i = from; i < to; i++) writeDecisionFail(i, S.E_INVAL);
}

/**
 * Schedule flows 0..n-1 of the flow region as client packets (FLOW_TCPFLAGS,
 * SYN from the SDK): each creates a connection entry or reuses the one for
 * the same 5-tuple (table/conn_path.ts); DEC_CONN is the connection id (0 for
 * one-packet scheduling). Timers due by `now` run first. Returns successes.
 *
 * A record whose family is not 4 or 6 fails (E_INVAL, CNT_BAD_FLOW) before
 * anything is copied. A batch resolves its services a chunk ahead
 * (resolveServices reads every family once and lists the valid flows); a
 * chunk with bad records gets their failure records in a tight pass of its
 * own, the bad-flow counter moves once per chunk, and the visit walks the
 * list of valid ones only. A single
 * flow has no misses to overlap: it skips the resolve pass (its service is
 * looked up inline) and goes through the same visit.
 */
export function scheduleBatch(n: u32, now: u32): i32 {
  runClocks(now);
  if (trackConns) resolveConnBatch(n);
  let ok = 0;
  const one = n == 1;
  for (let c: u32 = 0; c < n; c += RESOLVE_CHUNK) {
    const end = min(c + RESOLVE_CHUNK, n);
    let m: u32 = 0;
    if (one) {
      const af = flowFamily(0);
      m = af == 4 || af == 6 ? 1 : 0;
    } else {
      m = resolveServices(c, end - c);
    }
    // Failure records first, only in a chunk that has records with a bad family:
    // the gaps between the listed valid ones (no family read again), in a loop
    // of their own (walking the list in the visit loop below cost every
    // decision ~1 ns).
    if (m < end - c) {
      let next = c;
      for (let j: u32 = 0; j < m; j++) {
        const i = resolvedIndex(c, j);
        refuseRange(next, i);
        next = i + 1;
      }
      refuseRange(next, end);
      C.addTo(C.CNT_BAD_FLOW, <u64>(end - c - m));
      if (m == 0) continue;
    }
    if (trackConns || one) {
      for (let i = c; i < end; i++) {
        const af = flowFamily(i);
        if (af != 4 && af != 6) continue;
        readFlow(i, flow);
        flow.now = now;
        if ((trackConns ? packetIn(i, flow, now) : pickOnly(i, flow)) >= 0) ok++;
      }
    } else {
      // Scheduling only, services resolved: pickResolved reads what its
      // scheduler needs, and the successes are counted as picks below.
      for (let i = c; i < end; i++) {
        const af = flowFamily(i);
        if (af != 4 && af != 6) continue;
        if (pickResolved(i, now) >= 0) ok++;
      }
    }
  }
  if (!trackConns && !one) C.addTo(C.CNT_SCHEDULED, <u64>ok);
  endResolved();
  if (trackConns) endResolvedConns();
  return ok;
}
