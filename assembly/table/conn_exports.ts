// Glue behind the connection-table exports of index.ts (which stays a thin
// list of numbers-in, numbers-out functions).
import * as S from "../abi/status";
import { REGION_LIST, REGION_LIST_SIZE, CONN_RECORD_SIZE } from "../abi/layout";
import { ioBase } from "../abi/io";
import { specPtr } from "../abi/records";
import * as M from "./conn_mem";
import { setConnSeed, setTabBits, tabBits, indexBytes } from "./conn_hash";
import { wheelInit } from "./wheel";
import { fillView, view, nextLive, writeConnRecord } from "./connlist";
import { advanceConns } from "./conn_api";
import { forceState } from "./conn_state";
import { rearm } from "./conn";
import { setTimeouts, getTimeout } from "./tcp_states";
import { setOption, getOption } from "./conn_options";
import { fmix32 } from "../mem/hash";
import { estimatorRun } from "../stats/estimator";
import { tickSchedulers } from "../sched/tick";

export { packetBatch, connEvent } from "./conn_api";

/** Largest timeout --set accepts: INT_MAX / HZ with HZ = 1000 (the strictest common HZ). */
const MAX_TIMEOUT: u32 = 2147483;

export function seedConns(lo: u32, hi: u32): void {
  setConnSeed(fmix32(lo ^ 0x27D4EB2F) ^ fmix32(hi + 0x165667B1));
  wheelInit(0);
}

export function advance(now: u32): i32 {
  const n = advanceConns(now);
  estimatorRun(now);
  tickSchedulers(now);
  return n;
}

let listNextIdx: i32 = 0;

export function connList(cursor: i32, now: u32): i32 {
  const max = <i32>(REGION_LIST_SIZE / CONN_RECORD_SIZE);
  let n = 0;
  listNextIdx = 0;
  let i = nextLive(cursor < 1 ? 1 : <u32>cursor);
  while (i != 0) {
    if (n == max) {
      listNextIdx = <i32>i;
      break;
    }
    fillView(i, now);
    writeConnRecord(ioBase() + REGION_LIST + <usize>(n * CONN_RECORD_SIZE), view);
    n++;
    i = nextLive(i + 1);
  }
  return n;
}

export function connListNext(): i32 { return listNextIdx; }

export function connGet(id: u32, now: u32): i32 {
  const i = M.indexOf(id);
  if (i == 0) return S.E_NOCONN;
  fillView(i, now);
  writeConnRecord(specPtr(), view);
  return S.OK;
}

export function connCount(): i32 { return <i32>M.liveRecords(); }

export function connForceState(id: u32, state: u32, now: u32): i32 {
  const i = M.indexOf(id);
  if (i == 0) return S.E_NOCONN;
  if (!forceState(i, state)) return S.E_INVAL;
  rearm(i, now);
  return S.OK;
}

export function connTabBits(bits: u32): i32 {
  if (bits < 8 || bits > 24) return S.E_INVAL;
  if (!setTabBits(bits)) return S.E_EXIST;
  return <i32>(1 << bits);
}

export function connTabSize(): i32 { return 1 << tabBits(); }

export function connMemory(): f64 {
  return <f64>(M.recordBytes() + M.v6Bytes() + indexBytes());
}

export function setTimeoutsChecked(tcp: u32, tcpfin: u32, udp: u32): i32 {
  if (tcp > MAX_TIMEOUT || tcpfin > MAX_TIMEOUT || udp > MAX_TIMEOUT) return S.E_INVAL;
  setTimeouts(tcp, tcpfin, udp);
  return S.OK;
}

export function getTimeoutValue(which: u32): i32 {
  if (which > 2) return S.E_INVAL;
  return <i32>getTimeout(which);
}

export function setOptionChecked(id: u32, v: u32): i32 {
  return setOption(id, v) ? S.OK : S.E_INVAL;
}

export function getOptionValue(id: u32): f64 {
  const v = getOption(id);
  return v < 0 ? <f64>S.E_INVAL : <f64>v;
}
