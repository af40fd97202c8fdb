// Readers and writers for the spec, flow and decision records that carry only
// numbers. Records that carry a service or dest are in service/records.ts,
// the connection listing in table/connlist.ts; with abi/io.ts these are the
// only places that know byte offsets.
import * as L from "./layout";
import { ioBase, rd8, rd16, rd32, wr8, wr16, wr32 } from "./io";
import { Flow } from "./flow";

@inline export function specPtr(): usize {
  return ioBase() + L.REGION_SPEC;
}

/** The address family byte of flow record i. */
@inline export function flowFamily(i: u32): u32 {
  return rd8(ioBase() + L.REGION_FLOWS + i * L.FLOW_SIZE + L.FLOW_AF);
}

/** Load flow record i of the flow region into `f`. */
export function readFlow(i: u32, f: Flow): void {
  const p = ioBase() + L.REGION_FLOWS + i * L.FLOW_SIZE;
  f.af = rd8(p + L.FLOW_AF);
  f.proto = rd8(p + L.FLOW_PROTO);
  f.tcpflags = rd8(p + L.FLOW_TCPFLAGS);
  f.fwmark = rd32(p + L.FLOW_FWMARK);
  f.c0 = rd32(p + L.FLOW_CADDR);
  f.c1 = rd32(p + L.FLOW_CADDR + 4);
  f.c2 = rd32(p + L.FLOW_CADDR + 8);
  f.c3 = rd32(p + L.FLOW_CADDR + 12);
  f.v0 = rd32(p + L.FLOW_VADDR);
  f.v1 = rd32(p + L.FLOW_VADDR + 4);
  f.v2 = rd32(p + L.FLOW_VADDR + 8);
  f.v3 = rd32(p + L.FLOW_VADDR + 12);
  f.cport = rd16(p + L.FLOW_CPORT);
  f.vport = rd16(p + L.FLOW_VPORT);
  f.len = rd32(p + L.FLOW_LEN);
}

@inline export function decisionPtr(i: u32): usize {
  return ioBase() + L.REGION_DECISIONS + i * L.DECISION_SIZE;
}

export function writeDecisionFail(i: u32, status: i32): void {
  const p = decisionPtr(i);
  wr32(p + L.DEC_STATUS, <u32>status);
  wr32(p + L.DEC_CONN, 0);
  wr32(p + L.DEC_DEST, 0);
}

/** Direction byte of flow record i (packet export). */
export function readFlowDir(i: u32): u32 {
  return rd8(ioBase() + L.REGION_FLOWS + i * L.FLOW_SIZE + L.FLOW_DIR);
}

/** A decision whose address/port is given directly (replies: the VIP to write as source). */
export function writeDecisionSrc(i: u32, conn: u32, dest: u32, method: u32, af: u32, a0: u32, a1: u32, a2: u32, a3: u32, port: u32): void {
  const p = decisionPtr(i);
  wr32(p + L.DEC_STATUS, 0);
  wr32(p + L.DEC_CONN, conn);
  wr32(p + L.DEC_DEST, dest);
  wr8(p + L.DEC_METHOD, method);
  wr8(p + L.DEC_DAF, af);
  wr16(p + L.DEC_DPORT, port);
  wr32(p + L.DEC_DADDR, a0);
  wr32(p + L.DEC_DADDR + 4, a1);
  wr32(p + L.DEC_DADDR + 8, a2);
  wr32(p + L.DEC_DADDR + 12, a3);
}
