// Connection-table options (IPVS sysctls and our connection limit), set by
// the setOption export. Ids are ABI (OPT_* in abi/layout.ts).
import {
  OPT_CONN_REUSE_MODE, OPT_EXPIRE_NODEST_CONN, OPT_EXPIRE_QUIESCENT_TEMPLATE, OPT_CONN_LIMIT, OPT_SECURE_TCP, OPT_DROP_ENTRY,
  OPT_TRACK_CONNS, OPT_MEM_LIMIT_PAGES, OPT_SLOPPY_TCP,
} from "../abi/layout";
import { setPageBudget, pageBudget, pagesInUse } from "../mem/pages";

/** conn_reuse_mode bitmap (default 1; bit 2 also reuses DR/TUN FIN_WAIT). */
export let connReuseMode: u32 = 1;
export let expireNodestConn: bool = false;
export let expireQuiescentTemplate: bool = false;
/** sloppy_tcp: a TCP packet without SYN (not a RST) may create a connection. */
export let sloppyTcp: bool = false;
/** Live entries allowed (connections + templates); 0 = only memory limits. */
export let connLimit: u32 = 0;
/** secure_tcp / drop_entry: 0 off, 1 and 2 automatic (table >= 3/4 of the limit), 3 always. */
export let secureTcp: u32 = 0;
export let dropEntry: u32 = 0;
/** false: schedule() is a bare scheduler pick (no entries). */
export let trackConns: bool = true;
/**
 * OPT_TRACK_CONNS 2: no entries either, but each decision counts one new
 * connection on its dest as binding one does (sched/count.ts); the host
 * reports the ends (destConnEnd).
 */
export let countPicks: bool = false;

/** Returns false for an unknown id or an out-of-range value. */
export function setOption(id: u32, v: u32): bool {
  if (id == OPT_CONN_REUSE_MODE) {
    if (v > 3) return false;
    connReuseMode = v;
  } else if (id == OPT_EXPIRE_NODEST_CONN) {
    if (v > 1) return false;
    expireNodestConn = v != 0;
  } else if (id == OPT_EXPIRE_QUIESCENT_TEMPLATE) {
    if (v > 1) return false;
    expireQuiescentTemplate = v != 0;
  } else if (id == OPT_SLOPPY_TCP) {
    if (v > 1) return false;
    sloppyTcp = v != 0;
  } else if (id == OPT_CONN_LIMIT) {
    connLimit = v;
  } else if (id == OPT_SECURE_TCP) {
    if (v > 3) return false;
    secureTcp = v;
  } else if (id == OPT_DROP_ENTRY) {
    if (v > 3) return false;
    dropEntry = v;
  } else if (id == OPT_TRACK_CONNS) {
    if (v > 2) return false;
    trackConns = v == 1;
    countPicks = v == 2;
  } else if (id == OPT_MEM_LIMIT_PAGES) {
    if (v > 65536) return false;
    setPageBudget(v);
  } else {
    return false;
  }
  return true;
}

export function getOption(id: u32): i64 {
  if (id == OPT_CONN_REUSE_MODE) return connReuseMode;
  if (id == OPT_EXPIRE_NODEST_CONN) return expireNodestConn ? 1 : 0;
  if (id == OPT_EXPIRE_QUIESCENT_TEMPLATE) return expireQuiescentTemplate ? 1 : 0;
  if (id == OPT_SLOPPY_TCP) return sloppyTcp ? 1 : 0;
  if (id == OPT_CONN_LIMIT) return connLimit;
  if (id == OPT_SECURE_TCP) return secureTcp;
  if (id == OPT_DROP_ENTRY) return dropEntry;
  if (id == OPT_TRACK_CONNS) return trackConns ? 1 : countPicks ? 2 : 0;
  if (id == OPT_MEM_LIMIT_PAGES) return pageBudget();
  return -1;
}

/**
 * A 0..3 defense mode is on: 3 always; 1/2 under pressure, which is the table
 * at 3/4 of the connection limit or memory at 3/4 of the budget (IPVS switches
 * them on when free memory falls under amemthresh).
 */
export function defenseOn(mode: u32, live: u32): bool {
  if (mode == 0) return false;
  if (mode == 3) return true;
  if (connLimit != 0 && <u64>live * 4 >= <u64>connLimit * 3) return true;
  const b = pageBudget();
  return b != 0 && <u64>pagesInUse() * 4 >= <u64>b * 3;
}
