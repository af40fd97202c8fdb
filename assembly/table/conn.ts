// Connection entries: create (ip_vs_conn_new + bind_dest), kill (unhash,
// unbind, release the template), lookups in both directions (§2.3), idle
// re-arm and the timer expiry with the template rule of §2.11.
import { Dest } from "../service/dest";
import { dests, bindInactive, bindTemplate, unbindConn, unbindTemplate } from "./dests";
import { services } from "../service/services";
import * as M from "./conn_mem";
import { keyHash, chainHead, hashInsert, hashRemove, recordHash } from "./conn_hash";
import { wheelLink, wheelUnlink, wheelRearm, wheelRelink } from "./wheel";
import { tcpTimeout, udpTimeoutNow } from "./tcp_states";
import { classOf, classAdd, classMove } from "./conn_class";
import { METHOD_MASQ, PROTO_TCP } from "../abi/layout";

/** A connection key (scratch objects; nothing allocates per packet). */
@unmanaged export class ConnKey {
  af: u32 = 4;
  proto: u32 = 0;
  c0: u32 = 0;
  c1: u32 = 0;
  c2: u32 = 0;
  c3: u32 = 0;
  v0: u32 = 0;
  v1: u32 = 0;
  v2: u32 = 0;
  v3: u32 = 0;
  cport: u32 = 0;
  vport: u32 = 0;
}

/** A new connection's first timeout before its first state transition (3 s). */
const INITIAL_TIMEOUT: u32 = 3;
export const TEMPLATE_REARM: u32 = 60;
export const INVALID_PORT: u32 = 0xFFFF;

export function keyMatch(i: u32, k: ConnKey, template: bool): bool {
  const f = M.flagsOf(i);
  if (((f & M.F_TEMPLATE) != 0) != template) return false;
  if (M.u16At(i, M.R_CPORT) != k.cport || M.u16At(i, M.R_VPORT) != k.vport || M.protoOf(i) != k.proto) return false;
  if ((f & M.F_V6) == 0) return k.af == 4 && M.u32At(i, M.R_CADDR) == k.c0 && M.u32At(i, M.R_VADDR) == k.v0;
  if (k.af != 6) return false;
  const x = M.u32At(i, M.R_CADDR);
  return M.v6Word(x, 0, 0) == k.c0 && M.v6Word(x, 0, 1) == k.c1 && M.v6Word(x, 0, 2) == k.c2 && M.v6Word(x, 0, 3) == k.c3
    && M.v6Word(x, 1, 0) == k.v0 && M.v6Word(x, 1, 1) == k.v1 && M.v6Word(x, 1, 2) == k.v2 && M.v6Word(x, 1, 3) == k.v3;
}

/** Inbound lookup: a connection (template=false) or a template by its full key. */
export function lookupIn(k: ConnKey, template: bool): u32 {
  let i = chainHead(keyHash(k.proto, k.c0, k.c1, k.c2, k.c3, k.af == 6, k.cport));
  while (i != 0) {
    if (keyMatch(i, k, template)) return i;
    i = M.u32At(i, M.R_HNEXT);
  }
  return 0;
}

/** The real-server port of a record. */
export function dportOf(i: u32, d: Dest | null): u32 {
  if ((M.flagsOf(i) & M.F_DPV) != 0 || d === null) return M.u16At(i, M.R_VPORT);
  return d.port;
}

/** True when the record's source side (NAT: dest, else VIP) equals s:sport. */
function replyMatch(i: u32, k: ConnKey): bool {
  const f = M.flagsOf(i);
  if ((f & M.F_METHOD) == METHOD_MASQ) {
    const d = dests.get(M.u32At(i, M.R_DEST));
    if (d === null || dportOf(i, d) != k.vport) return false;
    return d.a0 == k.v0 && d.a1 == k.v1 && d.a2 == k.v2 && d.a3 == k.v3;
  }
  if (M.u16At(i, M.R_VPORT) != k.vport) return false;
  if ((f & M.F_V6) == 0) return M.u32At(i, M.R_VADDR) == k.v0;
  const x = M.u32At(i, M.R_CADDR);
  return M.v6Word(x, 1, 0) == k.v0 && M.v6Word(x, 1, 1) == k.v1 && M.v6Word(x, 1, 2) == k.v2 && M.v6Word(x, 1, 3) == k.v3;
}

/**
 * Reply lookup (§2.3): k.c = the packet's destination (the client), k.v = its
 * source (the real server for NAT, the VIP for DR/TUN).
 */
export function lookupOut(k: ConnKey): u32 {
  let i = chainHead(keyHash(k.proto, k.c0, k.c1, k.c2, k.c3, k.af == 6, k.cport));
  while (i != 0) {
    const f = M.flagsOf(i);
    if ((f & M.F_TEMPLATE) == 0 && M.u16At(i, M.R_CPORT) == k.cport && M.protoOf(i) == k.proto
      && clientMatch(i, k) && replyMatch(i, k)) return i;
    i = M.u32At(i, M.R_HNEXT);
  }
  return 0;
}

function clientMatch(i: u32, k: ConnKey): bool {
  if ((M.flagsOf(i) & M.F_V6) == 0) return k.af == 4 && M.u32At(i, M.R_CADDR) == k.c0;
  const x = M.u32At(i, M.R_CADDR);
  return k.af == 6 && M.v6Word(x, 0, 0) == k.c0 && M.v6Word(x, 0, 1) == k.c1 && M.v6Word(x, 0, 2) == k.c2 && M.v6Word(x, 0, 3) == k.c3;
}

/**
 * ip_vs_conn_new + ip_vs_bind_dest. `extra` is F_TEMPLATE or F_OPS or 0.
 * OPS entries are neither hashed nor timed. Returns the index or 0 (memory).
 */
export function createConn(k: ConnKey, d: Dest, dport: u32, extra: u32, now: u32, timeout: u32): u32 {
  const i = M.allocRecord();
  if (i == 0) return 0;
  let f = M.F_LIVE | (M.protoCode(k.proto) << M.F_PROTO_SHIFT) | (d.method & M.F_METHOD) | extra;
  const template = (extra & M.F_TEMPLATE) != 0;
  if (!template) {
    f |= M.F_INACTIVE;
    if (d.method != METHOD_MASQ) f |= M.F_NOOUTPUT;
  }
  if (dport == k.vport) f |= M.F_DPV;
  if (k.af == 6) {
    const x = M.allocV6();
    if (x == 0) {
      M.freeRecord(i);
      return 0;
    }
    M.setV6Word(x, 0, 0, k.c0); M.setV6Word(x, 0, 1, k.c1); M.setV6Word(x, 0, 2, k.c2); M.setV6Word(x, 0, 3, k.c3);
    M.setV6Word(x, 1, 0, k.v0); M.setV6Word(x, 1, 1, k.v1); M.setV6Word(x, 1, 2, k.v2); M.setV6Word(x, 1, 3, k.v3);
    M.setU32(i, M.R_CADDR, x);
    f |= M.F_V6;
  } else {
    M.setU32(i, M.R_CADDR, k.c0);
    M.setU32(i, M.R_VADDR, k.v0);
  }
  M.setU16(i, M.R_CPORT, k.cport);
  M.setU16(i, M.R_VPORT, k.vport);
  M.setU32(i, M.R_DEST, d.id);
  M.setFlags(i, f);
  if (template) bindTemplate(d);
  else bindInactive(d);
  if ((extra & M.F_OPS) == 0) {
    hashInsert(i, recordHash(i));
    wheelLink(i, now + (template ? timeout : INITIAL_TIMEOUT));
  }
  classAdd(classOf(i), 1);
  return i;
}

/** Unhash, unbind and free. `linked` is false for a record taken off a firing wheel slot. */
export function killConn(i: u32, linked: bool): void {
  const f = M.flagsOf(i);
  classAdd(classOf(i), -1);
  if ((f & M.F_OPS) == 0) {
    hashRemove(i, recordHash(i));
    if (linked) wheelUnlink(i);
  }
  const d = dests.get(M.u32At(i, M.R_DEST));
  if (f & M.F_TEMPLATE) {
    if (d !== null) unbindTemplate(d);
  } else {
    if (d !== null) unbindConn(d, (f & M.F_INACTIVE) == 0);
    const ct = M.u32At(i, M.R_CONTROL);
    if (ct != 0) controlDel(ct);
  }
  if (f & M.F_V6) M.freeV6(M.u32At(i, M.R_CADDR));
  M.freeRecord(i);
}

/** ip_vs_control_add: conn i is controlled by template ct. */
export function controlAdd(i: u32, ct: u32): void {
  M.setU32(i, M.R_CONTROL, ct);
  const before = classOf(ct);
  M.setU32(ct, M.R_CONTROL, M.u32At(ct, M.R_CONTROL) + 1);
  classMove(before, classOf(ct));
}

function controlDel(ct: u32): void {
  const before = classOf(ct);
  M.setU32(ct, M.R_CONTROL, M.u32At(ct, M.R_CONTROL) - 1);
  classMove(before, classOf(ct));
}

/** ip_vs_control_assure_ct: mark the controlling template ASSURED. */
export function assureControl(i: u32): void {
  const ct = M.u32At(i, M.R_CONTROL);
  if (ct == 0 || (M.flagsOf(i) & M.F_TEMPLATE) != 0) return;
  const before = classOf(ct);
  M.setFlags(ct, M.flagsOf(ct) | M.F_ASSURED);
  classMove(before, classOf(ct));
}

/** The timeout the entry is re-armed with (cp->timeout). */
export function timeoutOf(i: u32): u32 {
  const f = M.flagsOf(i);
  if (f & M.F_TEMPLATE) {
    if (f & M.F_T60) return TEMPLATE_REARM;
    const d = dests.get(M.u32At(i, M.R_DEST));
    if (d === null) return TEMPLATE_REARM;
    const svc = services.get(d.svcId);
    return svc === null ? TEMPLATE_REARM : svc.timeout;
  }
  if (M.protoOf(i) == PROTO_TCP) return tcpTimeout(M.stateOf(i));
  return udpTimeoutNow();
}

/** ip_vs_conn_put: the timer restarts from now (timeouts are idle timeouts). */
export function rearm(i: u32, now: u32): void {
  wheelRearm(i, now + timeoutOf(i));
}

/**
 * The timer of record i (taken off its slot) fired at t. A template that
 * still controls connections is kept for another 60 s, and 60 s becomes its
 * timeout. Returns true when the entry was freed.
 */
export function timerFired(i: u32, t: u32): bool {
  const f = M.flagsOf(i);
  if ((f & M.F_TEMPLATE) != 0 && M.u32At(i, M.R_CONTROL) != 0) {
    M.setFlags(i, f | M.F_T60);
    M.setU32(i, M.R_EXPIRES, t + TEMPLATE_REARM);
    wheelRelink(i);
    return false;
  }
  killConn(i, false);
  return true;
}

@inline export function destOf(i: u32): Dest | null {
  return dests.get(M.u32At(i, M.R_DEST));
}
