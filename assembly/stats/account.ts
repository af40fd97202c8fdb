// Counting for the connection table and the packet path (ip_vs_conn_stats,
// ip_vs_in_stats, ip_vs_out_stats): each event bumps the destination, its
// service and the global total. Packets count only while the dest is
// AVAILABLE, as in IPVS: packets of old connections to a deleted (trashed)
// dest are not counted, so a trashed dest's counters stay put.
// Counters are u64 and never reset (-Z keeps a baseline instead). No
// allocation: safe on the hot path.
import { Service } from "../table/service";
import { Dest } from "../table/dest";
import { totalStats } from "./estimator";
import { Stats } from "./stats";

export { estimatorRun } from "./estimator";

/** A new normal connection was scheduled (templates are not counted). */
export function accountNewConn(svc: Service, d: Dest): void {
  d.stats.conns += 1;
  svc.stats.conns += 1;
  totalStats.conns += 1;
}

/** A client → real server packet of `bytes` (whole IP packet) was handled. */
export function accountIn(svc: Service, d: Dest, bytes: u32): void {
  if (!d.available) return;
  const ds = d.stats;
  ds.inpkts += 1;
  ds.inbytes += bytes;
  const ss = svc.stats;
  ss.inpkts += 1;
  ss.inbytes += bytes;
  totalStats.inpkts += 1;
  totalStats.inbytes += bytes;
}

/** A real server → client packet of `bytes` was handled (NAT replies). */
export function accountOut(svc: Service, d: Dest, bytes: u32): void {
  if (!d.available) return;
  const ds = d.stats;
  ds.outpkts += 1;
  ds.outbytes += bytes;
  const ss = svc.stats;
  ss.outpkts += 1;
  ss.outbytes += bytes;
  totalStats.outpkts += 1;
  totalStats.outbytes += bytes;
}

/**
 * Add many events at once (simulations and tests): the same as calling the
 * functions above that many times, without the loop. u64 so totals can pass
 * 2^32 in one call from inside the core.
 */
export function accountBulk(svc: Service, d: Dest, conns: u64, inpkts: u64, inbytes: u64, outpkts: u64, outbytes: u64): void {
  addTo(d.stats, conns, inpkts, inbytes, outpkts, outbytes);
  addTo(svc.stats, conns, inpkts, inbytes, outpkts, outbytes);
  addTo(totalStats, conns, inpkts, inbytes, outpkts, outbytes);
}

function addTo(s: Stats, conns: u64, inpkts: u64, inbytes: u64, outpkts: u64, outbytes: u64): void {
  s.conns += conns;
  s.inpkts += inpkts;
  s.inbytes += inbytes;
  s.outpkts += outpkts;
  s.outbytes += outbytes;
}
