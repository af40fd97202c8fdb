// Record access for the packet path: bounds of the packet region, the flow
// record a parsed packet produces and the decision record a rewrite reads.
import * as L from "../abi/layout";
import { ioBase, rd8, rd16, rd32, wr8, wr16, wr32 } from "../abi/io";
import { pkt } from "./parse";
import { target } from "./nat";
import { quoted } from "./icmp_nat";

/** Address of [off, off+cap) in REGION_PACKETS, or 0 when it does not fit. */
export function packetPtr(off: u32, cap: u32): usize {
  if (cap == 0 || off >= L.REGION_PACKETS_SIZE || cap > L.REGION_PACKETS_SIZE - off) return 0;
  return ioBase() + L.REGION_PACKETS + <usize>off;
}

/**
 * Writes the parsed packet as flow record `slot` (client = source, virtual =
 * destination); unset bytes are 0, so its direction byte says client -> director.
 */
export function writePacketFlow(slot: u32, mark: u32): void {
  const p = ioBase() + L.REGION_FLOWS + <usize>(slot * L.FLOW_SIZE);
  memory.fill(p, 0, <usize>L.FLOW_SIZE);
  wr8(p + L.FLOW_AF, pkt.af);
  wr8(p + L.FLOW_PROTO, pkt.proto);
  wr8(p + L.FLOW_TCPFLAGS, pkt.tcpflags);
  wr32(p + L.FLOW_FWMARK, mark);
  wr32(p + L.FLOW_CADDR, pkt.s0);
  wr32(p + L.FLOW_CADDR + 4, pkt.s1);
  wr32(p + L.FLOW_CADDR + 8, pkt.s2);
  wr32(p + L.FLOW_CADDR + 12, pkt.s3);
  wr32(p + L.FLOW_VADDR, pkt.d0);
  wr32(p + L.FLOW_VADDR + 4, pkt.d1);
  wr32(p + L.FLOW_VADDR + 8, pkt.d2);
  wr32(p + L.FLOW_VADDR + 12, pkt.d3);
  wr16(p + L.FLOW_CPORT, pkt.sport);
  wr16(p + L.FLOW_VPORT, pkt.dport);
  wr32(p + L.FLOW_LEN, pkt.totLen);
}

/** Writes the packet quoted by a parsed ICMP error as flow record `slot` (as quoted: src, dst). */
export function writeQuotedFlow(slot: u32, mark: u32): void {
  const p = ioBase() + L.REGION_FLOWS + <usize>(slot * L.FLOW_SIZE);
  memory.fill(p, 0, <usize>L.FLOW_SIZE);
  wr8(p + L.FLOW_AF, quoted.af);
  wr8(p + L.FLOW_PROTO, quoted.proto);
  wr32(p + L.FLOW_FWMARK, mark);
  wr32(p + L.FLOW_CADDR, quoted.src);
  wr32(p + L.FLOW_CADDR + 4, quoted.s1);
  wr32(p + L.FLOW_CADDR + 8, quoted.s2);
  wr32(p + L.FLOW_CADDR + 12, quoted.s3);
  wr32(p + L.FLOW_VADDR, quoted.dst);
  wr32(p + L.FLOW_VADDR + 4, quoted.d1);
  wr32(p + L.FLOW_VADDR + 8, quoted.d2);
  wr32(p + L.FLOW_VADDR + 12, quoted.d3);
  wr16(p + L.FLOW_CPORT, quoted.sport);
  wr16(p + L.FLOW_VPORT, quoted.dport);
  wr32(p + L.FLOW_LEN, pkt.totLen);
}

/** Loads DEC_DADDR/DEC_DPORT of decision `slot` into the NAT target; returns DEC_DAF. */
export function readDecisionTarget(slot: u32): u32 {
  const p = ioBase() + L.REGION_DECISIONS + <usize>(slot * L.DECISION_SIZE);
  target.w0 = rd32(p + L.DEC_DADDR);
  target.w1 = rd32(p + L.DEC_DADDR + 4);
  target.w2 = rd32(p + L.DEC_DADDR + 8);
  target.w3 = rd32(p + L.DEC_DADDR + 12);
  target.port = rd16(p + L.DEC_DPORT);
  return rd8(p + L.DEC_DAF);
}
