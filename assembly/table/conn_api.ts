// Entry points behind the connection-table exports: the clock (advance),
// socket-level events, the packet batch, and the expire_nodest_conn flush.
import { estimatorRun, estimatorDue } from "../stats/estimator";
import * as S from "../abi/status";
import {
  FLOW_DIR_OUT, CONN_EV_ESTABLISHED, CONN_EV_CLIENT_FIN, CONN_EV_SERVER_FIN, CONN_EV_RESET, CONN_EV_CLOSE,
} from "../abi/layout";
import { readFlow, readFlowDir } from "../abi/records";
import { flow } from "../abi/flow";
import * as M from "./conn_mem";
import { destOf, killConn, timerFired, rearm } from "./conn";
import { transition } from "./conn_state";
import { packetIn, packetOut, resolveConnBatch, endResolvedConns } from "./conn_path";
import { dropEntryPass } from "./conn_limit";
import { moveSome, rehashing } from "./conn_hash";
import { wheelTake, wheelRelink, wheelLast, setWheelLast, WHEEL_SIZE } from "./wheel";
import { expireNodestConn } from "./conn_options";
import { DIR_INPUT, DIR_OUTPUT, S_TIME_WAIT } from "./tcp_states";
import { sweepTrash, trashEvents } from "./trash";
import { bump, CNT_CONN_EXPIRED, CNT_TEMPLATE_REARMED, CNT_EXPIRE_NODEST } from "../stats/counters";

const TRASH_SWEEP_PERIOD: u32 = 60;
let nextTrashSweep: u32 = TRASH_SWEEP_PERIOD;
let seenTrash: u32 = 0;

/** Fire one wheel slot at second t; returns entries freed. */
function fireSlot(t: u32): i32 {
  setWheelLast(t);
  let i = wheelTake(t);
  let n = 0;
  while (i != 0) {
    const next = M.u32At(i, M.R_WNEXT);
    if (M.u32At(i, M.R_EXPIRES) <= t) {
      if (timerFired(i, t)) {
        n++;
        bump(CNT_CONN_EXPIRED);
      } else {
        bump(CNT_TEMPLATE_REARMED);
      }
    } else {
      wheelRelink(i);
    }
    i = next;
  }
  return n;
}

/**
 * Run the connection timers up to `now`: every second since the last call
 * (at most one wheel turn: older seconds are covered because each slot is
 * visited once with its latest time), the drop_entry pass, the bucket move,
 * the trash sweep and the expire_nodest_conn flush. Returns entries expired.
 */
export function advanceConns(now: u32): i32 {
  const last = wheelLast();
  let n = 0;
  if (now > last) {
    const start = now - last > WHEEL_SIZE ? now - WHEEL_SIZE + 1 : last + 1;
    // drop_entry runs once a second; a long gap needs at most the last 32
    // passes (32 × 1/32 of the buckets covers the table once).
    const dropFrom = now - start >= 32 ? now - 31 : start;
    for (let t = start; ; t++) {
      n += fireSlot(t);
      if (t >= dropFrom) dropEntryPass(t);
      if (t == now) break;
    }
  }
  moveSome(1024);
  if (trashEvents() != seenTrash) {
    seenTrash = trashEvents();
    if (expireNodestConn) n += flushNodest();
  }
  if (now >= nextTrashSweep) {
    sweepTrash(now);
    nextTrashSweep = now + TRASH_SWEEP_PERIOD;
  }
  return n;
}

/**
 * ip_vs_expire_nodest_conn_flush: after a dest was deleted, drop every entry
 * of an unavailable dest (and a template left controlling nothing). A full
 * pass, but only on that configuration event with the option on.
 */
function flushNodest(): i32 {
  let n = 0;
  const end = M.highWater();
  for (let i: u32 = 1; i < end; i++) {
    const f = M.flagsOf(i);
    if ((f & M.F_LIVE) == 0 || M.u32At(i, M.R_CONTROL) != 0 && (f & M.F_TEMPLATE) != 0) continue;
    const d = destOf(i);
    if (d === null || d.available) continue;
    const ct = (f & M.F_TEMPLATE) == 0 ? M.u32At(i, M.R_CONTROL) : 0;
    killConn(i, true);
    bump(CNT_EXPIRE_NODEST);
    n++;
    if (ct != 0 && M.u32At(ct, M.R_CONTROL) == 0) {
      killConn(ct, true);
      n++;
    }
  }
  return n;
}

/**
 * The clocks every data-path call runs first: connection timers, then the
 * rate estimator, so traffic counted at `now` falls into the sample after
 * every sample due by `now` (as it would with the kernel's timers).
 */
@inline export function runClocks(now: u32): void {
  // Most calls come within the second of the last one with nothing due: the
  // same tests advanceConns and estimatorRun start with, in one place, so the
  // common case costs a few compares and no call.
  if (now > wheelLast() || rehashing() || trashEvents() != seenTrash || now >= nextTrashSweep || estimatorDue(now)) {
    advanceConns(now);
    estimatorRun(now);
  }
}

/** Flow records 0..n-1 as packets (FLOW_DIR per record); returns the successes. */
export function packetBatch(n: u32, now: u32): i32 {
  runClocks(now);
  resolveConnBatch(n);
  let ok = 0;
  for (let i: u32 = 0; i < n; i++) {
    readFlow(i, flow);
    flow.now = now;
    const st = readFlowDir(i) == FLOW_DIR_OUT ? packetOut(i, flow, now) : packetIn(i, flow, now);
    if (st >= 0) ok++;
  }
  endResolvedConns();
  return ok;
}

/**
 * Socket lifecycle mapped onto the TCP tables as a NAT connection seen from
 * both sides (the proxy terminates both sockets):
 *  established  reply SYN+ACK (OUTPUT syn) then client ACK (INPUT ack) → ESTABLISHED
 *  client-fin   INPUT fin   (ES → CLOSE_WAIT; FIN_WAIT → TIME_WAIT)
 *  server-fin   OUTPUT fin  (ES → FIN_WAIT; CLOSE_WAIT → TIME_WAIT)
 *  reset        INPUT rst then OUTPUT rst (both sockets saw it): → CLOSE, 10 s,
 *               also from SYN_RECV where an INPUT rst alone keeps SYN_RECV
 *  close        the sockets are gone: TIME_WAIT stays; anything else becomes
 *               CLOSE (a segment without SYN/FIN/ACK/RST)
 * UDP entries only refresh their timer. Returns the entry's state or a status.
 */
export function connEvent(id: u32, ev: u32, now: u32): i32 {
  runClocks(now);
  const i = M.indexOf(id);
  if (i == 0) return S.E_NOCONN;
  if (ev == CONN_EV_ESTABLISHED) {
    transition(i, DIR_OUTPUT, 0x12);
    transition(i, DIR_INPUT, 0x10);
  } else if (ev == CONN_EV_CLIENT_FIN) {
    transition(i, DIR_INPUT, 0x11);
  } else if (ev == CONN_EV_SERVER_FIN) {
    transition(i, DIR_OUTPUT, 0x11);
  } else if (ev == CONN_EV_RESET) {
    transition(i, DIR_INPUT, 0x04);
    transition(i, DIR_OUTPUT, 0x04);
  } else if (ev == CONN_EV_CLOSE) {
    if (M.stateOf(i) != S_TIME_WAIT) transition(i, DIR_INPUT, 0);
  } else {
    return S.E_INVAL;
  }
  if ((M.flagsOf(i) & M.F_TEMPLATE) == 0) rearm(i, now);
  return <i32>M.stateOf(i);
}
