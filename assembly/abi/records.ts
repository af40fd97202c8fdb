// Readers and writers for the spec, listing, flow and decision records. With
// abi/io.ts these are the only places that know byte offsets.
import * as L from "./layout";
import { ioBase, rd8, rd16, rd32, wr8, wr16, wr32 } from "./io";
import { Service } from "../table/service";
import { Dest } from "../table/dest";
import { Flow } from "../sched/flow";
import { ConnView } from "../table/connlist";

@inline export function specPtr(): usize {
  return ioBase() + L.REGION_SPEC;
}

/** Fill the key and options of `s` from the service spec at REGION_SPEC. */
export function readServiceSpec(s: Service): void {
  const p = specPtr();
  s.af = rd8(p + L.SVC_AF);
  s.proto = rd8(p + L.SVC_PROTO);
  s.port = rd16(p + L.SVC_PORT);
  s.fwmark = rd32(p + L.SVC_FWMARK);
  s.a0 = rd32(p + L.SVC_ADDR);
  s.a1 = rd32(p + L.SVC_ADDR + 4);
  s.a2 = rd32(p + L.SVC_ADDR + 8);
  s.a3 = rd32(p + L.SVC_ADDR + 12);
  s.schedId = rd32(p + L.SVC_SCHED);
  s.flags = rd32(p + L.SVC_FLAGS);
  s.timeout = rd32(p + L.SVC_TIMEOUT);
  s.netmask = rd32(p + L.SVC_NETMASK);
  s.mhPrime = rd32(p + L.SVC_MH_PRIME);
}

export function writeServiceRecord(p: usize, s: Service): void {
  wr8(p + L.SVC_AF, s.af);
  wr8(p + L.SVC_PROTO, s.proto);
  wr16(p + L.SVC_PORT, s.port);
  wr32(p + L.SVC_FWMARK, s.fwmark);
  wr32(p + L.SVC_ADDR, s.a0);
  wr32(p + L.SVC_ADDR + 4, s.a1);
  wr32(p + L.SVC_ADDR + 8, s.a2);
  wr32(p + L.SVC_ADDR + 12, s.a3);
  wr32(p + L.SVC_SCHED, s.schedId);
  wr32(p + L.SVC_FLAGS, s.flags);
  wr32(p + L.SVC_TIMEOUT, s.timeout);
  wr32(p + L.SVC_NETMASK, s.netmask);
  wr32(p + L.SVC_MH_PRIME, s.mhPrime);
  wr32(p + L.SVC_ID, s.id);
  wr32(p + L.SVC_NDESTS, <u32>s.dests.length);
}

/** Fill the address, method, weight, thresholds and tunnel fields of `d`. */
export function readDestSpec(d: Dest): void {
  const p = specPtr();
  d.af = rd8(p + L.DST_AF);
  d.method = rd8(p + L.DST_METHOD);
  d.port = rd16(p + L.DST_PORT);
  d.a0 = rd32(p + L.DST_ADDR);
  d.a1 = rd32(p + L.DST_ADDR + 4);
  d.a2 = rd32(p + L.DST_ADDR + 8);
  d.a3 = rd32(p + L.DST_ADDR + 12);
  d.weight = <i32>rd32(p + L.DST_WEIGHT);
  d.uThreshold = rd32(p + L.DST_UTHRESH);
  d.lThreshold = rd32(p + L.DST_LTHRESH);
  d.tunType = rd8(p + L.DST_TUN_TYPE);
  d.tunFlags = rd8(p + L.DST_TUN_FLAGS);
  d.tunPort = rd16(p + L.DST_TUN_PORT);
}

export function writeDestRecord(p: usize, d: Dest): void {
  wr8(p + L.DST_AF, d.af);
  wr8(p + L.DST_METHOD, d.method);
  wr16(p + L.DST_PORT, d.port);
  wr32(p + L.DST_ADDR, d.a0);
  wr32(p + L.DST_ADDR + 4, d.a1);
  wr32(p + L.DST_ADDR + 8, d.a2);
  wr32(p + L.DST_ADDR + 12, d.a3);
  wr32(p + L.DST_WEIGHT, <u32>d.weight);
  wr32(p + L.DST_UTHRESH, d.uThreshold);
  wr32(p + L.DST_LTHRESH, d.lThreshold);
  wr8(p + L.DST_TUN_TYPE, d.tunType);
  wr8(p + L.DST_TUN_FLAGS, d.tunFlags);
  wr16(p + L.DST_TUN_PORT, d.tunPort);
  wr32(p + L.DST_ID, d.id);
  wr32(p + L.DST_FLAGS, d.flags);
  wr32(p + L.DST_ACTIVE, d.activeconns);
  wr32(p + L.DST_INACTIVE, d.inactconns);
  wr32(p + L.DST_PERSIST, d.persistconns);
  wr32(p + L.DST_LAST_WEIGHT, <u32>d.lastWeight);
}

/** Load flow record i of the flow region into `f`. */
/** The address family byte of flow record i. */
@inline export function flowFamily(i: u32): u32 {
  return rd8(ioBase() + L.REGION_FLOWS + i * L.FLOW_SIZE + L.FLOW_AF);
}

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

export function writeDecision(i: u32, conn: u32, d: Dest, dport: u32, method: u32): void {
  const p = decisionPtr(i);
  wr32(p + L.DEC_STATUS, 0);
  wr32(p + L.DEC_CONN, conn);
  wr32(p + L.DEC_DEST, d.id);
  wr8(p + L.DEC_METHOD, method);
  wr8(p + L.DEC_DAF, d.af);
  wr16(p + L.DEC_DPORT, dport);
  wr32(p + L.DEC_DADDR, d.a0);
  wr32(p + L.DEC_DADDR + 4, d.a1);
  wr32(p + L.DEC_DADDR + 8, d.a2);
  wr32(p + L.DEC_DADDR + 12, d.a3);
}

/**
 * writeDecision(i, 0, d, dport, d.method) in five stores: the dest record's
 * bytes 12..31 (address, port, family, method) are laid out for it, so the
 * address moves as one 16-byte word and the method/family/port word is
 * built in registers.
 */
@inline export function writeDecisionPick(i: u32, d: Dest, dport: u32): void {
  // The layouts this relies on (checked when compiling).
  if (L.DEC_CONN != L.DEC_STATUS + 4 || L.DEC_DAF != L.DEC_METHOD + 1 || L.DEC_DPORT != L.DEC_METHOD + 2) ERROR("writeDecisionPick: decision layout changed");
  if (offsetof<Dest>("a3") != offsetof<Dest>("a0") + 12 || offsetof<Dest>("port16") != offsetof<Dest>("a3") + 4
    || offsetof<Dest>("af8") != offsetof<Dest>("a3") + 6 || offsetof<Dest>("method8") != offsetof<Dest>("a3") + 7) ERROR("writeDecisionPick: Dest layout changed");
  const p = decisionPtr(i);
  const q = changetype<usize>(d);
  store<u64>(p + L.DEC_STATUS, 0); // status 0, conn 0 (DEC_CONN follows DEC_STATUS)
  store<u32>(p + L.DEC_DEST, d.id);
  const w = load<u32>(q + offsetof<Dest>("a3") + 4); // port16 | af8 << 16 | method8 << 24
  store<u32>(p + L.DEC_METHOD, (w >> 24) | ((w >> 8) & 0xFF00) | (dport << 16));
  v128.store(p + L.DEC_DADDR, v128.load(q + offsetof<Dest>("a0"), 0, 4), 0, 4);
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

/** One connection listing record (layout CONN_*) from a filled ConnView. */
export function writeConnRecord(p: usize, v: ConnView): void {
  wr32(p + L.CONN_ID, v.id);
  wr8(p + L.CONN_AF, v.af);
  wr8(p + L.CONN_PROTO, v.proto);
  wr8(p + L.CONN_STATE, v.state);
  wr8(p + L.CONN_DAF, v.daf);
  wr32(p + L.CONN_FLAGS, v.flags);
  wr32(p + L.CONN_EXPIRES, v.expires);
  wr32(p + L.CONN_DEST, v.dest);
  wr16(p + L.CONN_CPORT, v.cport);
  wr16(p + L.CONN_VPORT, v.vport);
  wr16(p + L.CONN_DPORT, v.dport);
  wr32(p + L.CONN_NCONTROL, v.ncontrol);
  for (let w: u32 = 0; w < 4; w++) {
    wr32(p + L.CONN_CADDR + w * 4, v.caddr[w]);
    wr32(p + L.CONN_VADDR + w * 4, v.vaddr[w]);
    wr32(p + L.CONN_DADDR + w * 4, v.daddr[w]);
  }
}
