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

@inline function spec(): usize { return ioBase() + REGION_SPEC; }

/** Apply one record whose service spec is already at REGION_SPEC. */
function applyOne(op: u32, rec: usize): i32 {
  if (op == BULK_ADD_SERVICE) return control.addService();
  if (op == BULK_EDIT_SERVICE) return control.editService();
  const svc = control.findServiceBySpec();
  if (svc === null) return S.E_NOSERVICE;
  if (op == BULK_DELETE_SERVICE) return control.deleteService(svc.id);
  // The dest ops read their spec from REGION_SPEC too: overwrite the service spec.
  memory.copy(spec(), rec + BULK_DST, DST_SPEC_SIZE);
  if (op == BULK_ADD_DEST) return control.addDest(svc.id);
  if (op == BULK_EDIT_DEST) return control.editDest(svc.id);
  if (op == BULK_DELETE_DEST) return control.deleteDest(svc.id);
  return S.E_INVAL;
}

/**
 * Apply records 0..n-1; each record's status word gets the result (an id or
 * OK, else a negative status). stop != 0: stop after the first failure.
 * Returns how many records were applied (n unless stopped), or E_INVAL for a bad n.
 */
export function cfgBatch(n: u32, stop: u32): i32 {
  if (n > BULK_MAX) return S.E_INVAL;
  const base = ioBase() + REGION_BULK;
  for (let i: u32 = 0; i < n; i++) {
    const rec = base + <usize>(i * BULK_RECORD_SIZE);
    memory.copy(spec(), rec + BULK_SVC, SVC_SPEC_SIZE);
    const st = applyOne(load<u32>(rec + BULK_OP), rec);
    store<i32>(rec + BULK_STATUS, st);
    if (st < 0 && stop != 0) return <i32>(i + 1);
  }
  return <i32>n;
}
