// Records that carry a service or a real server: the service and dest specs
// read from REGION_SPEC, their listing records, and the decision record a
// pick writes. With abi/io.ts and abi/records.ts these are the only places
// that know byte offsets.
import * as L from "../abi/layout";
import { rd8, rd16, rd32, wr8, wr16, wr32 } from "../abi/io";
import { specPtr, decisionPtr } from "../abi/records";
import { Service } from "./service";
import { Dest, DEST_F_LISTED } from "./dest";

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
  wr32(p + L.DST_FLAGS, d.flags & DEST_F_LISTED);
  wr32(p + L.DST_ACTIVE, d.activeconns);
  wr32(p + L.DST_INACTIVE, d.inactconns);
  wr32(p + L.DST_PERSIST, d.persistconns);
  wr32(p + L.DST_LAST_WEIGHT, <u32>d.lastWeight);
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
  if (ASC_FEATURE_SIMD) v128.store(p + L.DEC_DADDR, v128.load(q + offsetof<Dest>("a0"), 0, 4), 0, 4);
  else {
    store<u64>(p + L.DEC_DADDR, load<u64>(q + offsetof<Dest>("a0")));
    store<u64>(p + L.DEC_DADDR + 8, load<u64>(q + offsetof<Dest>("a0") + 8));
  }
}
