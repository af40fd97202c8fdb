// Entry points for ICMP errors about connections (pktIcmpParse / pktNatIcmp),
// next to path.ts which handles TCP/UDP packets. Same conventions: in place
// in REGION_PACKETS, PKT_* verdicts, negative status for caller errors.
import * as S from "../abi/status";
import { MAX_BATCH, PKT_CONTINUE, PKT_FORWARD, PKT_DROP, PKT_F_DEC_TTL, PKT_DIR_IN } from "../abi/layout";
import { packetPtr, writeQuotedFlow, readDecisionTarget } from "./records";
import { parseIp, pkt } from "./parse";
import { parseIcmpError } from "./icmp_nat";
import { parseIcmp6Error } from "./icmp6_nat";
import { icmpNatRewrite } from "./gw_icmp";
import { decTtl } from "./ttl";
import { setResultLen } from "./path";

/** The error quoted by the IPv4 ICMP or IPv6 ICMPv6 packet parseIp just read (icmp_nat.ts, icmp6_nat.ts). */
function parseError(p: usize): u32 {
  return pkt.af == 6 ? parseIcmp6Error(p) : parseIcmpError(p);
}

/** Parse an ICMP/ICMPv6 error and write the quoted packet as flow record `slot`. */
export function icmpParse(off: u32, len: u32, slot: u32, mark: u32): i32 {
  const p = packetPtr(off, len);
  if (p == 0 || slot >= MAX_BATCH) return S.E_INVAL;
  setResultLen(len);
  let r = parseIp(p, len);
  if (r == PKT_CONTINUE) r = parseError(p);
  if (r == PKT_CONTINUE) writeQuotedFlow(slot, mark);
  return <i32>r;
}

/** NAT an ICMP/ICMPv6 error: see icmp_nat.ts for which side `dir` rewrites to decision `slot` (same family). */
export function icmpNat(off: u32, len: u32, slot: u32, dir: u32, flags: u32): i32 {
  const p = packetPtr(off, len);
  if (p == 0 || slot >= MAX_BATCH) return S.E_INVAL;
  setResultLen(len);
  let r = parseIp(p, len);
  if (r == PKT_CONTINUE) r = parseError(p);
  if (r != PKT_CONTINUE) return <i32>r;
  if (readDecisionTarget(slot) != pkt.af) return S.E_INVAL;
  if ((flags & PKT_F_DEC_TTL) != 0 && !decTtl(p)) return <i32>PKT_DROP;
  icmpNatRewrite(p, dir == PKT_DIR_IN);
  return <i32>PKT_FORWARD;
}
