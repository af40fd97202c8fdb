// Entry points for ICMP errors about connections (pktIcmpParse / pktNatIcmp),
// next to path.ts which handles TCP/UDP packets. Same conventions: in place
// in REGION_PACKETS, PKT_* verdicts, negative status for caller errors.
import * as S from "../abi/status";
import { MAX_BATCH, PKT_CONTINUE, PKT_FORWARD, PKT_DROP, PKT_F_DEC_TTL, PKT_DIR_IN } from "../abi/layout";
import { packetPtr, writeQuotedFlow, readDecisionTarget } from "../abi/packet_records";
import { parseIp } from "./parse";
import { parseIcmpError, natIcmp } from "./icmp_nat";
import { decTtl } from "./ttl";
import { setResultLen } from "./path";

/** Parse an ICMP error and write the quoted packet as flow record `slot`. */
export function icmpParse(off: u32, len: u32, slot: u32, mark: u32): i32 {
  const p = packetPtr(off, len);
  if (p == 0 || slot >= MAX_BATCH) return S.E_INVAL;
  setResultLen(len);
  let r = parseIp(p, len);
  if (r == PKT_CONTINUE) r = parseIcmpError(p);
  if (r == PKT_CONTINUE) writeQuotedFlow(slot, mark);
  return <i32>r;
}

/** NAT an ICMP error: see icmp_nat.ts for which side `dir` rewrites to decision `slot`. */
export function icmpNat(off: u32, len: u32, slot: u32, dir: u32, flags: u32): i32 {
  const p = packetPtr(off, len);
  if (p == 0 || slot >= MAX_BATCH) return S.E_INVAL;
  setResultLen(len);
  let r = parseIp(p, len);
  if (r == PKT_CONTINUE) r = parseIcmpError(p);
  if (r != PKT_CONTINUE) return <i32>r;
  if (readDecisionTarget(slot) != 4) return S.E_INVAL;
  if ((flags & PKT_F_DEC_TTL) != 0 && !decTtl(p)) return <i32>PKT_DROP;
  natIcmp(p, dir == PKT_DIR_IN);
  return <i32>PKT_FORWARD;
}
