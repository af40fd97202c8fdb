// The gateway's per-burst packet path (behind gwBurst): every packet record
// the NFQUEUE addon wrote into REGION_PACKETS is parsed, matched against the
// connection table (ip_vs_in for client → VIP, ip_vs_out for NAT replies),
// scheduled when it may open a connection, accounted, and then rewritten
// (NAT), marked for policy routing (DR) or wrapped in IPIP (TUN) in place.
// One verdict record per packet goes to REGION_LIST for the addon. Nothing
// here allocates; malformed input ends in a verdict and a counter.
import * as S from "../abi/status";
import {
  MAX_BATCH, REGION_PACKETS_SIZE, REGION_LIST_SIZE, PROTO_TCP, PROTO_UDP,
  METHOD_MASQ, METHOD_TUNNEL, METHOD_ROUTE, GW_REC_HEADER, GW_RF_TRUNCATED, GW_RF_CSUM_PARTIAL, GW_RF_GSO,
  GW_VER_SIZE, GW_VF_MARK, GW_VF_PAYLOAD, GW_VF_NAT_IN, GW_DR_MARK_BASE, GW_DR_SLOT_MASK, GW_STRIDE_PACKED, GW_REC_ROOM,
  GW_OPT_FAIL_OPEN,
} from "../abi/layout";
import { gwRecordAt, gwRecId, gwRecMark, gwRecLen, gwRecFlags, writeGwVerdict, decisionMethod, decisionDest, decisionConn } from "../abi/gateway_records";
import { ctTrack } from "../table/ct_track";
import { readDecisionTarget } from "./records";
import { parse, pkt } from "./parse";
import { ld8, ld16, ld32 } from "./bytes";
import { PKT_CONTINUE, PKT_PASS } from "./verdict";
import { natRewrite, target } from "./nat";
import { decTtl } from "./ttl";
import { tooBigForTunnel, encapsulate, OUTER_LEN } from "./tunnel";
import { buildFragNeeded, fragNeededLen } from "./icmp";
import { completePartial } from "./partial";
import { flow } from "../abi/flow";
import { lookupService } from "../service/services";
import { ConnKey, lookupIn } from "../table/conn";
import { packetIn, packetOut, newConnExpected } from "../table/conn_path";
import { destOf, dportOf } from "../table/conn";
import { Dest } from "../service/dest";
import { dests } from "../table/dests";
import * as M from "../table/conn_mem";
import { services, serviceOf } from "../service/services";
import { accountIn, accountOut, uncountIn } from "../table/account";
import { icmpLookup, icmpNatRewrite, icmpConn, ICMP_NOT_OURS, ICMP_MALFORMED, ICMP_FROM_CLIENT } from "./gw_icmp";
import { advanceConns } from "../table/conn_api";
import * as C from "../stats/counters";

const NF_DROP: u32 = 0;
const NF_ACCEPT: u32 = 1;

/**
 * The fast path (gwFastParams): a queued packet whose record carries `fastInvalid` (conntrack called it
 * INVALID: no entry to NAT it) keeps the core's rewrite; a TCP flow's fast mark takes the `fastYoung` bits.
 */
let fastBase: u32 = 0;
let fastInvalid: u32 = 0;
let fastYoung: u32 = 0;
/** The burst's clock (gwBurst's now), for ct_track. */
let trackNow: u32 = 0;

/** Host settings (gwConfig): the tunnel's outer source, the route MTU towards real servers. */
let tunSrc: u32 = 0;
let tunMtu: u32 = 1500;
/** gwOptions: GW_OPT_* flags. */
let options: u32 = 0;

export function gwOptions(flags: u32): i32 {
  if ((flags & ~GW_OPT_FAIL_OPEN) != 0) return S.E_INVAL;
  options = flags;
  return S.OK;
}

export function gwConfig(src: u32, mtu: u32): i32 {
  if (mtu < 68 + OUTER_LEN || mtu > 65535) return S.E_INVAL;
  tunSrc = src;
  tunMtu = mtu;
  return S.OK;
}

/**
 * One tunnel real server's own outer source and route MTU (the host reads
 * them from the route towards it); 0 for either keeps the gwConfig default.
 * For a NAT real server the MTU bounds its DF requests (frag-needed above it).
 */
export function gwDestTunnel(destId: u32, src: u32, mtu: u32): i32 {
  if (mtu != 0 && (mtu < 68 + OUTER_LEN || mtu > 65535)) return S.E_INVAL;
  const d = dests.get(destId);
  if (d === null) return S.E_NODEST;
  d.tunSrc = src;
  d.tunMtu = mtu;
  return S.OK;
}

/**
 * The fast path's marks (the host's layout): a fast real server's is base + (dest id & GW_DR_SLOT_MASK);
 * a queued packet conntrack called INVALID carries invalidMark; a new TCP flow's mark takes the young bits.
 */
export function gwFastParams(base: u32, invalidMark: u32, young: u32): i32 {
  if ((base & GW_DR_SLOT_MASK) != 0 || (young & (base | GW_DR_SLOT_MASK)) != 0) return S.E_INVAL;
  fastBase = base;
  fastInvalid = invalidMark;
  fastYoung = young;
  return S.OK;
}

/**
 * NAT real server destId is on the fast path (on 1) or no longer (0): the kernel's DNAT map sends a
 * flow with ct mark fastBase + (destId & GW_DR_SLOT_MASK) to it. A packet that opens a flow to it is
 * then accepted with the mark (the kernel rewrites it and every later packet), not rewritten here.
 */
export function gwFastDest(destId: u32, on: u32): i32 {
  if (on > 1) return S.E_INVAL;
  const d = dests.get(destId);
  if (d === null) return S.E_NODEST;
  d.fast = on != 0;
  return S.OK;
}

const probe = new ConnKey();

/**
 * Client → director (ip_vs_in) when the destination is a service or an
 * existing connection's client side; otherwise a reply candidate (ip_vs_out).
 */
function inbound(mark: u32): bool {
  if (lookupService(pkt.af, mark, pkt.proto, pkt.d0, pkt.d1, pkt.d2, pkt.d3, pkt.dport) !== null) return true;
  probe.af = pkt.af;
  probe.proto = pkt.proto;
  probe.c0 = pkt.s0; probe.c1 = pkt.s1; probe.c2 = pkt.s2; probe.c3 = pkt.s3;
  probe.v0 = pkt.d0; probe.v1 = pkt.d1; probe.v2 = pkt.d2; probe.v3 = pkt.d3;
  probe.cport = pkt.sport;
  probe.vport = pkt.dport;
  return lookupIn(probe, false) != 0;
}

/** The shared Flow from the parsed packet; `in` false swaps the sides (reply: c = packet dst). */
function fillFlow(mark: u32, isIn: bool, now: u32): void {
  flow.af = pkt.af;
  flow.proto = pkt.proto;
  flow.fwmark = mark;
  flow.tcpflags = pkt.proto == PROTO_TCP ? pkt.tcpflags : 0;
  flow.len = pkt.totLen;
  flow.now = now;
  if (isIn) {
    flow.c0 = pkt.s0; flow.c1 = pkt.s1; flow.c2 = pkt.s2; flow.c3 = pkt.s3; flow.cport = pkt.sport;
    flow.v0 = pkt.d0; flow.v1 = pkt.d1; flow.v2 = pkt.d2; flow.v3 = pkt.d3; flow.vport = pkt.dport;
  } else {
    flow.c0 = pkt.d0; flow.c1 = pkt.d1; flow.c2 = pkt.d2; flow.c3 = pkt.d3; flow.cport = pkt.dport;
    flow.v0 = pkt.s0; flow.v1 = pkt.s1; flow.v2 = pkt.s2; flow.v3 = pkt.s3; flow.vport = pkt.sport;
  }
}

function accept(i: u32, id: u32): void {
  C.bump(C.CNT_GW_PASSED);
  writeGwVerdict(i, id, NF_ACCEPT, 0, 0, 0, 0);
}

function drop(i: u32, id: u32): void {
  C.bump(C.CNT_GW_DROPPED);
  writeGwVerdict(i, id, NF_DROP, 0, 0, 0, 0);
}

/** Accept with the bytes now at the packet's place (length `len`); `flags` beside GW_VF_PAYLOAD, with their mark word. */
function payload(i: u32, id: u32, rec: u32, len: u32, flags: u32 = 0, mark: u32 = 0): void {
  C.bump(C.CNT_GW_FORWARDED);
  writeGwVerdict(i, id, NF_ACCEPT, GW_VF_PAYLOAD | flags, mark, rec + GW_REC_HEADER, len);
}

/** NAT one way: dst (client → real server) or src (reply → VIP:vport). */
function nat(i: u32, id: u32, rec: u32, p: usize, cap: u32, dst: bool, rflags: u32): void {
  const partial = (rflags & GW_RF_CSUM_PARTIAL) != 0;
  if (readDecisionTarget(i) != pkt.af) {
    C.bump(C.CNT_PKT_UNSUPPORTED);
    return drop(i, id);
  }
  // IPVS's ensure_mtu_is_adequate: a DF request bigger than the route MTU
  // towards its real server is answered with frag-needed about the packet the
  // client sent (to the VIP), before the rewrite; the kernel's own answer
  // after it would quote the real server, which the client cannot match.
  if (dst && pkt.af == 4 && pkt.df && pkt.proto != 1 && (rflags & GW_RF_GSO) == 0) {
    const d = dests.get(decisionDest(i));
    if (d !== null && d.tunMtu != 0 && pkt.totLen > d.tunMtu) {
      if (fragNeededLen() > cap) {
        C.bump(C.CNT_PKT_NO_ROOM);
        return drop(i, id);
      }
      C.bump(C.CNT_PKT_FRAG_NEEDED);
      C.bump(C.CNT_GW_ICMP_SENT);
      writeGwVerdict(i, id, NF_ACCEPT, GW_VF_PAYLOAD, 0, rec + GW_REC_HEADER, buildFragNeeded(p, d.tunMtu));
      return;
    }
  }
  if (dst && fastMarked(i, id, rec, p)) return;
  natRewrite(p, dst, partial);
  // A GSO super-packet keeps the partial form: the kernel segments it and
  // sums each segment (TCP from scratch, UDP from this pseudo-header sum).
  if (partial && (rflags & GW_RF_GSO) == 0) completePartial(p);
  // Towards a real server: which one, for a host whose kernel rules for it may not be in place yet.
  if (dst) payload(i, id, rec, pkt.totLen, GW_VF_NAT_IN, decisionDest(i));
  else payload(i, id, rec, pkt.totLen);
}

/**
 * Towards a fast real server (gwFastDest): the original packet accepted with the real server's mark
 * (TCP flows' with the young bits), and the kernel's DNAT by ct mark rewrites it and the rest of the
 * flow; conntrack's counters bring the packet to the statistics, so the count packetIn made is taken
 * back. Not for a packet conntrack called INVALID (the record's mark), a later fragment, or IPv6 with
 * an extension header before TCP or UDP: those keep the core's rewrite. True when it answered.
 */
function fastMarked(i: u32, id: u32, rec: u32, p: usize): bool {
  const d = dests.get(decisionDest(i));
  if (d === null || !d.fast) return false;
  if (gwRecMark(gwRecordAt(rec)) == fastInvalid) return false;
  if (pkt.proto != PROTO_TCP && pkt.proto != PROTO_UDP) return false;
  if (pkt.af == 4 ? (ld16(p + 6) & 0x1fff) != 0 : <u32>ld8(p + 6) != pkt.proto) return false;
  const svc = serviceOf(d);
  if (svc !== null) uncountIn(svc, d, pkt.totLen);
  C.bump(C.CNT_GW_FORWARDED);
  C.bump(C.CNT_GW_FAST_MARKED);
  const mark = fastBase + (d.id & GW_DR_SLOT_MASK);
  const young = pkt.proto == PROTO_TCP ? fastYoung : 0;
  writeGwVerdict(i, id, NF_ACCEPT, GW_VF_MARK, mark | young, 0, 0);
  // The feed reads the flow by its tuple from now on (ct_track.ts), not by walking conntrack.
  const conn = decisionConn(i);
  const ci = conn == 0 ? 0 : M.indexOf(conn);
  if (ci != 0) ctTrack(ci, conn, trackNow);
  return true;
}

/** TUN from a decision: IPIP to the real server, or ICMP frag-needed to the client when DF forbids. */
function tunnel(i: u32, id: u32, rec: u32, p: usize, cap: u32, rflags: u32): void {
  if (pkt.af != 4 || readDecisionTarget(i) != 4) {
    C.bump(C.CNT_PKT_UNSUPPORTED);
    return drop(i, id);
  }
  tunnelTo(i, id, rec, p, cap, rflags, dests.get(decisionDest(i)));
}

/** TUN towards target.w0 (IPv4 packet, IPv4 real server d), with d's own source and MTU when set. */
function tunnelTo(i: u32, id: u32, rec: u32, p: usize, cap: u32, rflags: u32, d: Dest | null): void {
  // An IPIP-wrapped super-packet would keep its plain TCP/UDP GSO type, which
  // the kernel cannot segment; the host segments before queueing while tunnel
  // real servers exist, so only one queued before the first appeared gets here.
  if ((rflags & GW_RF_GSO) != 0) {
    C.bump(C.CNT_PKT_UNSUPPORTED);
    return drop(i, id);
  }
  const src = d !== null && d.tunSrc != 0 ? d.tunSrc : tunSrc;
  const mtu = d !== null && d.tunMtu != 0 ? d.tunMtu : tunMtu;
  if (tooBigForTunnel(mtu, (rflags & GW_RF_GSO) != 0)) {
    if (fragNeededLen() > cap) {
      C.bump(C.CNT_PKT_NO_ROOM);
      return drop(i, id);
    }
    C.bump(C.CNT_PKT_FRAG_NEEDED);
    C.bump(C.CNT_GW_ICMP_SENT);
    // The payload verdict turns the packet into the error (VIP → client); routing sends it back.
    writeGwVerdict(i, id, NF_ACCEPT, GW_VF_PAYLOAD, 0, rec + GW_REC_HEADER, buildFragNeeded(p, mtu - OUTER_LEN));
    return;
  }
  if (pkt.totLen + OUTER_LEN > cap) {
    C.bump(C.CNT_PKT_NO_ROOM);
    return drop(i, id);
  }
  // The kernel's forwarding decrements the outer TTL; the inner one is IPVS's own decrement.
  if (!decTtl(p)) return drop(i, id);
  if ((rflags & GW_RF_CSUM_PARTIAL) != 0) completePartial(p);
  payload(i, id, rec, encapsulate(p, src, target.w0));
}

/**
 * An ICMP or ICMPv6 error about a connection: forwarded with its method
 * (§2.9), the NAT rewrite applied inside and out; in/out statistics as IPVS
 * counts them. TUN is IPv4 only (tunnelTo); an IPv6 one is accepted as is.
 */
function icmpError(i: u32, id: u32, rec: u32, p: usize, cap: u32, rflags: u32): void {
  const k = icmpLookup(p);
  if (k == ICMP_MALFORMED) return drop(i, id);
  if (k == ICMP_NOT_OURS) return accept(i, id);
  const dn = destOf(icmpConn);
  if (dn === null) return accept(i, id);
  const d = changetype<Dest>(dn);
  const svc = services.get(d.svcId);
  const m = M.flagsOf(icmpConn) & M.F_METHOD;
  if (k == ICMP_FROM_CLIENT) {
    if (svc !== null) accountIn(svc, d, pkt.totLen);
    target.w0 = d.a0; target.w1 = d.a1; target.w2 = d.a2; target.w3 = d.a3;
    target.port = dportOf(icmpConn, d);
    if (m == METHOD_MASQ && d.af == pkt.af) {
      icmpNatRewrite(p, true);
      return payload(i, id, rec, pkt.totLen);
    }
    if (m == METHOD_ROUTE) {
      C.bump(C.CNT_GW_FORWARDED);
      return writeGwVerdict(i, id, NF_ACCEPT, GW_VF_MARK, GW_DR_MARK_BASE + (d.id & GW_DR_SLOT_MASK), 0, 0);
    }
    if (m == METHOD_TUNNEL && d.af == 4 && pkt.af == 4) return tunnelTo(i, id, rec, p, cap, rflags, d);
    return accept(i, id);
  }
  if (svc !== null) accountOut(svc, d, pkt.totLen);
  const v6 = (M.flagsOf(icmpConn) & M.F_V6) != 0;
  if (m != METHOD_MASQ || v6 != (pkt.af == 6)) return accept(i, id);
  if (v6) {
    const x = M.u32At(icmpConn, M.R_CADDR);
    target.w0 = M.v6Word(x, 1, 0); target.w1 = M.v6Word(x, 1, 1); target.w2 = M.v6Word(x, 1, 2); target.w3 = M.v6Word(x, 1, 3);
  } else {
    target.w0 = M.u32At(icmpConn, M.R_VADDR);
  }
  target.port = M.u16At(icmpConn, M.R_VPORT);
  icmpNatRewrite(p, false);
  C.bump(C.CNT_GW_REPLIES);
  payload(i, id, rec, pkt.totLen);
}

/** Bytes a packed record of a `len`-byte packet takes (GW_STRIDE_PACKED). */
@inline function packedSpan(len: u32): u32 {
  return GW_REC_HEADER + ((len + 3) & ~3) + GW_REC_ROOM;
}

/** Packet record i of the burst, at offset `rec` of REGION_PACKETS with `cap` bytes of room for the packet. */
function one(i: u32, rec: u32, cap: u32, now: u32): void {
  const base = gwRecordAt(rec);
  const id = gwRecId(base);
  const len = gwRecLen(base);
  const rflags = gwRecFlags(base);
  C.bump(C.CNT_GW_PACKETS);
  // A truncated copy cannot be rewritten (the verdict's payload replaces the
  // whole packet): fail-open lets it through untouched, as if no balancer
  // were bound; fail-closed drops it. An oversized length is a host error.
  if ((rflags & GW_RF_TRUNCATED) != 0 || len > cap) {
    C.bump(C.CNT_GW_TRUNCATED);
    if ((rflags & GW_RF_TRUNCATED) != 0 && len <= cap && (options & GW_OPT_FAIL_OPEN) != 0) return accept(i, id);
    return drop(i, id);
  }
  const p = base + GW_REC_HEADER;
  const r = parse(p, len);
  if (r == PKT_PASS && ((pkt.proto == 1 && pkt.af == 4) || (pkt.proto == 58 && pkt.af == 6))) return icmpError(i, id, rec, p, cap, rflags);
  if (r == PKT_PASS) return accept(i, id);
  if (r != PKT_CONTINUE) return drop(i, id);
  const mark = gwRecMark(base);
  const isIn = inbound(mark);
  fillFlow(mark, isIn, now);
  if (!isIn) {
    // ip_vs_out: only NAT replies are rewritten; anything unknown passes.
    if (packetOut(i, flow, now) < 0 || decisionMethod(i) != METHOD_MASQ) return accept(i, id);
    C.bump(C.CNT_GW_REPLIES);
    return nat(i, id, rec, p, cap, false, rflags);
  }
  const st = packetIn(i, flow, now);
  if (st < 0) {
    // Not ours / no connection for a non-SYN: accepted untouched as IPVS
    // does; no dest, limits, memory: dropped (counted by the table).
    if (st == S.E_NOCONN || st == S.E_NOT_OURS || st == S.E_PORT) return accept(i, id);
    return drop(i, id);
  }
  const m = decisionMethod(i);
  if (m == METHOD_MASQ) return nat(i, id, rec, p, cap, true, rflags);
  if (m == METHOD_TUNNEL) return tunnel(i, id, rec, p, cap, rflags);
  if (m == METHOD_ROUTE) {
    // DR: bytes unchanged (no payload verdict, so checksum state is kept);
    // the mark selects the policy-routing table whose next hop is the dest.
    C.bump(C.CNT_GW_FORWARDED);
    writeGwVerdict(i, id, NF_ACCEPT, GW_VF_MARK, GW_DR_MARK_BASE + (decisionDest(i) & GW_DR_SLOT_MASK), 0, 0);
    return;
  }
  accept(i, id);
}

/**
 * How many of the burst's records (as gwBurst takes them, before it) are a
 * TCP SYN without ACK whose NAT connection entry is live and not one IPVS
 * would let a new connection take over (§2.12: not TIME_WAIT or CLOSE):
 * either a retransmitted SYN, or a
 * client reusing the port of a connection whose end this table has not been
 * told yet. A host that learns the ends of flows after the fact (the
 * gateway's fast path: conntrack destroy events) reads them first when this
 * is not 0, so that SYN is decided as IPVS, which sees the FINs, decides it.
 * Reads only: no counter, timer or entry changes. Headers are read as far
 * as they are present (a malformed record is not counted; gwBurst judges it).
 */
export function gwStaleSyns(n: u32, stride: u32): i32 {
  const st = checkRecords(n, stride);
  if (st != 0) return st;
  let stale = 0;
  let rec: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const at = stride == GW_STRIDE_PACKED ? rec : i * stride;
    const base = gwRecordAt(at);
    const len = gwRecLen(base);
    const cap = stride == GW_STRIDE_PACKED ? packedSpan(len) - GW_REC_HEADER : stride - GW_REC_HEADER;
    if (stride == GW_STRIDE_PACKED) rec += packedSpan(len);
    if ((gwRecFlags(base) & GW_RF_TRUNCATED) != 0 || len > cap) continue;
    if (staleSyn(base + GW_REC_HEADER, len)) stale++;
  }
  return stale;
}

/** One packet of gwStaleSyns: an IPv4 or IPv6 (no extension header) TCP SYN, its NAT entry live and not reusable. */
function staleSyn(p: usize, len: u32): bool {
  if (len < 40) return false;
  const v = ld8(p) >>> 4;
  let l4: u32;
  if (v == 4) {
    l4 = (ld8(p) & 0xf) << 2;
    if (l4 < 20 || ld8(p + 9) != PROTO_TCP || (ld16(p + 6) & 0x3fff) != 0 || l4 + 20 > len) return false;
    probe.af = 4;
    probe.c0 = ld32(p + 12); probe.c1 = 0; probe.c2 = 0; probe.c3 = 0;
    probe.v0 = ld32(p + 16); probe.v1 = 0; probe.v2 = 0; probe.v3 = 0;
  } else if (v == 6) {
    l4 = 40;
    if (ld8(p + 6) != PROTO_TCP || len < 60) return false;
    probe.af = 6;
    probe.c0 = ld32(p + 8); probe.c1 = ld32(p + 12); probe.c2 = ld32(p + 16); probe.c3 = ld32(p + 20);
    probe.v0 = ld32(p + 24); probe.v1 = ld32(p + 28); probe.v2 = ld32(p + 32); probe.v3 = ld32(p + 36);
  } else {
    return false;
  }
  if ((ld8(p + l4 + 13) & 0x12) != 0x02) return false; // SYN, no ACK
  probe.proto = PROTO_TCP;
  probe.cport = ld16(p + l4);
  probe.vport = ld16(p + l4 + 2);
  const cp = lookupIn(probe, false);
  return cp != 0 && (M.flagsOf(cp) & M.F_METHOD) == METHOD_MASQ && !newConnExpected(cp);
}

/**
 * n packet records in REGION_PACKETS → n verdict records in REGION_LIST.
 * Records are `stride` bytes apart, or packed (GW_STRIDE_PACKED: each takes
 * packedSpan of its length); packed records are all checked to lie inside
 * the region before any is touched. Runs the connection timers first.
 * Returns n or a status.
 */
export function gwBurst(n: u32, stride: u32, now: u32): i32 {
  const st = checkRecords(n, stride);
  if (st != 0) return st;
  trackNow = now;
  if (stride == GW_STRIDE_PACKED) {
    advanceConns(now);
    let rec: u32 = 0;
    for (let i: u32 = 0; i < n; i++) {
      const len = gwRecLen(gwRecordAt(rec));
      const span = packedSpan(len);
      one(i, rec, span - GW_REC_HEADER, now);
      rec += span;
    }
    return <i32>n;
  }
  advanceConns(now);
  for (let i: u32 = 0; i < n; i++) one(i, i * stride, stride - GW_REC_HEADER, now);
  return <i32>n;
}

/**
 * 0 when n records `stride` apart, or packed (every one checked to lie
 * inside REGION_PACKETS before any is touched), fit the regions; else
 * E_BATCH or E_INVAL. gwBurst's and gwStaleSyns's check.
 */
function checkRecords(n: u32, stride: u32): i32 {
  if (n > MAX_BATCH || n * GW_VER_SIZE > REGION_LIST_SIZE) return S.E_BATCH;
  if (stride == GW_STRIDE_PACKED) {
    let end: u64 = 0;
    for (let i: u32 = 0; i < n; i++) {
      if (end + <u64>GW_REC_HEADER > <u64>REGION_PACKETS_SIZE) return S.E_INVAL;
      const len = gwRecLen(gwRecordAt(<u32>end));
      if (len > REGION_PACKETS_SIZE) return S.E_INVAL;
      end += <u64>packedSpan(len);
      if (end > <u64>REGION_PACKETS_SIZE) return S.E_INVAL;
    }
    return 0;
  }
  if ((stride & 3) != 0 || stride < GW_REC_HEADER + 60 || <u64>n * <u64>stride > <u64>REGION_PACKETS_SIZE) return S.E_INVAL;
  return 0;
}
