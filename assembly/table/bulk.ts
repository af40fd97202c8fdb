// Bulk configuration (wasmvsadm -R): records laid back to back in
// REGION_BULK, each one ipvsadm command (op word, a service spec and a dest
// spec in the REGION_SPEC layouts), applied in order with the same checks as
// the single-command exports. One host call per batch instead of 2 per line.
import * as S from "../abi/status";
import {
  REGION_BULK, REGION_SPEC, BULK_RECORD_SIZE, BULK_MAX, BULK_OP, BULK_STATUS, BULK_SVC, BULK_DST,
  SVC_SPEC_SIZE, DST_SPEC_SIZE, BULK_ADD_SERVICE, BULK_EDIT_SERVICE, BULK_DELETE_SERVICE,
  BULK_ADD_DEST, BULK_EDIT_DEST, BULK_DELETE_DEST,
} from "../abi/layout";
import { ioBase } from "../abi/io";
import * as control from "./control";
import { Service } from "../service/service";

@inline function spec(): usize { return ioBase() + REGION_SPEC; }

/**
 * Apply one record whose service spec is already at REGION_SPEC. `svc` is
 * the service a dest op names when the caller already knows it (null: look
 * it up by the spec).
 */
function applyOne(op: u32, rec: usize, svc: Service | null): i32 {
  if (op == BULK_ADD_SERVICE) return control.addService();
  if (op == BULK_EDIT_SERVICE) return control.editService();
  if (svc === null) svc = control.findServiceBySpec();
  if (svc === null) return S.E_NOSERVICE;
  if (op == BULK_DELETE_SERVICE) return control.deleteService(svc.id);
  // The dest ops read their spec from REGION_SPEC too: overwrite the service spec.
  memory.copy(spec(), rec + BULK_DST, DST_SPEC_SIZE);
  if (op == BULK_ADD_DEST) return control.addDest(svc.id);
  if (op == BULK_EDIT_DEST) return control.editDest(svc.id);
  if (op == BULK_DELETE_DEST) return control.deleteDest(svc.id);
  return S.E_INVAL;
}

/** The service specs of the records at a and b are the same bytes. */
@inline function sameService(a: usize, b: usize): bool {
  for (let o: usize = 0; o < <usize>SVC_SPEC_SIZE; o += 4) {
    if (load<u32>(a + BULK_SVC + o) != load<u32>(b + BULK_SVC + o)) return false;
  }
  return true;
}

/**
 * Apply records 0..n-1; each record's status word gets the result (an id or
 * OK, else a negative status). stop != 0: stop after the first failure.
 * Returns how many records were applied (n unless stopped), or E_INVAL for a bad n.
 */
export function cfgBatch(n: u32, stop: u32): i32 {
  if (n > BULK_MAX) return S.E_INVAL;
  const base = ioBase() + REGION_BULK;
  // A restore names the same service in runs of dest records (-A, then its
  // -a lines): the service a dest record found is kept for the next records
  // with the same service spec bytes. Only dest ops run between them, and
  // those never add, remove or rekey a service; any service op drops it.
  let known: Service | null = null;
  let knownRec: usize = 0;
  for (let i: u32 = 0; i < n; i++) {
    const rec = base + <usize>(i * BULK_RECORD_SIZE);
    const op = load<u32>(rec + BULK_OP);
    let st: i32;
    if (op >= BULK_ADD_DEST && op <= BULK_DELETE_DEST) {
      if (known === null || !sameService(knownRec, rec)) {
        memory.copy(spec(), rec + BULK_SVC, SVC_SPEC_SIZE);
        known = control.findServiceBySpec();
        knownRec = rec;
      }
      st = known === null ? S.E_NOSERVICE : applyOne(op, rec, known);
    } else {
      known = null;
      memory.copy(spec(), rec + BULK_SVC, SVC_SPEC_SIZE);
      st = applyOne(op, rec, null);
    }
    store<i32>(rec + BULK_STATUS, st);
    if (st < 0 && stop != 0) return <i32>(i + 1);
  }
  return <i32>n;
}
