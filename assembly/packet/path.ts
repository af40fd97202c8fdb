// The packet path entry points behind the pkt* exports: each works in place
// on one packet in REGION_PACKETS and returns a PKT_* verdict (or a negative
// status for a caller error). The length of the bytes left at the packet's
// offset is available from resultLen().
import * as S from "../abi/status";
import { MAX_BATCH, PKT_CONTINUE, PKT_FORWARD, PKT_DROP, PKT_ICMP, PKT_F_DEC_TTL, PKT_F_CSUM_PARTIAL, PKT_F_GSO, PKT_DIR_IN } from "../abi/layout";
import { packetPtr, writePacketFlow, readDecisionTarget } from "./records";
import { parse, pkt } from "./parse";
import { natRewrite, target } from "./nat";
import { decTtl } from "./ttl";
import { tooBigForTunnel, encapsulate, OUTER_LEN } from "./tunnel";
import { buildFragNeeded, fragNeededLen } from "./icmp";
import { completePartial } from "./partial";
import { bump, CNT_PKT_FRAG_NEEDED, CNT_PKT_NO_ROOM, CNT_PKT_UNSUPPORTED } from "../stats/counters";

let outLen: u32 = 0;

export function resultLen(): u32 {
  return outLen;
}

export function setResultLen(n: u32): void {
  outLen = n;
}

/** Parse and write flow record `slot`; PKT_CONTINUE, PKT_PASS or PKT_DROP. */
export function packetParse(off: u32, len: u32, slot: u32, mark: u32): i32 {
  const p = packetPtr(off, len);
  if (p == 0 || slot >= MAX_BATCH) return S.E_INVAL;
  outLen = len;
  const r = parse(p, len);
  if (r == PKT_CONTINUE) writePacketFlow(slot, mark);
  return <i32>r;
}

/** NAT: rewrite the destination (dir PKT_DIR_IN) or source to decision `slot`'s address:port. */
export function packetNat(off: u32, len: u32, slot: u32, dir: u32, flags: u32): i32 {
  const p = packetPtr(off, len);
  if (p == 0 || slot >= MAX_BATCH) return S.E_INVAL;
  outLen = len;
  const r = parse(p, len);
  if (r != PKT_CONTINUE) return <i32>r;
  if (readDecisionTarget(slot) != pkt.af) return S.E_INVAL;
  if ((flags & PKT_F_DEC_TTL) != 0 && !decTtl(p)) return <i32>PKT_DROP;
  const partial = (flags & PKT_F_CSUM_PARTIAL) != 0;
  natRewrite(p, dir == PKT_DIR_IN, partial);
  if (partial) completePartial(p);
  return <i32>PKT_FORWARD;
}

/** DR: the IP packet is not rewritten; only the TTL when PKT_F_DEC_TTL. */
export function packetRoute(off: u32, len: u32, flags: u32): i32 {
  const p = packetPtr(off, len);
  if (p == 0) return S.E_INVAL;
  outLen = len;
  const r = parse(p, len);
  if (r != PKT_CONTINUE) return <i32>r;
  if ((flags & PKT_F_DEC_TTL) != 0 && !decTtl(p)) return <i32>PKT_DROP;
  if ((flags & PKT_F_CSUM_PARTIAL) != 0) completePartial(p);
  return <i32>PKT_FORWARD;
}

/**
 * TUN: encapsulate towards decision `slot`'s IPv4 address, outer source
 * `src`, route MTU `mtu`. A DF packet that cannot fit becomes an ICMP
 * frag-needed for the client (PKT_ICMP, MTU = mtu - 20). `cap` is the slot
 * size: the packet grows by 20 bytes in place.
 */
export function packetTunnel(off: u32, len: u32, cap: u32, slot: u32, src: u32, mtu: u32, flags: u32): i32 {
  const p = packetPtr(off, cap);
  if (p == 0 || len > cap || slot >= MAX_BATCH) return S.E_INVAL;
  outLen = len;
  const r = parse(p, len);
  if (r != PKT_CONTINUE) return <i32>r;
  if (pkt.af != 4 || readDecisionTarget(slot) != 4) {
    bump(CNT_PKT_UNSUPPORTED);
    return <i32>PKT_DROP;
  }
  if (mtu < 68 + OUTER_LEN) return S.E_INVAL;
  if (tooBigForTunnel(mtu, (flags & PKT_F_GSO) != 0)) {
    if (fragNeededLen() > cap) return noRoom();
    bump(CNT_PKT_FRAG_NEEDED);
    outLen = buildFragNeeded(p, mtu - OUTER_LEN);
    return <i32>PKT_ICMP;
  }
  if (pkt.totLen + OUTER_LEN > cap) return noRoom();
  if ((flags & PKT_F_DEC_TTL) != 0 && !decTtl(p)) return <i32>PKT_DROP;
  if ((flags & PKT_F_CSUM_PARTIAL) != 0) completePartial(p);
  outLen = encapsulate(p, src, target.w0);
  return <i32>PKT_FORWARD;
}

function noRoom(): i32 {
  bump(CNT_PKT_NO_ROOM);
  return <i32>PKT_DROP;
}
