// The gateway's fast-path feed, applied in one call (ctApply): conntrack
// records that the addon wrote into REGION_CT (a dump's records, destroy
// events) brought into the connection table and the statistics, as IPVS would
// have seen the packets the kernel carried without the core:
//  - each record's entry is looked up as an inbound packet would be (client
//    and virtual address and port; resolveConns, the batched walk);
//  - its counters since the last read go to the connection's real server, its
//    service and the total;
//  - conntrack's TCP state becomes the socket events the table knows
//    (connEvent): ESTABLISHED; the first FIN by the side conntrack says sent
//    it (CLOSE_INIT); the second; a reset for CLOSE. Only the events the
//    connection has not had yet, by its own state. A busy ESTABLISHED flow is
//    re-armed; a UDP flow that moved refreshes its timer;
//  - what the host must do to the kernel's entry comes back as actions at
//    REGION_LIST: delete it (the table has no connection for it: IPVS would
//    not forward its packets either), settle it (closed) or promote it (a
//    young entry listed).
// The mark bits that say settled and young are the host's (its ct mark
// layout), passed in. The host keeps the records until it has read the
// actions: an action names its record by index.
import * as S from "../abi/status";
import {
  MAX_BATCH, REGION_CT, REGION_LIST, REGION_SPEC, REGION_FLOWS, FLOW_SIZE, FLOW_CADDR, FLOW_VADDR, FLOW_CPORT, FLOW_FWMARK, FLOW_LEN,
  CT_MAX, CT_REC_SIZE, CT_KIND, CT_PROTO, CT_STATE, CT_CLOSE, CT_MARK, CT_OSRC, CT_ODST, CT_OSPORT, CT_FAMILY,
  CT_OPKTS, CT_OBYTES, CT_RPKTS, CT_RBYTES, CT_OSRC6, CT_ODST6, CT_KIND_DESTROY,
  CT_ACT_REC, CT_ACT_KIND, CT_ACT_MARK, CT_ACT_SIZE, CT_ACT_REMOVE, CT_ACT_SETTLE, CT_ACT_PROMOTE, CT_SUM_FED, CT_SUM_MATCHED,
  PROTO_TCP, PROTO_UDP, CONN_EV_ESTABLISHED, CONN_EV_CLIENT_FIN, CONN_EV_SERVER_FIN, CONN_EV_RESET,
} from "../abi/layout";
import { ioBase } from "../abi/io";
import { resolveConns } from "./conn_lookup";
import * as M from "./conn_mem";
import { dests } from "./dests";
import { serviceOf } from "../service/services";
import { accountBulk, statsReady } from "./account";
import { connEvent } from "./conn_api";
import { ctTrack, ctUntrack } from "./ct_track";
import { S_ESTABLISHED, S_FIN_WAIT, S_CLOSE_WAIT, S_TIME_WAIT, S_LAST_ACK, S_CLOSE } from "./tcp_states";

/** nf_conntrack_tcp states. */
const TCP_ESTABLISHED: u32 = 3, TCP_FIN_WAIT: u32 = 4, TCP_CLOSE_WAIT: u32 = 5, TCP_LAST_ACK: u32 = 6, TCP_TIME_WAIT: u32 = 7, TCP_CLOSE: u32 = 8;

/** How many of the events ESTABLISHED, first FIN, second FIN a conntrack TCP state implies. */
function ctSteps(state: u32): u32 {
  if (state == TCP_ESTABLISHED) return 1;
  if (state == TCP_FIN_WAIT || state == TCP_CLOSE_WAIT) return 2;
  if (state == TCP_LAST_ACK || state == TCP_TIME_WAIT) return 3;
  return 0;
}

/**
 * The same for the table's (IPVS) state: ESTABLISHED 1; one FIN (FIN_WAIT,
 * CLOSE_WAIT) 2; both (TIME_WAIT, LAST_ACK) 3; CLOSE: 4 (reset, nothing
 * more); the rest (SYN_RECV and the like) 0.
 */
function coreSteps(state: u32): u32 {
  if (state == S_ESTABLISHED) return 1;
  if (state == S_FIN_WAIT || state == S_CLOSE_WAIT) return 2;
  if (state == S_TIME_WAIT || state == S_LAST_ACK) return 3;
  if (state == S_CLOSE) return 4;
  return 0;
}

/** The records of one lookup batch (their indexes in REGION_CT) and the connection ids found. */
const batchRecs = memory.data(<i32>MAX_BATCH * 4, 16);
const batchIds = memory.data(<i32>MAX_BATCH * 4, 16);

let actions: u32 = 0;
let fed: f64 = 0;
let matched: u32 = 0;

@inline function rd64(p: usize): u64 {
  const v = load<f64>(p);
  // Counters are whole numbers; anything else (negative, NaN) counts nothing.
  return v > 0 && v < 1.8e19 ? <u64>v : 0;
}

function act(rec: u32, kind: u32, mark: u32): void {
  const p = ioBase() + REGION_LIST + <usize>actions * CT_ACT_SIZE;
  store<u32>(p + CT_ACT_REC, rec);
  store<u32>(p + CT_ACT_KIND, kind);
  store<u32>(p + CT_ACT_MARK, mark);
  actions++;
}

/**
 * n records at REGION_CT applied (see above); `settled` is the ct mark bit of
 * a settled entry, `young` the bits of a young one. Writes the actions at
 * REGION_LIST and the summary (CT_SUM_*) at REGION_SPEC; returns the number
 * of actions, or E_BATCH / E_INVAL.
 */
export function ctApply(n: u32, now: u32, settled: u32, young: u32): i32 {
  if (n > CT_MAX) return S.E_BATCH;
  if ((settled & young) != 0) return S.E_INVAL;
  actions = 0;
  fed = 0;
  matched = 0;
  const base = ioBase();
  const recs = base + REGION_CT;
  const flows = base + REGION_FLOWS;
  let m: u32 = 0;
  for (let k: u32 = 0; k < n; k++) {
    const r = recs + <usize>k * CT_REC_SIZE;
    // A settled entry's destroy event with nothing counted since its last read: the table has its
    // state and counters already (a closed flow's entry timing out, or a client reopening its tuple).
    if (<u32>load<u8>(r + CT_KIND) == CT_KIND_DESTROY && (load<u32>(r + CT_MARK) & settled) != 0 &&
      rd64(r + CT_OPKTS) + rd64(r + CT_RPKTS) == 0) continue;
    const f = flows + <usize>m * FLOW_SIZE;
    const v6 = load<u8>(r + CT_FAMILY) == 6;
    // The family, the protocol, an ACK (a packet of an open flow).
    store<u32>(f, (v6 ? <u32>6 : <u32>4) | (<u32>load<u8>(r + CT_PROTO) << 8) | (0x10 << 16));
    store<u32>(f + FLOW_FWMARK, 0);
    if (v6) {
      memory.copy(f + FLOW_CADDR, r + CT_OSRC6, 16);
      memory.copy(f + FLOW_VADDR, r + CT_ODST6, 16);
    } else {
      store<u32>(f + FLOW_CADDR, load<u32>(r + CT_OSRC)); store<u32>(f + FLOW_CADDR + 4, 0);
      store<u64>(f + FLOW_CADDR + 8, 0);
      store<u32>(f + FLOW_VADDR, load<u32>(r + CT_ODST)); store<u32>(f + FLOW_VADDR + 4, 0);
      store<u64>(f + FLOW_VADDR + 8, 0);
    }
    // cport | vport << 16, as both records keep them.
    store<u32>(f + FLOW_CPORT, load<u32>(r + CT_OSPORT));
    store<u32>(f + FLOW_LEN, 0);
    store<u32>(batchRecs + <usize>m * 4, k);
    m++;
    if (m == MAX_BATCH) {
      batch(m, now, settled, young);
      m = 0;
    }
  }
  if (m != 0) batch(m, now, settled, young);
  store<f64>(base + REGION_SPEC + CT_SUM_FED, fed);
  store<u32>(base + REGION_SPEC + CT_SUM_MATCHED, matched);
  return <i32>actions;
}

function batch(m: u32, now: u32, settled: u32, young: u32): void {
  const base = ioBase();
  resolveConns(base + REGION_FLOWS, batchIds, m, 0);
  for (let j: u32 = 0; j < m; j++) {
    const k = load<u32>(batchRecs + <usize>j * 4);
    one(k, base + REGION_CT + <usize>k * CT_REC_SIZE, load<u32>(batchIds + <usize>j * 4), now, settled, young);
  }
}

function one(k: u32, r: usize, conn: u32, now: u32, settled: u32, young: u32): void {
  const kind = <u32>load<u8>(r + CT_KIND);
  const proto = <u32>load<u8>(r + CT_PROTO);
  if (conn == 0) {
    // The table has no connection for it: IPVS would not forward its packets either.
    if (kind != CT_KIND_DESTROY) act(k, CT_ACT_REMOVE, 0);
    return;
  }
  const i = M.indexOf(conn);
  if (i == 0) return;
  matched++;
  const coreState = M.stateOf(i);
  const mark = load<u32>(r + CT_MARK);
  const isSettled = (mark & settled) != 0;
  const op = rd64(r + CT_OPKTS), ob = rd64(r + CT_OBYTES), rp = rd64(r + CT_RPKTS), rb = rd64(r + CT_RBYTES);
  const moved = op + rp > 0;
  if (moved) {
    // Counted for a real server that is still available, as IPVS counts packets.
    const d = dests.get(M.u32At(i, M.R_DEST));
    if (d !== null && d.available) {
      const svc = serviceOf(d);
      if (svc !== null && statsReady(svc, d)) accountBulk(svc, d, 0, op, ob, rp, rb);
    }
    fed += <f64>(op + rp);
  }
  const state = <u32>load<u8>(r + CT_STATE);
  if (proto == PROTO_TCP && state != 0) {
    // The events the connection has had, by its state; those conntrack's state implies and it has not had follow.
    const had = coreSteps(coreState);
    if (state == TCP_CLOSE) {
      if (had < 4) connEvent(conn, CONN_EV_RESET, now);
    } else if (had < 4) {
      const close = <u32>load<u8>(r + CT_CLOSE);
      // The side whose FIN conntrack saw first: the reply side's alone means the real server.
      const first = (close & 2) != 0 && (close & 1) == 0 ? CONN_EV_SERVER_FIN : CONN_EV_CLIENT_FIN;
      const second = first == CONN_EV_CLIENT_FIN ? CONN_EV_SERVER_FIN : CONN_EV_CLIENT_FIN;
      const steps = ctSteps(state);
      for (let s = had; s < steps; s++) connEvent(conn, s == 0 ? CONN_EV_ESTABLISHED : s == 1 ? first : second, now);
      if (steps == 1 && had == 1 && moved) connEvent(conn, CONN_EV_ESTABLISHED, now); // busy: re-armed
    }
  } else if (proto == PROTO_UDP && moved) {
    connEvent(conn, CONN_EV_ESTABLISHED, now); // UDP: refreshes the timer
  }
  // Its conntrack entry is gone: no more reads by tuple. A listed one of ours the tracker lacks
  // (a walk found it: untracked for want of room, or from before) is read by tuple from now on.
  if (kind == CT_KIND_DESTROY) {
    ctUntrack(i);
    return;
  }
  if (!isSettled) ctTrack(i, conn, now);
  // Closed: settled, out of the next dumps. Young (listed with its generation): promoted.
  if (!isSettled && proto == PROTO_TCP && (state == TCP_TIME_WAIT || state == TCP_CLOSE)) {
    act(k, CT_ACT_SETTLE, (mark & ~young) | settled);
  } else if ((mark & young) != 0) {
    act(k, CT_ACT_PROMOTE, mark & ~young);
  }
}
