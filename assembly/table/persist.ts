// Persistence (ip_vs_sched_persist, ip_vs_check_template): the template key
// per service kind, template reuse or invalidation, and the real port of the
// connection made under a template. The FTP rule is simplified to its key
// shape (port 21 services use vport 0); there is no FTP control/data helper.
import { Dest } from "../service/dest";
import { Service } from "../service/service";
import { Flow } from "../abi/flow";
import * as M from "./conn_mem";
import { ConnKey, lookupIn, createConn, destOf, rearm, INVALID_PORT } from "./conn";
import { expireQuiescentTemplate } from "./conn_options";
import { bump, CNT_TEMPLATE_NEW, CNT_TEMPLATE_INVALIDATED } from "../stats/counters";
import { schedPick } from "../sched/registry";

const FTP_PORT: u32 = 21;
const tk = new ConnKey();

/** The template used by the last persistSchedule (0 when none). */
export let persistTemplate: u32 = 0;
/** Why persistSchedule returned null: 0 no dest, 1 table full. */
export let persistFull: bool = false;

function prefixWord(bits: i32): u32 {
  if (bits >= 32) return 0xFFFFFFFF;
  if (bits <= 0) return 0;
  return ~(<u32>0xFFFFFFFF >> <u32>bits);
}

function fillTemplateKey(svc: Service, f: Flow): void {
  tk.af = f.af;
  tk.proto = f.proto;
  tk.cport = 0;
  tk.vport = 0;
  if (f.af == 6) {
    const n = <i32>svc.netmask;
    tk.c0 = f.c0 & prefixWord(n);
    tk.c1 = f.c1 & prefixWord(n - 32);
    tk.c2 = f.c2 & prefixWord(n - 64);
    tk.c3 = f.c3 & prefixWord(n - 96);
  } else {
    tk.c0 = f.c0 & svc.netmask;
    tk.c1 = 0; tk.c2 = 0; tk.c3 = 0;
  }
  tk.v0 = f.v0; tk.v1 = f.v1; tk.v2 = f.v2; tk.v3 = f.v3;
  if (f.vport == svc.port) {
    if (svc.port != FTP_PORT) tk.vport = f.vport;
  } else if (svc.fwmark != 0) {
    // fwmark template: <IP, snet, 0, fwmark, 0>
    tk.proto = 0;
    tk.v0 = svc.fwmark;
    tk.v1 = 0; tk.v2 = 0; tk.v3 = 0;
  }
}

/**
 * ip_vs_check_template: false (and the template orphaned with vport/dport
 * 0xffff until its timer fires) when its dest was deleted or, with
 * expire_quiescent_template, has weight 0.
 */
export function checkTemplate(ct: u32): bool {
  const d = destOf(ct);
  if (d !== null && d.available && !(expireQuiescentTemplate && d.weight == 0)) return true;
  if (M.u16At(ct, M.R_VPORT) != INVALID_PORT) {
    // cport is already 0 and the hash covers (proto, caddr, cport) only: no rehash needed.
    M.setU16(ct, M.R_VPORT, INVALID_PORT);
    M.setFlags(ct, M.flagsOf(ct) | M.F_DPV);
    bump(CNT_TEMPLATE_INVALIDATED);
  }
  return false;
}

/**
 * The dest for a new connection of a persistent service, reusing or creating
 * its template (left in persistTemplate, already re-armed). null when the
 * scheduler finds nothing or memory ran out (persistFull). The caller made
 * room for the template and the connection beforehand, so nothing can evict
 * the template between here and controlAdd.
 */
export function persistSchedule(svc: Service, f: Flow, now: u32): Dest | null {
  persistTemplate = 0;
  persistFull = false;
  fillTemplateKey(svc, f);
  let ct = lookupIn(tk, true);
  let d: Dest | null = null;
  if (ct != 0 && checkTemplate(ct)) {
    d = destOf(ct);
  } else {
    if (svc.sched == 0) return null;
    d = schedPick(svc, f);
    if (d === null) return null;
    const dport = f.vport == svc.port && svc.port != FTP_PORT ? d.port : 0;
    // The template's stored dport: the dest's port, else 0 (== vport 0 → F_DPV).
    ct = createConn(tk, d, dport, M.F_TEMPLATE, now, svc.timeout);
    if (ct == 0) {
      persistFull = true;
      return null;
    }
    bump(CNT_TEMPLATE_NEW);
  }
  if (d === null) return null;
  rearm(ct, now);
  persistTemplate = ct;
  return d;
}

/** Real port of a connection made under a template (§2.11). */
export function persistDport(svc: Service, f: Flow, d: Dest): u32 {
  return f.vport == svc.port && d.port != 0 ? d.port : f.vport;
}
