// The statistics operations behind the exports: read one stats object into
// the STATS record, -Z, and the simulation feed.
import * as S from "../abi/status";
import { STATS_TOTAL, STATS_SERVICE, STATS_DEST } from "../abi/layout";
import { specPtr } from "../abi/records";
import { writeStatsRecord } from "../stats/record";
import { services, serviceOf } from "../service/services";
import { dests } from "./dests";
import { Service } from "../service/service";
import { Stats } from "../stats/stats";
import { totalStats } from "../stats/estimator";
import { accountBulk, statsReady } from "./account";

/** What an object without a stats block (nothing counted yet) reads as. */
const noStats = new Stats();

@inline function orZero(s: Stats): Stats {
  return changetype<usize>(s) != 0 ? s : noStats;
}

function statsOf(kind: u32, id: u32): Stats | null {
  if (kind == STATS_TOTAL) return totalStats;
  if (kind == STATS_SERVICE) {
    const s = services.get(id);
    return s === null ? null : orZero(s.stats);
  }
  if (kind == STATS_DEST) {
    const d = dests.get(id);
    return d === null ? null : orZero(d.stats);
  }
  return null;
}

/** -Z of one block; an object without one is all zero already. */
@inline function zeroOf(s: Stats): void {
  if (changetype<usize>(s) != 0) s.zero();
}

/** Write the stats record of a total (0), service (1) or dest (2, live or trashed). */
export function statsGet(kind: u32, id: u32): i32 {
  if (kind > STATS_DEST) return S.E_INVAL;
  const st = statsOf(kind, id);
  if (st === null) return kind == STATS_SERVICE ? S.E_NOSERVICE : S.E_NODEST;
  writeStatsRecord(specPtr(), st);
  return S.OK;
}

function zeroService(svc: Service): void {
  zeroOf(svc.stats);
  const list = svc.dests;
  for (let i = 0, n = list.length; i < n; i++) zeroOf(unchecked(list[i]).stats);
}

/** ipvsadm -Z: one service and its dests, or (svcId 0) every service and the total. */
export function statsZero(svcId: u32): i32 {
  if (svcId != 0) {
    const svc = services.get(svcId);
    if (svc === null) return S.E_NOSERVICE;
    zeroService(svc);
    return S.OK;
  }
  for (let i = 0, n = services.slotCount(); i < n; i++) {
    const s = services.at(i);
    if (s !== null) zeroService(s);
  }
  totalStats.zero();
  return S.OK;
}

/**
 * Simulation/test entry: count events for a live dest, its service and the
 * total, as the connection table would. A dest that is not available (in the
 * trash) is refused, as IPVS counts packets only for available dests.
 */
export function statsFeed(destId: u32, conns: u32, inpkts: u32, inbytes: u32, outpkts: u32, outbytes: u32): i32 {
  const d = dests.get(destId);
  if (d === null || !d.available) return S.E_NODEST;
  const svc = serviceOf(d);
  if (svc === null) return S.E_NODEST;
  if (!statsReady(svc, d)) return S.E_NOMEM;
  accountBulk(svc, d, conns, inpkts, inbytes, outpkts, outbytes);
  return S.OK;
}
