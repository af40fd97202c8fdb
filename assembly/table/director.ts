// The new-flow path of ip_vs_schedule for a batch of flow records: find the
// service, ask its scheduler, write one decision per flow. Never allocates.
import * as S from "../abi/status";
import { SVC_F_PERSISTENT } from "../abi/layout";
import { readFlow, writeDecision, writeDecisionFail } from "../abi/records";
import { flow } from "../sched/flow";
import { lookupService } from "./services";
import { bump, CNT_SCHEDULED, CNT_NO_DEST, CNT_NOT_OURS, CNT_PORT_MISMATCH, CNT_NO_SCHEDULER, CNT_BAD_FLOW } from "../stats/counters";

/** Schedule flows 0..n-1 of the flow region; returns how many got a destination. */
export function scheduleBatch(n: u32, now: u32): i32 {
  let ok = 0;
  for (let i: u32 = 0; i < n; i++) {
    readFlow(i, flow);
    flow.now = now;
    const st = scheduleOne(i);
    if (st >= 0) ok++;
  }
  return ok;
}

function fail(i: u32, status: i32, counter: i32): i32 {
  bump(counter);
  writeDecisionFail(i, status);
  return status;
}

function scheduleOne(i: u32): i32 {
  const f = flow;
  if (f.af != 4 && f.af != 6) return fail(i, S.E_INVAL, CNT_BAD_FLOW);
  const svc = lookupService(f.af, f.fwmark, f.proto, f.v0, f.v1, f.v2, f.v3, f.vport);
  if (svc === null) return fail(i, S.E_NOT_OURS, CNT_NOT_OURS);
  // A non-fwmark, non-persistent service only takes packets for its own port.
  if (svc.fwmark == 0 && (svc.flags & SVC_F_PERSISTENT) == 0 && f.vport != svc.port) {
    return fail(i, S.E_PORT, CNT_PORT_MISMATCH);
  }
  const sch = svc.sched;
  if (sch === null) return fail(i, S.E_NO_DEST_AVAILABLE, CNT_NO_SCHEDULER);
  const d = sch.pick(svc, f);
  if (d === null) return fail(i, S.E_NO_DEST_AVAILABLE, CNT_NO_DEST);
  bump(CNT_SCHEDULED);
  // Real port: the dest's, or the packet's when the dest port is 0.
  const dport = d.port != 0 ? d.port : f.vport;
  writeDecision(i, 0, d, dport, d.method);
  return 0;
}
