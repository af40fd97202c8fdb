// The schedule path for a batch of flow records: the inbound packet path of
// the connection table (ip_vs_in → ip_vs_schedule). Never allocates.
import { readFlow } from "../abi/records";
import { flow } from "../sched/flow";
import { packetIn, pickOnly } from "./conn_path";
import { trackConns } from "./conn_options";
import { runClocks } from "./conn_api";

/**
 * Schedule flows 0..n-1 of the flow region as client packets (FLOW_TCPFLAGS,
 * SYN from the SDK): each creates a connection entry or reuses the one for
 * the same 5-tuple (table/conn_path.ts); DEC_CONN is the connection id (0 for
 * one-packet scheduling). Timers due by `now` run first. Returns successes.
 */
export function scheduleBatch(n: u32, now: u32): i32 {
  runClocks(now);
  let ok = 0;
  for (let i: u32 = 0; i < n; i++) {
    readFlow(i, flow);
    flow.now = now;
    if ((trackConns ? packetIn(i, flow, now) : pickOnly(i, flow)) >= 0) ok++;
  }
  return ok;
}
