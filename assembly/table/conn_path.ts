// The packet path over the connection table (ip_vs_in / ip_vs_out): look the
// flow up, apply the reuse and no-dest rules (§2.6, §2.12), schedule a new
// connection when the packet may create one (§2.7, §2.11, §2.13), then
// account, run the state transition and re-arm the idle timer.
import * as S from "../abi/status";
import { SVC_F_PERSISTENT, SVC_F_ONEPACKET, PROTO_TCP, PROTO_UDP, MAX_BATCH, REGION_FLOWS, FLOW_SIZE, FLOW_VPORT } from "../abi/layout";
import { ioBase } from "../abi/io";
import { writeDecisionFail, writeDecisionSrc, readFlow } from "../abi/records";
import { writeDecision, writeDecisionPick } from "../service/records";
import { Flow, flow } from "../abi/flow";
import { Dest } from "../service/dest";
import { Service } from "../service/service";
import { services, lookupService, resolveBatch, resolvedFlow } from "../service/services";
import { resolveConns } from "./conn_lookup";
import { insertMarksStart, insertMarksStop, insertMarked, removalCount } from "./conn_hash";
import * as M from "./conn_mem";
import { ConnKey, keyMatch, lookupIn, lookupOut, createConn, killConn, controlAdd, rearm, destOf, dportOf } from "./conn";
import { transition } from "./conn_state";
import { persistSchedule, persistDport, persistTemplate, persistFull } from "./persist";
import { makeRoom } from "./conn_limit";
import { connReuseMode, expireNodestConn, countPicks, sloppyTcp } from "./conn_options";
import { DIR_INPUT, DIR_OUTPUT, S_TIME_WAIT, S_CLOSE, S_FIN_WAIT } from "./tcp_states";
import { accountNewConn, accountIn, accountOut, statsReady } from "./account";
import * as C from "../stats/counters";
import { schedPick, SCHED_RR, SCHED_WRR, SCHED_LC, SCHED_WLC, SCHED_SED, SCHED_NQ } from "../sched/registry";
import { countBind } from "../sched/count";

const key = new ConnKey();

function fillKey(f: Flow): void {
  key.af = f.af;
  key.proto = f.proto;
  key.c0 = f.c0; key.c1 = f.c1; key.c2 = f.c2; key.c3 = f.c3;
  key.v0 = f.v0; key.v1 = f.v1; key.v2 = f.v2; key.v3 = f.v3;
  key.cport = f.cport;
  key.vport = f.vport;
}

function fail(i: u32, status: i32, counter: i32): i32 {
  C.bump(counter);
  writeDecisionFail(i, status);
  return status;
}

/** is_new_conn_expected: an uncontrolled TIME_WAIT/CLOSE entry (or DR/TUN FIN_WAIT with bit 2). */
export function newConnExpected(cp: u32): bool {
  if (M.u32At(cp, M.R_CONTROL) != 0) return false;
  const p = M.protoOf(cp);
  if (p != PROTO_TCP) return false;
  const s = M.stateOf(cp);
  return s == S_TIME_WAIT || s == S_CLOSE
    || ((connReuseMode & 2) != 0 && s == S_FIN_WAIT && (M.flagsOf(cp) & M.F_NOOUTPUT) != 0);
}

/** Reuse rule for a SYN that hits an entry: true when the old entry was expired. */
function reuseOld(cp: u32): bool {
  const d = destOf(cp);
  let resched = newConnExpected(cp);
  if (expireNodestConn && d !== null && d.weight == 0) resched = true;
  if (!resched) return false;
  killConn(cp, true);
  C.bump(C.CNT_CONN_REUSED);
  return true;
}

// The inbound lookups of a batch, resolved before it is visited
// (conn_lookup.ts: all chains walked together, a link per round, so the
// misses of many packets overlap). A packet's answer is used only if it still
// holds: no insert since then marked its hash (a newer entry of the key would
// come first), and a found entry is still live with the same key (a removal
// may have freed the record and a new connection reused it). Else the packet
// looks up as it always did.
const connHints = memory.data(<i32>MAX_BATCH * 4, 16);
const connHashes = memory.data(<i32>MAX_BATCH * 4, 16);
let connHintsOn = false;
/** removalCount() when the batch was resolved. */
let removalsAtResolve: u32 = 0;

/** Resolve the inbound lookups of flow records 0..n-1; packetIn uses them until endResolvedConns(). */
export function resolveConnBatch(n: u32): void {
  resolveConns(ioBase() + REGION_FLOWS, connHints, n, connHashes);
  insertMarksStart();
  removalsAtResolve = removalCount();
  connHintsOn = true;
}

export function endResolvedConns(): void {
  connHintsOn = false;
  insertMarksStop();
}

/**
 * lookupIn(key, false) for flow record i (in f), from its resolved answer
 * when that still holds. Fills `key` only when it has to look.
 */
function lookupResolved(i: u32, f: Flow): u32 {
  const marked = insertMarked(load<u32>(connHashes + <usize>i * 4));
  const c = load<u32>(connHints + <usize>i * 4) & 0xFFFFFF;
  if (!marked) {
    if (c == 0) return 0;
    // Without a removal since, the entry found is still there (records are freed only after unhashing).
    if (removalCount() == removalsAtResolve) return c;
  }
  fillKey(f);
  if (!marked && (M.flagsOf(c) & M.F_LIVE) != 0 && keyMatch(c, key, false)) return c;
  return lookupIn(key, false);
}

/** One client → director packet (flow record i, already in f). */
export function packetIn(i: u32, f: Flow, now: u32): i32 {
  if (f.af != 4 && f.af != 6) return fail(i, S.E_INVAL, C.CNT_BAD_FLOW);
  let cp: u32;
  if (connHintsOn) {
    cp = lookupResolved(i, f);
  } else {
    fillKey(f);
    cp = lookupIn(key, false);
  }
  const tcp = f.proto == PROTO_TCP;
  if (cp != 0 && connReuseMode != 0 && tcp && (f.tcpflags & 0x02) != 0 && reuseOld(cp)) cp = 0;
  let d: Dest | null = null;
  if (cp != 0) {
    d = destOf(cp);
    if (d === null || !d.available) {
      if (!expireNodestConn) return fail(i, S.E_DROP, C.CNT_DROP_NODEST);
      killConn(cp, true);
      C.bump(C.CNT_EXPIRE_NODEST);
      cp = 0;
    }
  }
  if (cp == 0) {
    // TCP: RST never creates a connection; without sloppy_tcp only SYN does.
    if (tcp && ((f.tcpflags & 0x04) != 0 || ((f.tcpflags & 0x02) == 0 && !sloppyTcp))) return fail(i, S.E_NOCONN, C.CNT_NO_CONN);
    return newConnection(i, f, now);
  }
  return forwardIn(i, cp, changetype<Dest>(d), f, now);
}

/** The packet of an entry cp bound to d (live: destOf(cp)). */
function forwardIn(i: u32, cp: u32, d: Dest, f: Flow, now: u32): i32 {
  const svc = services.get(d.svcId);
  if (svc !== null) accountIn(svc, d, f.len);
  transition(cp, DIR_INPUT, f.tcpflags);
  M.bumpInPkts(cp);
  rearm(cp, now);
  writeDecision(i, M.connId(cp), d, dportOf(cp, d), M.flagsOf(cp) & M.F_METHOD);
  return 0;
}

// The services of a batch, resolved before it is visited (scheduleBatch):
// pass 1 looks every flow's service up and pass 2 loads the second line of
// each and its first dest, with no branch on the loaded data, so the cache
// misses of many flows overlap instead of one flow at a time
// (shared/baselines/memmlp.c). The visit then finds the service in hints[i].
// Only the schedule export uses it: nothing it does adds or removes services.
const hints = memory.data(<i32>MAX_BATCH * 4, 16);
let hintsOn = false;
/** Sink for the touch pass, so the optimiser keeps its loads. */
let touched: u32 = 0;

/**
 * Flow records per resolve-then-visit step of schedule(): enough for the
 * misses of many flows to overlap, few enough that the service and dest lines
 * resolved are still in L1 when the flows are visited (1024 flows touch
 * about 200 KiB of them). 32 flows issue about 100 line misses per step
 * (index entry, two service lines, first dest), probably as many as the
 * core keeps in flight; at 64 the later touches of a step would only queue
 * and their lines wait longer before the visit (not profiled): 16 Ki
 * random services of 30,000 took 33-34 ns a decision at 32 against 35-36 ns
 * at 64 (16: no better, 48 and 128: worse), 100 services +0.1-0.3 ns.
 */
export const RESOLVE_CHUNK: u32 = 32;

/**
 * Resolve the service of flow records start..start+n-1 into hints; lookupSvc
 * uses them until endResolved(). Returns how many of them have a valid family
 * (4 or 6); resolvedIndex(start, j) lists those in order, and only those got a hint.
 */
export function resolveServices(start: u32, n: u32): u32 {
  const h = hints + <usize>start * 4;
  const m = resolveBatch(ioBase() + REGION_FLOWS + <usize>start * FLOW_SIZE, n, h);
  // The first dest of each listed flow (the one an rr, wrr or single-dest
  // service picks most), with no branch on the loaded data.
  let acc: u32 = 0;
  for (let j: u32 = 0; j < m; j++) {
    const s = changetype<Service>(load<usize>(h + <usize>resolvedFlow(j) * 4));
    const d = changetype<usize>(s) != 0 && s.dlen > 0 ? load<usize>(s.dptr) : 0;
    acc += load<u32>(d);
  }
  touched = acc;
  hintsOn = true;
  return m;
}

/** The flow record index of the j-th valid flow of the last resolveServices(start, …). */
@inline export function resolvedIndex(start: u32, j: u32): u32 {
  return start + resolvedFlow(j);
}

export function endResolved(): void {
  hintsOn = false;
}

function lookupSvc(i: u32, f: Flow): Service | null {
  const svc = hintsOn
    ? changetype<Service | null>(load<usize>(hints + <usize>i * 4))
    : lookupService(f.af, f.fwmark, f.proto, f.v0, f.v1, f.v2, f.v3, f.vport);
  if (svc === null) {
    fail(i, S.E_NOT_OURS, C.CNT_NOT_OURS);
    return null;
  }
  // A non-fwmark, non-persistent service only takes packets for its own port.
  if (svc.fwmark == 0 && (svc.flags & SVC_F_PERSISTENT) == 0 && f.vport != svc.port) {
    fail(i, S.E_PORT, C.CNT_PORT_MISMATCH);
    return null;
  }
  if (svc.sched == 0) {
    fail(i, S.E_NO_DEST_AVAILABLE, C.CNT_NO_SCHEDULER);
    return null;
  }
  return svc;
}

/** ip_vs_schedule + the first packet of the new connection. */
function newConnection(i: u32, f: Flow, now: u32): i32 {
  // The key of the connection to create (packetIn may not have filled it).
  fillKey(f);
  const svc = lookupSvc(i, f);
  if (svc === null) return -1;
  const persistent = (svc.flags & SVC_F_PERSISTENT) != 0;
  // Room for the connection and, for persistence, a possible new template.
  if (!makeRoom(persistent ? 2 : 1)) return fail(i, S.E_CONN_LIMIT, C.CNT_CONN_LIMIT);
  let d: Dest | null;
  let dport: u32;
  let ct: u32 = 0;
  if (persistent) {
    d = persistSchedule(svc, f, now);
    if (d === null) {
      if (persistFull) return fail(i, S.E_NOMEM, C.CNT_CONN_NOMEM);
      return fail(i, S.E_NO_DEST_AVAILABLE, C.CNT_NO_DEST);
    }
    ct = persistTemplate;
    dport = persistDport(svc, f, d);
  } else {
    d = schedPick(svc, f);
    if (d === null) return fail(i, S.E_NO_DEST_AVAILABLE, C.CNT_NO_DEST);
    dport = d.port != 0 ? d.port : f.vport;
  }
  const ops = (svc.flags & SVC_F_ONEPACKET) != 0 && f.proto == PROTO_UDP;
  // The first counted event of svc or d makes its stats block (account.ts).
  if (!statsReady(svc, d)) return fail(i, S.E_NOMEM, C.CNT_CONN_NOMEM);
  const cp = createConn(key, d, dport, ops ? M.F_OPS : 0, now, 0);
  if (cp == 0) return fail(i, S.E_NOMEM, C.CNT_CONN_NOMEM);
  if (ct != 0) controlAdd(cp, ct);
  C.bump(C.CNT_SCHEDULED);
  C.bump(C.CNT_CONN_NEW);
  accountNewConn(svc, d);
  if (!ops) return forwardIn(i, cp, d, f, now);
  // OPS: one packet, then the entry goes at once (it was never hashed).
  accountIn(svc, d, f.len);
  C.bump(C.CNT_OPS);
  writeDecision(i, 0, d, dport, d.method);
  killConn(cp, false);
  return 0;
}

/** One real server → client packet: k.c = packet destination, k.v = packet source. */
export function packetOut(i: u32, f: Flow, now: u32): i32 {
  if (f.af != 4 && f.af != 6) return fail(i, S.E_INVAL, C.CNT_BAD_FLOW);
  fillKey(f);
  const cp = lookupOut(key);
  if (cp == 0) return fail(i, S.E_NOCONN, C.CNT_NO_CONN);
  const d = destOf(cp);
  if (d !== null && d.available) {
    const svc = services.get(d.svcId);
    if (svc !== null) accountOut(svc, d, f.len);
  }
  transition(cp, DIR_OUTPUT, f.tcpflags);
  rearm(cp, now);
  writeSource(i, cp, d);
  return 0;
}

/** For replies the decision carries the address to write as source: VIP:vport. */
function writeSource(i: u32, cp: u32, d: Dest | null): void {
  const id = d === null ? 0 : d.id;
  const m = M.flagsOf(cp) & M.F_METHOD;
  const vport = M.u16At(cp, M.R_VPORT);
  if ((M.flagsOf(cp) & M.F_V6) == 0) {
    writeDecisionSrc(i, M.connId(cp), id, m, 4, M.u32At(cp, M.R_VADDR), 0, 0, 0, vport);
  } else {
    const x = M.u32At(cp, M.R_CADDR);
    writeDecisionSrc(i, M.connId(cp), id, m, 6, M.v6Word(x, 1, 0), M.v6Word(x, 1, 1), M.v6Word(x, 1, 2), M.v6Word(x, 1, 3), vport);
  }
}

/** Without connection tracking: the scheduler's answer only (scheduler studies); with
 * OPT_TRACK_CONNS 2 the answer also counts one new connection on its dest (sched/count.ts). */
export function pickOnly(i: u32, f: Flow): i32 {
  if (f.af != 4 && f.af != 6) return fail(i, S.E_INVAL, C.CNT_BAD_FLOW);
  const svc = lookupSvc(i, f);
  if (svc === null) return -1;
  const d = schedPick(svc, f);
  if (d === null) return fail(i, S.E_NO_DEST_AVAILABLE, C.CNT_NO_DEST);
  C.bump(C.CNT_SCHEDULED);
  writeDecision(i, 0, d, d.port != 0 ? d.port : f.vport, d.method);
  if (countPicks) countBind(svc, d);
  return 0;
}

/**
 * pickOnly for a listed flow of a resolved batch (its family checked by the
 * resolve pass, its service in hints[i]), with the same statuses, counters
 * and decision record, except CNT_SCHEDULED, which the caller adds once per
 * batch (every success here is one pick). The flow record is copied into
 * `flow` only for schedulers that read the flow: rr, wrr and the
 * least-load family pick from the service alone, so their decision reads
 * just the virtual port.
 */
export function pickResolved(i: u32, now: u32): i32 {
  const vport = <u32>load<u16>(ioBase() + REGION_FLOWS + <usize>i * FLOW_SIZE + FLOW_VPORT);
  const svc = changetype<Service | null>(load<usize>(hints + <usize>i * 4));
  if (svc === null) return fail(i, S.E_NOT_OURS, C.CNT_NOT_OURS);
  if (svc.fwmark == 0 && (svc.flags & SVC_F_PERSISTENT) == 0 && vport != svc.port) return fail(i, S.E_PORT, C.CNT_PORT_MISMATCH);
  if (svc.sched == 0) return fail(i, S.E_NO_DEST_AVAILABLE, C.CNT_NO_SCHEDULER);
  // rr, wrr, lc, wlc, sed and nq are ids 1..6 (registry.ts).
  if (SCHED_RR != 1 || SCHED_WRR != 2 || SCHED_LC != 3 || SCHED_WLC != 4 || SCHED_SED != 5 || SCHED_NQ != 6) ERROR("pickResolved: scheduler ids changed");
  if (svc.schedId > SCHED_NQ) {
    readFlow(i, flow);
    flow.now = now;
  }
  const d = schedPick(svc, flow);
  if (d === null) return fail(i, S.E_NO_DEST_AVAILABLE, C.CNT_NO_DEST);
  writeDecisionPick(i, d, d.port != 0 ? d.port : vport);
  if (countPicks) countBind(svc, d);
  return 0;
}
