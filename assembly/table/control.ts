// Configuration operations (ipvsadm -A -E -D -C -a -e -d) with the kernel's
// validation and error codes. Specs come in through REGION_SPEC.
import * as S from "../abi/status";
import { PROTO_TCP, PROTO_UDP, PROTO_SCTP, METHOD_TUNNEL, METHOD_ROUTE } from "../abi/layout";
import { readServiceSpec, readDestSpec } from "../service/records";
import { Service, newService, freeService } from "../service/service";
import { Dest, newDest } from "../service/dest";
import { services, linkService, unlinkService, findKeyed, findMarked } from "../service/services";
import { dests, linkDest, unlinkDest, updateThresholds, reserveLink } from "./dests";
import { trashDest, reviveFromTrash, reserveTrash } from "./trash";
import { isKnownScheduler, SCHED_MH, schedBind, schedUnbind, schedInit, schedCanAdd, schedEdited } from "../sched/registry";
import { isMhPrime } from "../sched/mh_primes";
import { mhTableSize } from "../sched/mh";

/** Scratch records the spec is read into before it is validated (allocated once, at start). */
const specSvc = new Service();
const specDest = new Dest();

function validateServiceSpec(s: Service): i32 {
  if (s.af != 4 && s.af != 6) return S.E_INVAL;
  if (s.fwmark == 0 && s.proto != PROTO_TCP && s.proto != PROTO_UDP && s.proto != PROTO_SCTP) return S.E_INVAL;
  if (!isKnownScheduler(s.schedId)) return S.E_NOSCHED;
  if (s.af == 6 && (s.netmask < 1 || s.netmask > 128)) return S.E_INVAL;
  if (s.port > 0xFFFF) return S.E_INVAL;
  if (s.mhPrime != 0 && !isMhPrime(s.mhPrime)) return S.E_INVAL;
  return S.OK;
}

function findBySpec(s: Service): Service | null {
  return s.fwmark != 0 ? findMarked(s.af, s.fwmark) : findKeyed(s.af, s.proto, s.a0, s.a1, s.a2, s.a3, s.port);
}

/** The service named by the spec's key, or null. */
export function findServiceBySpec(): Service | null {
  readServiceSpec(specSvc);
  return findBySpec(specSvc);
}

/** All or nothing: without memory for the record, its table slot or its
 * scheduler state, nothing is linked and E_NOMEM is returned. */
export function addService(): i32 {
  readServiceSpec(specSvc);
  const st = validateServiceSpec(specSvc);
  if (st < 0) return st;
  if (findBySpec(specSvc) !== null) return S.E_EXIST;
  const svc = newService();
  if (svc === null) return S.E_NOMEM;
  readServiceSpec(svc);
  if (svc.fwmark != 0) svc.proto = 0;
  if (schedBind(svc) < 0) {
    freeService(svc);
    return S.E_NOMEM;
  }
  if (linkService(svc) == 0) {
    schedUnbind(svc);
    freeService(svc);
    return S.E_NOMEM;
  }
  return <i32>svc.id;
}

/** -E: every option is replaced; a scheduler change starts fresh state. */
export function editService(): i32 {
  readServiceSpec(specSvc);
  const st = validateServiceSpec(specSvc);
  if (st < 0) return st;
  const svc = findBySpec(specSvc);
  if (svc === null) return S.E_NOSERVICE;
  // A Maglev table cannot hold more dests than slots: refuse before changing anything.
  if (specSvc.schedId == SCHED_MH && svc.dests.length > mhTableSize(specSvc.mhPrime)) return S.E_INVAL;
  const rebind = svc.schedId != specSvc.schedId || (svc.schedId == SCHED_MH && svc.mhPrime != specSvc.mhPrime);
  if (rebind) {
    // ip_vs_edit_service: unbind the old scheduler (its done hook resets
    // per-dest state such as heap positions), then bind the new one. Without
    // memory for the new one the old scheduler is bound again and nothing
    // else changes.
    const oldId = svc.schedId;
    const oldPrime = svc.mhPrime;
    schedUnbind(svc);
    svc.schedId = specSvc.schedId;
    svc.mhPrime = specSvc.mhPrime;
    if (schedBind(svc) < 0) {
      svc.schedId = oldId;
      svc.mhPrime = oldPrime;
      schedBind(svc);
      return S.E_NOMEM;
    }
  }
  svc.flags = specSvc.flags;
  svc.timeout = specSvc.timeout;
  svc.netmask = specSvc.netmask;
  svc.mhPrime = specSvc.mhPrime;
  if (!rebind) {
    // Same scheduler: flags such as sh-port are read at pick time; a fresh
    // init makes table-based schedulers consistent with the new options.
    schedInit(svc);
  }
  return <i32>svc.id;
}

/** False (nothing changed) when the trash cannot take the service's dests. */
export function deleteServiceObj(svc: Service): bool {
  if (!reserveTrash(svc.dests.length)) return false;
  while (svc.dests.length > 0) {
    const d = unchecked(svc.dests[0]);
    unlinkDest(svc, d);
    trashDest(d);
  }
  schedUnbind(svc);
  unlinkService(svc);
  freeService(svc);
  return true;
}

export function deleteService(svcId: u32): i32 {
  const svc = services.get(svcId);
  if (svc === null) return S.E_NOSERVICE;
  return deleteServiceObj(svc) ? S.OK : S.E_NOMEM;
}

export function clearAll(): i32 {
  for (let i = 0, n = services.slotCount(); i < n; i++) {
    const s = services.at(i);
    if (s !== null && !deleteServiceObj(s)) return S.E_NOMEM;
  }
  return S.OK;
}

function validateDestSpec(svc: Service, d: Dest): i32 {
  if (d.af != 4 && d.af != 6) return S.E_INVAL;
  if (d.af != svc.af && d.method != METHOD_TUNNEL) return S.E_INVAL;
  if (d.method > METHOD_ROUTE) return S.E_INVAL;
  if (d.weight < 0 || d.weight > 0xFFFF) return S.E_RANGE;
  if (d.lThreshold > d.uThreshold) return S.E_RANGE;
  if (d.port > 0xFFFF) return S.E_INVAL;
  // GUE needs a destination port.
  if (d.method == METHOD_TUNNEL && d.tunType == 1 && d.tunPort == 0) return S.E_INVAL;
  return S.OK;
}

function applyDestSpec(d: Dest, from: Dest): void {
  d.weight = from.weight;
  if (from.weight != 0) d.lastWeight = from.weight;
  d.method = from.method;
  d.tunType = from.tunType;
  d.tunFlags = from.tunFlags;
  d.tunPort = from.tunPort;
  updateThresholds(d, from.uThreshold, from.lThreshold);
}

export function addDest(svcId: u32): i32 {
  const svc = services.get(svcId);
  if (svc === null) return S.E_NOSERVICE;
  readDestSpec(specDest);
  const st = validateDestSpec(svc, specDest);
  if (st < 0) return st;
  const sd = specDest;
  if (svc.findDest(sd.af, sd.a0, sd.a1, sd.a2, sd.a3, sd.port) !== null) return S.E_EXIST;
  const room = schedCanAdd(svc);
  if (room < 0) return room;
  if (!reserveLink(svc) || !dests.reserve()) return S.E_NOMEM;
  let d = reviveFromTrash(svc, sd);
  if (d === null) {
    d = newDest();
    if (d === null) return S.E_NOMEM;
    readDestSpec(d);
    d.lastWeight = d.weight;
    d.uThreshold = 0;
    d.id = dests.put(d);
  }
  applyDestSpec(d, sd);
  linkDest(svc, d);
  return <i32>d.id;
}

/** Find the dest named by the spec in svc (for -e and -d). */
function findSpecDest(svc: Service): Dest | null {
  readDestSpec(specDest);
  const sd = specDest;
  return svc.findDest(sd.af, sd.a0, sd.a1, sd.a2, sd.a3, sd.port);
}

export function editDest(svcId: u32): i32 {
  const svc = services.get(svcId);
  if (svc === null) return S.E_NOSERVICE;
  const d = findSpecDest(svc);
  if (d === null) return S.E_NODEST;
  const st = validateDestSpec(svc, specDest);
  if (st < 0) return st;
  applyDestSpec(d, specDest);
  schedEdited(svc, d);
  return <i32>d.id;
}

export function deleteDest(svcId: u32): i32 {
  const svc = services.get(svcId);
  if (svc === null) return S.E_NOSERVICE;
  const d = findSpecDest(svc);
  if (d === null) return S.E_NODEST;
  if (!reserveTrash(1)) return S.E_NOMEM;
  unlinkDest(svc, d);
  trashDest(d);
  return S.OK;
}
