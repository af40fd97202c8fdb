// Counting for the connection table and the packet path (ip_vs_conn_stats,
// ip_vs_in_stats, ip_vs_out_stats): each event bumps the destination, its
// service and the global total. Packets count only while the dest is
// AVAILABLE, as in IPVS: packets of old connections to a deleted (trashed)
// dest are not counted, so a trashed dest's counters stay put.
// Counters are u64 and never reset (-Z keeps a baseline instead). A
// service's or dest's stats block is made at its first counted event: the
// packet path calls statsReady before it creates a connection (refusing it,
// as for the connection itself, when memory cannot grow), so afterwards the
// counting here finds the blocks and never allocates.
import { Service } from "../service/service";
import { Dest } from "../service/dest";
import { totalStats, statsAt } from "../stats/estimator";
import { Stats } from "../stats/stats";

export { estimatorRun } from "../stats/estimator";

/** svc's stats block, made on first use (null only when memory cannot grow). */
@inline export function svcStats(svc: Service): Stats | null {
  const s = svc.stats;
  return changetype<usize>(s) != 0 ? s : statsAt(changetype<usize>(svc) + offsetof<Service>("stats"), true);
}

/** d's stats block, made on first use; sampled when d is linked (available). */
@inline export function destStats(d: Dest): Stats | null {
  const s = d.stats;
  return changetype<usize>(s) != 0 ? s : statsAt(changetype<usize>(d) + offsetof<Dest>("stats"), d.available);
}

/** Both stats blocks exist (made now if needed); false when memory cannot grow. */
@inline export function statsReady(svc: Service, d: Dest): bool {
  return svcStats(svc) !== null && destStats(d) !== null;
}

/** A new normal connection was scheduled (templates are not counted). */
export function accountNewConn(svc: Service, d: Dest): void {
  const ds = destStats(d);
  const ss = svcStats(svc);
  if (ds === null || ss === null) return;
  ds.conns += 1;
  ss.conns += 1;
  totalStats.conns += 1;
}

/** A client → real server packet of `bytes` (whole IP packet) was handled. */
export function accountIn(svc: Service, d: Dest, bytes: u32): void {
  if (!d.available) return;
  const ds = destStats(d);
  const ss = svcStats(svc);
  if (ds === null || ss === null) return;
  ds.inpkts += 1;
  ds.inbytes += bytes;
  ss.inpkts += 1;
  ss.inbytes += bytes;
  totalStats.inpkts += 1;
  totalStats.inbytes += bytes;
}

/**
 * Takes back one accountIn of the same packet (the gateway's fast path: the kernel carries it and
 * conntrack's counters bring it). Only right after accountIn, in the same core call: no rate sample
 * can fall between the two.
 */
export function uncountIn(svc: Service, d: Dest, bytes: u32): void {
  if (!d.available) return;
  const ds = destStats(d);
  const ss = svcStats(svc);
  if (ds === null || ss === null) return;
  ds.inpkts -= 1;
  ds.inbytes -= bytes;
  ss.inpkts -= 1;
  ss.inbytes -= bytes;
  totalStats.inpkts -= 1;
  totalStats.inbytes -= bytes;
}

/** A real server → client packet of `bytes` was handled (NAT replies). */
export function accountOut(svc: Service, d: Dest, bytes: u32): void {
  if (!d.available) return;
  const ds = destStats(d);
  const ss = svcStats(svc);
  if (ds === null || ss === null) return;
  ds.outpkts += 1;
  ds.outbytes += bytes;
  ss.outpkts += 1;
  ss.outbytes += bytes;
  totalStats.outpkts += 1;
  totalStats.outbytes += bytes;
}

/**
 * Add many events at once (simulations and tests): the same as calling the
 * functions above that many times, without the loop. u64 so totals can pass
 * 2^32 in one call from inside the core. statsReady(svc, d) ran first.
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
