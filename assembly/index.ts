// The whole ABI of the wasmvs core: the only file with exports. Everything
// crossing is a number; records go through the regions of abi/layout.ts.
import * as S from "./abi/status";
import { ABI_VERSION, IPVS_VERSION } from "./abi/version";
import { ioInit, ioBase, ioArea, ioSelect, IO_AREAS } from "./abi/io";
import { REGION_LIST_SIZE, SVC_RECORD_SIZE, DST_RECORD_SIZE, REGION_LIST, MAX_BATCH, IO_TOTAL } from "./abi/layout";
import { specPtr } from "./abi/records";
import { writeServiceRecord, writeDestRecord } from "./service/records";
import { services, setServiceSeed, serviceCount } from "./service/services";
import { dests } from "./table/dests";
import { setConnCounts, setHealth } from "./table/dests";
import { trackConns } from "./table/conn_options";
import { countEnd } from "./sched/count";
import * as control from "./table/control";
import { scheduleBatch } from "./table/director";
import { seedRandom } from "./sched/rand";
import { tickSchedulers } from "./sched/tick";
import { counterValue } from "./stats/counters";
import { seedIpId } from "./packet/ipid";
import * as stats from "./table/stats_ops";
import { estimatorRun } from "./stats/estimator";
import { wr32 } from "./abi/io";
import * as conns from "./table/conn_exports";
import * as connSync from "./table/conn_sync";
import * as gateway from "./packet/gateway";
import * as bulk from "./table/bulk";
import { lookupBatch } from "./table/conn_lookup";
import * as ctFeed from "./table/ct_feed";
import * as ctTrackMod from "./table/ct_track";
import { schedTableSize, schedTableAt } from "./sched/registry";
import { alloc, allocatedBytes } from "./mem/alloc";

/** Set seeds and allocate the I/O regions; call once before anything else. */
export function init(seedLo: u32, seedHi: u32): i32 {
  // The I/O block comes from the core's allocator (zeroed), once; 0 only if
  // memory cannot grow at all.
  if (ioBase() == 0) ioInit(alloc(<usize>IO_TOTAL));
  seedRandom(seedLo, seedHi);
  setServiceSeed(seedLo ^ 0x5BD1E995 ^ (seedHi * 0x9E3779B1));
  seedIpId(seedLo ^ seedHi);
  conns.seedConns(seedLo, seedHi);
  return S.OK;
}

export function abiVersion(): u32 { return ABI_VERSION; }
export function ipvsVersion(): u32 { return IPVS_VERSION; }
export function getIoBase(): usize { return ioBase(); }

/**
 * Which I/O block the regions are from now on: 0 is init's; 1..IO_AREAS-1 are made on first use
 * (IO_TOTAL bytes each). For hosts whose threads call the core under the host's lock: a thread
 * selects its own area, calls, and selects the previous one again, so records the main thread wrote
 * and has not handed over yet stay as they are. Returns the previous area, E_RANGE or E_NOMEM.
 */
export function ioUse(k: i32): i32 {
  if (k < 0 || k >= IO_AREAS) return S.E_RANGE;
  const prev = ioArea();
  if (!ioSelect(k, (size: usize): usize => alloc(size))) return S.E_NOMEM;
  return prev;
}
export function maxBatch(): u32 { return MAX_BATCH; }

// --- services ---------------------------------------------------------------
/** Add the service in REGION_SPEC; returns its id or a status. */
export function svcAdd(): i32 { return control.addService(); }
/** Replace every option of the service named by REGION_SPEC's key. */
export function svcEdit(): i32 { return control.editService(); }
/** The id of the service named by REGION_SPEC's key, or E_NOSERVICE. */
export function svcFind(): i32 {
  const s = control.findServiceBySpec();
  return s === null ? S.E_NOSERVICE : <i32>s.id;
}
export function svcDelete(id: u32): i32 { return control.deleteService(id); }
export function svcClear(): i32 { return control.clearAll(); }
export function svcCount(): i32 { return serviceCount(); }
/** Write the service record of `id` to REGION_SPEC. */
export function svcGet(id: u32): i32 {
  const s = services.get(id);
  if (s === null) return S.E_NOSERVICE;
  writeServiceRecord(specPtr(), s);
  return S.OK;
}

let listNext: i32 = 0;
/** Cursor to pass to the next *List call (0 when the listing is complete). */
export function listCursor(): i32 { return listNext; }

/** Service records from slot `cursor` on, into REGION_LIST; returns the count. */
export function svcList(cursor: i32): i32 {
  const max = <i32>(REGION_LIST_SIZE / SVC_RECORD_SIZE);
  let n = 0;
  let i = cursor < 0 ? 0 : cursor;
  listNext = 0;
  for (const len = services.slotCount(); i < len; i++) {
    const s = services.at(i);
    if (s === null) continue;
    if (n == max) {
      listNext = i;
      break;
    }
    writeServiceRecord(ioBase() + REGION_LIST + <usize>(n * SVC_RECORD_SIZE), s);
    n++;
  }
  return n;
}

// --- destinations -----------------------------------------------------------
export function destAdd(svcId: u32): i32 { return control.addDest(svcId); }
export function destEdit(svcId: u32): i32 { return control.editDest(svcId); }
export function destDelete(svcId: u32): i32 { return control.deleteDest(svcId); }
/** n configuration records in REGION_BULK (BULK_* layout), applied in order; see table/bulk.ts. */
export function cfgBatch(n: u32, stop: u32): i32 { return bulk.cfgBatch(n, stop); }

/** Dest records of a service in list order from index `cursor`; returns the count. */
export function destList(svcId: u32, cursor: i32): i32 {
  const s = services.get(svcId);
  if (s === null) return S.E_NOSERVICE;
  const list = s.dests;
  const max = <i32>(REGION_LIST_SIZE / DST_RECORD_SIZE);
  let n = 0;
  let i = cursor < 0 ? 0 : cursor;
  listNext = 0;
  for (; i < list.length; i++) {
    if (n == max) {
      listNext = i;
      break;
    }
    writeDestRecord(ioBase() + REGION_LIST + <usize>(n * DST_RECORD_SIZE), unchecked(list[i]));
    n++;
  }
  return n;
}

/** Write the dest record of `id` (live or in the trash) to REGION_SPEC. */
export function destGet(id: u32): i32 {
  const d = dests.get(id);
  if (d === null) return S.E_NODEST;
  writeDestRecord(specPtr(), d);
  return S.OK;
}

/** For simulations and scheduler tests: set a dest's connection counters. */
export function destSetConns(id: u32, active: u32, inactive: u32): i32 {
  const d = dests.get(id);
  if (d === null) return S.E_NODEST;
  // Real connections own the counters: overwriting them would make a later
  // unbind wrap below zero. Only a dest no connection references may be set.
  if (trackConns && d.refcnt != 0) return S.E_INVAL;
  setConnCounts(d, active, inactive);
  return S.OK;
}

/**
 * OPT_TRACK_CONNS 2: a connection the core counted on dest `id` ended
 * (`active` 1: it was in activeconns). Returns 1, or 0 when that counter was
 * already 0 (nothing changed); E_INVAL while entries of the connection table
 * reference the dest (they own its counters).
 */
export function destConnEnd(id: u32, active: u32): i32 {
  const d = dests.get(id);
  if (d === null) return S.E_NODEST;
  // Entries the table keeps (also ones left from before the switch to counting)
  // own their counts: a host end must not take one of theirs.
  if (d.refcnt != 0) return S.E_INVAL;
  return countEnd(d, active != 0) ? 1 : 0;
}

/** Health from a checker: up 0 = DOWN (skipped like OVERLOAD, weight kept). Returns 1 when it changed. */
export function destSetHealth(id: u32, up: u32): i32 {
  const d = dests.get(id);
  if (d === null) return S.E_NODEST;
  return setHealth(d, up != 0) ? 1 : 0;
}

/**
 * The lookup table of a dh/sh/mh service as u32 dest ids (0 = empty slot),
 * slots `cursor`.. into REGION_LIST; returns the count (0 for schedulers
 * without a table). listCursor() gives the next slot when the region filled.
 */
export function schedTable(svcId: u32, cursor: i32): i32 {
  const s = services.get(svcId);
  if (s === null) return S.E_NOSERVICE;
  listNext = 0;
  const size = schedTableSize(s);
  const max = <i32>(REGION_LIST_SIZE >> 2);
  let n = 0;
  for (let i = cursor < 0 ? 0 : cursor; i < size; i++) {
    if (n == max) {
      listNext = i;
      break;
    }
    const d = schedTableAt(s, i);
    wr32(ioBase() + REGION_LIST + <usize>(n << 2), d === null ? 0 : d.id);
    n++;
  }
  return n;
}

// --- scheduling -------------------------------------------------------------
/** Schedule n flows from REGION_FLOWS into REGION_DECISIONS; returns successes. */
export function schedule(n: u32, now: u32): i32 {
  if (n > MAX_BATCH) return S.E_BATCH;
  return scheduleBatch(n, now);
}

/** Scheduler upkeep due by `now` (lblc/lblcr cache expiry); returns services visited. */
export function schedTick(now: u32): i32 { return tickSchedulers(now); }

/** A global counter (stats/counters.ts); f64 because it may pass 2^32. */
export function counter(i: i32): f64 { return <f64>counterValue(i); }

// --- statistics (ipvsadm --stats / --rate / -Z) ------------------------------
/** Write the STATS record (layout ST_*) of the total (kind 0), a service (1) or a dest (2). */
export function statsGet(kind: u32, id: u32): i32 { return stats.statsGet(kind, id); }
/** ipvsadm -Z: zero one service and its dests, or everything (svcId 0). */
export function statsZero(svcId: u32): i32 { return stats.statsZero(svcId); }
/** Take the estimator samples due up to `now` (advance() does this too). */
export function statsTick(now: u32): i32 {
  estimatorRun(now);
  return S.OK;
}
/** Simulation/test entry point: count events for a live dest, its service and the total. */
export function statsFeed(destId: u32, conns: u32, inpkts: u32, inbytes: u32, outpkts: u32, outbytes: u32): i32 {
  return stats.statsFeed(destId, conns, inpkts, inbytes, outpkts, outbytes);
}

// --- gateway burst (packet/gateway.ts) -----------------------------------------
/** Tunnel outer source (IPv4, host order) and route MTU towards the real servers. */
export function gwConfig(tunSrc: u32, mtu: u32): i32 { return gateway.gwConfig(tunSrc, mtu); }
/** A real server's route MTU (TUN: and outer source, IPv4 host order; NAT: bounds DF requests); 0 keeps the gwConfig default. */
export function gwDestTunnel(destId: u32, tunSrc: u32, mtu: u32): i32 { return gateway.gwDestTunnel(destId, tunSrc, mtu); }
/** GW_OPT_* flags of the gateway path (fail-open); E_INVAL for unknown bits. */
export function gwOptions(flags: u32): i32 { return gateway.gwOptions(flags); }
/**
 * n NFQUEUE records (GW_REC_*) in REGION_PACKETS, at `stride` or packed (GW_STRIDE_PACKED)
 * → n verdicts (GW_VER_*) in REGION_LIST; returns n.
 */
export function gwBurst(n: u32, stride: u32, now: u32): i32 { return gateway.gwBurst(n, stride, now); }
/**
 * Of n records as gwBurst takes them: how many are a TCP SYN whose NAT connection entry is live and not
 * reusable (a retransmission, or a port reused before the host told the table the old flow ended).
 * Reads only. The gateway's fast path reads its pending conntrack destroy events first when not 0.
 */
export function gwStaleSyns(n: u32, stride: u32): i32 { return gateway.gwStaleSyns(n, stride); }
/**
 * Fast path: NAT real server destId on it (1) or not (0). A packet that opens a flow to it is accepted with the ct mark
 * base + (destId & GW_DR_SLOT_MASK) (gwFastParams; TCP with the young bits), not rewritten, and not counted (conntrack counts it).
 */
export function gwFastDest(destId: u32, on: u32): i32 { return gateway.gwFastDest(destId, on); }
/** Fast path: the real servers' mark base, the record mark of a packet conntrack called INVALID (keeps the rewrite), the young bits of a TCP flow's mark. */
export function gwFastParams(base: u32, invalidMark: u32, young: u32): i32 { return gateway.gwFastParams(base, invalidMark, young); }
/**
 * The gateway's fast-path feed: n conntrack records (CT_*) at REGION_CT applied to the connection table and
 * the statistics (counters since the last read, TCP states as connection events); `settled` and `young` are
 * the host's ct mark bits. Actions for the kernel's entries (CT_ACT_*) at REGION_LIST, summary (CT_SUM_*) at
 * REGION_SPEC; returns the number of actions.
 */
export function ctApply(n: u32, now: u32, settled: u32, young: u32): i32 { return ctFeed.ctApply(n, now, settled, young); }
/** The next up to `max` tuples of tracked fast flows to read this tick, at REGION_CT (table/ct_track.ts); fewer than max: the scan is over. */
export function ctTrackNext(max: u32, now: u32): u32 { return ctTrackMod.ctTrackNext(max, now); }
/** Before a tick's reads: the flows over dropped from the tracker, and how many tuples ctTrackNext would hand out. */
export function ctTrackPrepare(now: u32): u32 { return ctTrackMod.ctTrackPrepare(now); }
/** Flows tracked now; bit 31 set when one went untracked for want of room since the last ctTrackReset. */
export function ctTrackState(): u32 { return ctTrackMod.ctTrackCount() | (ctTrackMod.ctTrackOverflowed() ? 0x80000000 : 0); }
/** After a walk of every entry of ours: the overflow forgotten (the walk tracked what it listed). */
export function ctTrackReset(): void { ctTrackMod.ctTrackReset(); }

// --- connection table ----------------------------------------------------------
/** Run timers up to `now` (conn expiry, template re-arm, estimator, scheduler tick); returns entries expired. */
export function advance(now: u32): i32 { return conns.advance(now); }
/** Flow records 0..n-1 as packets (FLOW_DIR in/out) into REGION_DECISIONS; returns successes. */
export function packetBatch(n: u32, now: u32): i32 {
  if (n > MAX_BATCH) return S.E_BATCH;
  return conns.packetBatch(n, now);
}
/** Inbound lookup only: flow records 0..n-1 → u32 connection ids (0 = none) at REGION_LIST; returns the hits. */
export function connLookupBatch(n: u32): i32 {
  if (n > MAX_BATCH) return S.E_BATCH;
  return lookupBatch(n);
}
/** Socket lifecycle event CONN_EV_* for connection `id`; returns the new state or a status. */
export function connEvent(id: u32, ev: u32, now: u32): i32 { return conns.connEvent(id, ev, now); }
/** Connection records (CONN_*) from record `cursor` on into REGION_LIST; listCursor() continues. */
export function connList(cursor: i32, now: u32): i32 {
  const n = conns.connList(cursor, now);
  listNext = conns.connListNext();
  return n;
}
/** Connection sync: import the CONN_* record at REGION_SPEC (service and real server by address); returns its id or a status. */
export function connImport(now: u32): i32 { return connSync.connImport(now); }
/** One connection's record into REGION_SPEC. */
export function connGet(id: u32, now: u32): i32 { return conns.connGet(id, now); }
/** Live entries (connections + templates). */
export function connCount(): i32 { return conns.connCount(); }
/** Set conn_tab_bits (8..24) while the table is empty; returns the bucket count or a status. */
export function connTabBits(bits: u32): i32 { return conns.connTabBits(bits); }
/** Configured conn_tab_size (ipvsadm's "size="). */
export function connTabSize(): i32 { return conns.connTabSize(); }
/** Bytes held by the table: records, IPv6 side table and index. */
export function connMemory(): f64 { return conns.connMemory(); }
/** Bytes held by the core's allocator (records, tables, caches, conn chunks excluded). */
export function memAllocated(): f64 { return <f64>allocatedBytes(); }
/** ipvsadm --set tcp tcpfin udp (0 = unchanged); E_INVAL above INT_MAX/HZ. */
export function setTimeouts(tcp: u32, tcpfin: u32, udp: u32): i32 { return conns.setTimeoutsChecked(tcp, tcpfin, udp); }
/** 0 tcp, 1 tcpfin, 2 udp (seconds). */
export function getTimeout(which: u32): i32 { return conns.getTimeoutValue(which); }
export function setOption(id: u32, value: u32): i32 { return conns.setOptionChecked(id, value); }
export function getOption(id: u32): f64 { return conns.getOptionValue(id); }
