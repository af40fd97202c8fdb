// The connection listing (ipvsadm -Lc): live records by index, converted to
// the CONN_* listing record. Paging: the cursor is the next record index.
import * as M from "./conn_mem";
import { dportOf, destOf } from "./conn";
import { wheelLast } from "./wheel";
import { PROTO_TCP, PROTO_UDP, CONN_S_UDP, CONN_S_ASSURED, CONN_F_NOOUTPUT, CONN_F_INACTIVE, CONN_F_TEMPLATE, CONN_F_ONE_PACKET } from "../abi/layout";
import { Nums } from "../mem/vec";
import { wr8, wr16, wr32 } from "../abi/io";
import * as L from "../abi/layout";

@unmanaged export class ConnView {
  id: u32 = 0;
  af: u32 = 4;
  proto: u32 = 0;
  state: u32 = 0;
  daf: u32 = 4;
  flags: u32 = 0;
  expires: u32 = 0;
  dest: u32 = 0;
  cport: u32 = 0;
  vport: u32 = 0;
  dport: u32 = 0;
  ncontrol: u32 = 0;
  caddr: Nums<u32> = changetype<Nums<u32>>(memory.data(16, 4));
  vaddr: Nums<u32> = changetype<Nums<u32>>(memory.data(16, 4));
  daddr: Nums<u32> = changetype<Nums<u32>>(memory.data(16, 4));
}

export const view = new ConnView();

function listedState(i: u32, f: u32): u32 {
  if (f & M.F_TEMPLATE) return (f & M.F_ASSURED) != 0 ? CONN_S_ASSURED : 0;
  const p = M.protoOf(i);
  if (p == PROTO_TCP) return M.stateOf(i);
  return p == PROTO_UDP ? CONN_S_UDP : 0;
}

function kernelFlags(f: u32): u32 {
  let k = f & M.F_METHOD;
  if (f & M.F_NOOUTPUT) k |= CONN_F_NOOUTPUT;
  if (f & M.F_INACTIVE) k |= CONN_F_INACTIVE;
  if (f & M.F_TEMPLATE) k |= CONN_F_TEMPLATE;
  if (f & M.F_OPS) k |= CONN_F_ONE_PACKET;
  return k;
}

/** Fill `view` from live record i; `now` gives the seconds left. */
export function fillView(i: u32, now: u32): void {
  const v = view;
  const f = M.flagsOf(i);
  v.id = M.connId(i);
  v.proto = M.protoOf(i);
  v.state = listedState(i, f);
  v.flags = kernelFlags(f);
  const e = M.u32At(i, M.R_EXPIRES);
  const t = now > wheelLast() ? now : wheelLast();
  v.expires = e > t ? e - t : 0;
  const d = destOf(i);
  v.dest = d === null ? 0 : d.id;
  v.cport = M.u16At(i, M.R_CPORT);
  v.vport = M.u16At(i, M.R_VPORT);
  v.dport = dportOf(i, d);
  v.ncontrol = (f & M.F_TEMPLATE) != 0 ? M.u32At(i, M.R_CONTROL) : 0;
  if (f & M.F_V6) {
    v.af = 6;
    const x = M.u32At(i, M.R_CADDR);
    for (let w: u32 = 0; w < 4; w++) {
      v.caddr[w] = M.v6Word(x, 0, w);
      v.vaddr[w] = M.v6Word(x, 1, w);
    }
  } else {
    v.af = 4;
    v.caddr[0] = M.u32At(i, M.R_CADDR);
    v.vaddr[0] = M.u32At(i, M.R_VADDR);
    for (let w = 1; w < 4; w++) {
      v.caddr[w] = 0;
      v.vaddr[w] = 0;
    }
  }
  if (d !== null) {
    v.daf = d.af;
    v.daddr[0] = d.a0; v.daddr[1] = d.a1; v.daddr[2] = d.a2; v.daddr[3] = d.a3;
  } else {
    v.daf = v.af;
    for (let w = 0; w < 4; w++) v.daddr[w] = 0;
  }
}

/** Next live record index at or after `from`, or 0 when there is none. */
export function nextLive(from: u32): u32 {
  const end = M.highWater();
  for (let i = from < 1 ? <u32>1 : from; i < end; i++) {
    if ((M.flagsOf(i) & M.F_LIVE) != 0) return i;
  }
  return 0;
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
