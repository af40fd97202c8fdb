// Connection sync between directors (docs/many-directors.md): an entry
// another director made is imported here, as ip_vs_proc_conn does for the
// kernel's sync daemon. The entry names its service by (af, proto, VIP, vport)
// or fwmark and its real server by address; both must exist here, else the
// import is refused (the kernel would create a dest-less entry: an entry
// that forwards nowhere is of no use to a director taking over the flow).
// State and the seconds left are the sender's; the next packet re-arms the
// entry with this director's timeout for its state, as for a local one.
import * as S from "../abi/status";
import * as L from "../abi/layout";
import { rd8, rd16, rd32 } from "../abi/io";
import { specPtr } from "../abi/records";
import * as M from "./conn_mem";
import { ConnKey, lookupIn, createConn, killConn, destOf, dportOf } from "./conn";
import { forceState } from "./conn_state";
import { classOf, classMove } from "./conn_class";
import { wheelUnlink, wheelLink } from "./wheel";
import { Service } from "../service/service";
import { Dest } from "../service/dest";
import { findMarked, lookupService } from "../service/services";
import { makeRoom } from "./conn_limit";
import { runClocks } from "./conn_api";
import { PROTO_TCP } from "../abi/layout";

const k = new ConnKey();
const daddr = new StaticArray<u32>(4);

function destIn(svc: Service, daf: u32, dport: u32, vport: u32): Dest | null {
  const list = svc.dests;
  for (let n = 0, e = list.length; n < e; n++) {
    const d = unchecked(list[n]);
    if (d.af != daf || d.a0 != daddr[0] || d.a1 != daddr[1] || d.a2 != daddr[2] || d.a3 != daddr[3]) continue;
    // A port-0 or FTP-keyed entry stores vport as its dport (F_DPV).
    if (d.port == dport || dport == vport) return d;
  }
  return null;
}

/**
 * Import one entry from the CONN_* record at REGION_SPEC (the listing's
 * layout): AF, PROTO (0 for a fwmark template), STATE (a TCP state, or
 * CONN_S_ASSURED for a template), DAF, FLAGS (CONN_F_TEMPLATE), EXPIRES
 * (seconds left; 0 removes the entry), CPORT/VPORT/DPORT, CADDR, VADDR (a
 * fwmark template: the mark in word 0), DADDR; NCONTROL carries the fwmark
 * of a connection's fwmark service (0: none). Returns the entry's id, OK for
 * a removal, or E_NOSERVICE / E_NODEST (unknown here), E_NOCONN (nothing to
 * remove), E_INVAL, E_CONN_LIMIT, E_NOMEM.
 */
export function connImport(now: u32): i32 {
  runClocks(now);
  const p = specPtr();
  const af = <u32>rd8(p + L.CONN_AF);
  const proto = <u32>rd8(p + L.CONN_PROTO);
  const state = <u32>rd8(p + L.CONN_STATE);
  const daf = <u32>rd8(p + L.CONN_DAF);
  const template = (rd32(p + L.CONN_FLAGS) & L.CONN_F_TEMPLATE) != 0;
  const left = rd32(p + L.CONN_EXPIRES);
  const mark = rd32(p + L.CONN_NCONTROL);
  if (af != 4 && af != 6 || daf != 4 && daf != 6) return S.E_INVAL;
  if (!template && proto == 0) return S.E_INVAL;
  if (!template && proto == PROTO_TCP && state > 10) return S.E_INVAL;
  k.af = af;
  k.proto = proto;
  k.cport = <u32>rd16(p + L.CONN_CPORT);
  k.vport = <u32>rd16(p + L.CONN_VPORT);
  const dport = <u32>rd16(p + L.CONN_DPORT);
  k.c0 = rd32(p + L.CONN_CADDR); k.c1 = rd32(p + L.CONN_CADDR + 4); k.c2 = rd32(p + L.CONN_CADDR + 8); k.c3 = rd32(p + L.CONN_CADDR + 12);
  k.v0 = rd32(p + L.CONN_VADDR); k.v1 = rd32(p + L.CONN_VADDR + 4); k.v2 = rd32(p + L.CONN_VADDR + 8); k.v3 = rd32(p + L.CONN_VADDR + 12);
  for (let w = 0; w < 4; w++) daddr[w] = rd32(p + L.CONN_DADDR + w * 4);
  if (af == 4) { k.c1 = 0; k.c2 = 0; k.c3 = 0; k.v1 = 0; k.v2 = 0; k.v3 = 0; }
  if (daf == 4) { daddr[1] = 0; daddr[2] = 0; daddr[3] = 0; }

  const old = lookupIn(k, template);
  if (left == 0) {
    if (old == 0) return S.E_NOCONN;
    // A template still controlling connections here stays (they keep it alive).
    if (template && M.u32At(old, M.R_CONTROL) != 0) return S.OK;
    killConn(old, true);
    return S.OK;
  }

  let svc: Service | null;
  if (template && proto == 0) svc = findMarked(af, k.v0);
  else svc = lookupService(af, template ? 0 : mark, proto, k.v0, k.v1, k.v2, k.v3, k.vport);
  if (svc === null) return S.E_NOSERVICE;
  const d = destIn(svc, daf, dport, k.vport);
  if (d === null) return S.E_NODEST;

  let i = old;
  if (i != 0 && (destOf(i) !== d || dportOf(i, destOf(i)) != dport)) {
    // The sender moved the entry to another real server: follow it.
    if (template && M.u32At(i, M.R_CONTROL) != 0) return <i32>M.connId(i);
    killConn(i, true);
    i = 0;
  }
  if (i == 0) {
    if (!makeRoom(1)) return S.E_CONN_LIMIT;
    i = createConn(k, d, dport, template ? M.F_TEMPLATE : 0, now, left);
    if (i == 0) return S.E_NOMEM;
  }
  if (template) {
    if (state == L.CONN_S_ASSURED && (M.flagsOf(i) & M.F_ASSURED) == 0) {
      const before = classOf(i);
      M.setFlags(i, M.flagsOf(i) | M.F_ASSURED);
      classMove(before, classOf(i));
    }
  } else if (proto == PROTO_TCP) {
    forceState(i, state);
  }
  // The sender's seconds left, as is (shorter or longer than this entry's now).
  wheelUnlink(i);
  wheelLink(i, now + left);
  return <i32>M.connId(i);
}
