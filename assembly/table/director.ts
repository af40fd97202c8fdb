// The schedule path for a batch of flow records: the inbound packet path of
// the connection table (ip_vs_in → ip_vs_schedule). Never allocates.
import { readFlow, flowFamily, writeDecisionFail } from "../abi/records";
import * as S from "../abi/status";
import * as C from "../stats/counters";
import { flow } from "../sched/flow";
import { packetIn, pickOnly, resolveServices, endResolved, resolveConnBatch, endResolvedConns, RESOLVE_CHUNK } from "./conn_path";
import { trackConns } from "./conn_options";
import { runClocks } from "./conn_api";

@inline function refuseFlow(i: u32): void {
  C.bump(C.CNT_BAD_FLOW);
  writeDecisionFail(i, S.E_INVAL);
}

/**
 * Schedule flows 0..n-1 of the flow region as client packets (FLOW_TCPFLAGS,
 * SYN from the SDK): each creates a connection entry or reuses the one for
 * the same 5-tuple (table/conn_path.ts); DEC_CONN is the connection id (0 for
 * one-packet scheduling). Timers due by `now` run first. Returns successes.
 */
export function scheduleBatch(n: u32, now: u32): i32 {
  runClocks(now);
  if (trackConns) resolveConnBatch(n);
  let ok = 0;
  for (let c: u32 = 0; c < n; c += RESOLVE_CHUNK) {
    // Services resolved a chunk ahead (table/conn_path.ts).
    const end = min(c + RESOLVE_CHUNK, n);
    resolveServices(c, end - c);
    for (let i = c; i < end; i++) {
      // A record with no valid family fails before anything is copied (both paths
      // below would refuse it first too, with the same status and counter).
      const af = flowFamily(i);
      if (af != 4 && af != 6) {
        refuseFlow(i);
        continue;
      }
      readFlow(i, flow);
      flow.now = now;
      if ((trackConns ? packetIn(i, flow, now) : pickOnly(i, flow)) >= 0) ok++;
    }
  }
  endResolved();
  if (trackConns) endResolvedConns();
  return ok;
}
