// The whole ABI of the wasmvs core: the only file with exports. Everything
// crossing is a number; records go through the regions of abi/layout.ts.
import * as S from "./abi/status";
import { ABI_VERSION, IPVS_VERSION } from "./abi/version";
import { ioInit, ioBase } from "./abi/io";
import { REGION_LIST_SIZE, SVC_RECORD_SIZE, DST_RECORD_SIZE, REGION_LIST, MAX_BATCH } from "./abi/layout";
import { writeServiceRecord, writeDestRecord, specPtr } from "./abi/records";
import { services, setServiceSeed, serviceCount } from "./table/services";
import { dests } from "./table/dests";
import { setConnCounts } from "./table/dests";
import * as control from "./table/control";
import { scheduleBatch } from "./table/director";
import { seedRandom } from "./sched/rand";
import { counterValue } from "./stats/counters";

/** Set seeds and allocate the I/O regions; call once before anything else. */
export function init(seedLo: u32, seedHi: u32): i32 {
  ioInit();
  seedRandom(seedLo, seedHi);
  setServiceSeed(seedLo ^ 0x5BD1E995 ^ (seedHi * 0x9E3779B1));
  return S.OK;
}

export function abiVersion(): u32 { return ABI_VERSION; }
export function ipvsVersion(): u32 { return IPVS_VERSION; }
export function getIoBase(): usize { return ioBase(); }
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
  const items = services.items;
  const max = <i32>(REGION_LIST_SIZE / SVC_RECORD_SIZE);
  let n = 0;
  let i = cursor < 0 ? 0 : cursor;
  listNext = 0;
  for (; i < items.length; i++) {
    const s = items[i];
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
    writeDestRecord(ioBase() + REGION_LIST + <usize>(n * DST_RECORD_SIZE), list[i]);
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
  setConnCounts(d, active, inactive);
  return S.OK;
}

// --- scheduling -------------------------------------------------------------
/** Schedule n flows from REGION_FLOWS into REGION_DECISIONS; returns successes. */
export function schedule(n: u32, now: u32): i32 {
  if (n > MAX_BATCH) return S.E_BATCH;
  return scheduleBatch(n, now);
}

/** A global counter (stats/counters.ts); f64 because it may pass 2^32. */
export function counter(i: i32): f64 { return <f64>counterValue(i); }
