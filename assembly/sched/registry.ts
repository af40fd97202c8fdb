// The only file that lists the schedulers, and their hook table (the
// kernel's struct ip_vs_scheduler, dispatched by scheduler id with a switch).
// Ids are ABI (the SDK maps names to them in sdk/schedulers.ts); 0 is
// IPVS's "none" (no scheduler bound).
//
// The hooks, each implemented in the scheduler's own file where it does work:
//   bind       a zeroed state block of stateSize(id) bytes is set up, then init
//   init       bound to svc (on add, or -E); dests already listed
//   added      d was linked at the head of svc.dests
//   removed    d was unlinked; it sat at `index` before removal
//   edited     d's weight, thresholds or method were edited (ip_vs_edit_dest)
//   loadChanged d's activeconns/inactconns or OVERLOAD/DOWN flag changed
//   done       the scheduler is being replaced or the service deleted
//   pick       choose a dest for the flow; null when none is available
//   tick       time-driven upkeep (lblc/lblcr cache expiry)
//   canAdd     may one more dest be linked (OK, E_INVAL: mh dests > M,
//              E_NOMEM: no room); room for it is taken here
// Expensive work (tables, wrr state) belongs in the change hooks; pick reads
// prepared state and never allocates. State blocks and everything they point
// to come from the one allocator (mem/alloc.ts).
import * as S from "../abi/status";
import { Dest } from "../service/dest";
import { Service, SCHED_INLINE_BYTES } from "../service/service";
import { alloc, free } from "../mem/alloc";
import { Flow } from "../abi/flow";
import { RoundRobin } from "./rr";
import { WeightedRoundRobin } from "./wrr";
import { LoadHeap, ORDER_LC, ORDER_WLC, ORDER_SED, ORDER_NQ } from "./loadheap";
import { heapInit, heapCanAdd, heapUpdate, heapRemoved, heapDone, heapPick } from "./heapsched";
import { DestinationHashing, DH_STATE_SIZE } from "./dh";
import { SourceHashing, SH_STATE_SIZE } from "./sh";
import { MaglevHashing } from "./mh";
import { LocalityCache } from "./lblc_cache";
import { LocalityBased } from "./lblc";
import { LocalityBasedReplicated } from "./lblcr";
import { WeightedFailover } from "./fo";
import { WeightedOverflow } from "./ovf";
import { PowerOfTwo } from "./twos";

export const SCHED_NONE: u32 = 0;
export const SCHED_RR: u32 = 1;
export const SCHED_WRR: u32 = 2;
export const SCHED_LC: u32 = 3;
export const SCHED_WLC: u32 = 4;
export const SCHED_SED: u32 = 5;
export const SCHED_NQ: u32 = 6;
export const SCHED_DH: u32 = 7;
export const SCHED_SH: u32 = 8;
export const SCHED_MH: u32 = 9;
export const SCHED_LBLC: u32 = 10;
export const SCHED_LBLCR: u32 = 11;
export const SCHED_FO: u32 = 12;
export const SCHED_OVF: u32 = 13;
export const SCHED_TWOS: u32 = 14;
export const SCHED_MAX: u32 = 14;

export function isKnownScheduler(id: u32): bool {
  return id <= SCHED_MAX;
}

@inline function st<T>(svc: Service): T {
  return changetype<T>(svc.sched);
}

/** Bytes of the state block of scheduler `id`. */
function stateSize(id: u32): usize {
  switch (id) {
    case SCHED_RR: return offsetof<RoundRobin>();
    case SCHED_WRR: return offsetof<WeightedRoundRobin>();
    case SCHED_LC:
    case SCHED_WLC:
    case SCHED_SED:
    case SCHED_NQ: return offsetof<LoadHeap>();
    case SCHED_DH: return DH_STATE_SIZE;
    case SCHED_SH: return SH_STATE_SIZE;
    case SCHED_MH: return offsetof<MaglevHashing>();
    case SCHED_LBLC:
    case SCHED_LBLCR: return offsetof<LocalityCache>();
  }
  return 0; // fo, ovf, twos keep no state
}

@inline function heapOrder(id: u32): i32 {
  return id == SCHED_LC ? ORDER_LC : id == SCHED_WLC ? ORDER_WLC : id == SCHED_SED ? ORDER_SED : ORDER_NQ;
}

/** ip_vs_bind_scheduler: allocate and set up svc's state for svc.schedId, then init.
 * OK, or E_NOMEM with nothing bound. "none" binds nothing. */
export function schedBind(svc: Service): i32 {
  const id = svc.schedId;
  if (id == SCHED_NONE || id > SCHED_MAX) return S.OK;
  // Small states live inside the service record (no extra cache line per pick).
  const size = stateSize(id);
  let p: usize;
  if (size <= SCHED_INLINE_BYTES) {
    p = svc.inlineState;
    memory.fill(p, 0, SCHED_INLINE_BYTES);
  } else {
    p = alloc(size);
    if (p == 0) return S.E_NOMEM;
  }
  svc.sched = p;
  let ok = true;
  switch (id) {
    case SCHED_LC:
    case SCHED_WLC:
    case SCHED_SED:
    case SCHED_NQ: changetype<LoadHeap>(p).kind = heapOrder(id); break;
    case SCHED_LBLC: ok = changetype<LocalityCache>(p).setup(false); break;
    case SCHED_LBLCR: ok = changetype<LocalityCache>(p).setup(true); break;
  }
  if (ok) ok = schedInit(svc);
  if (!ok) {
    schedUnbind(svc);
    return S.E_NOMEM;
  }
  return S.OK;
}

/** ip_vs_unbind_scheduler: done, then the state block and its arrays go back. */
export function schedUnbind(svc: Service): void {
  const p = svc.sched;
  if (p == 0) return;
  schedDone(svc);
  const id = svc.schedId;
  switch (id) {
    case SCHED_LC:
    case SCHED_WLC:
    case SCHED_SED:
    case SCHED_NQ: changetype<LoadHeap>(p).dispose(); break;
    case SCHED_MH: changetype<MaglevHashing>(p).dispose(); break;
    case SCHED_LBLC:
    case SCHED_LBLCR: {
      const c = changetype<LocalityCache>(p);
      if (changetype<usize>(c.buckets) != 0) c.dispose();
      break;
    }
  }
  if (p != svc.inlineState) free(p, stateSize(id));
  svc.sched = 0;
}

/** False when the scheduler could not get memory for its tables. */
export function schedInit(svc: Service): bool {
  if (svc.sched == 0) return true;
  switch (svc.schedId) {
    case SCHED_RR: st<RoundRobin>(svc).init(svc); break;
    case SCHED_WRR: st<WeightedRoundRobin>(svc).init(svc); break;
    case SCHED_LC:
    case SCHED_WLC:
    case SCHED_SED:
    case SCHED_NQ: return heapInit(st<LoadHeap>(svc), svc);
    case SCHED_DH: st<DestinationHashing>(svc).init(svc); break;
    case SCHED_SH: st<SourceHashing>(svc).init(svc); break;
    case SCHED_MH: return st<MaglevHashing>(svc).init(svc);
    // lblc/lblcr: no init; -E with the same scheduler keeps the cache, as in IPVS.
  }
  return true;
}

export function schedAdded(svc: Service, d: Dest): void {
  if (svc.sched == 0) return;
  switch (svc.schedId) {
    case SCHED_RR: st<RoundRobin>(svc).added(svc, d); break;
    case SCHED_WRR: st<WeightedRoundRobin>(svc).added(svc, d); break;
    case SCHED_LC:
    case SCHED_WLC:
    case SCHED_SED:
    case SCHED_NQ: heapUpdate(st<LoadHeap>(svc), d); break;
    case SCHED_DH: st<DestinationHashing>(svc).added(svc, d); break;
    case SCHED_SH: st<SourceHashing>(svc).added(svc, d); break;
    case SCHED_MH: st<MaglevHashing>(svc).added(svc, d); break;
  }
}

export function schedRemoved(svc: Service, d: Dest, index: i32): void {
  if (svc.sched == 0) return;
  switch (svc.schedId) {
    case SCHED_RR: st<RoundRobin>(svc).removed(svc, d, index); break;
    case SCHED_WRR: st<WeightedRoundRobin>(svc).removed(svc, d, index); break;
    case SCHED_LC:
    case SCHED_WLC:
    case SCHED_SED:
    case SCHED_NQ: heapRemoved(st<LoadHeap>(svc), d); break;
    case SCHED_DH: st<DestinationHashing>(svc).removed(svc, d, index); break;
    case SCHED_SH: st<SourceHashing>(svc).removed(svc, d, index); break;
    case SCHED_MH: st<MaglevHashing>(svc).removed(svc, d, index); break;
  }
}

export function schedEdited(svc: Service, d: Dest): void {
  if (svc.sched == 0) return;
  switch (svc.schedId) {
    case SCHED_WRR: st<WeightedRoundRobin>(svc).edited(svc, d); break;
    case SCHED_LC:
    case SCHED_WLC:
    case SCHED_SED:
    case SCHED_NQ: heapUpdate(st<LoadHeap>(svc), d); break;
    case SCHED_SH: st<SourceHashing>(svc).edited(svc, d); break;
    case SCHED_MH: st<MaglevHashing>(svc).edited(svc, d); break;
  }
}

/** Only the least-load schedulers keep state that depends on load. */
@inline export function schedLoadChanged(svc: Service, d: Dest): void {
  const id = svc.schedId;
  if (id >= SCHED_LC && id <= SCHED_NQ && svc.sched != 0) heapUpdate(st<LoadHeap>(svc), d);
}

export function schedDone(svc: Service): void {
  if (svc.sched == 0) return;
  switch (svc.schedId) {
    case SCHED_LC:
    case SCHED_WLC:
    case SCHED_SED:
    case SCHED_NQ: heapDone(st<LoadHeap>(svc)); break;
    case SCHED_DH: st<DestinationHashing>(svc).done(svc); break;
    case SCHED_SH: st<SourceHashing>(svc).done(svc); break;
    case SCHED_MH: st<MaglevHashing>(svc).done(svc); break;
    case SCHED_LBLC: st<LocalityBased>(svc).done(svc); break;
    case SCHED_LBLCR: st<LocalityBasedReplicated>(svc).done(svc); break;
  }
}

/** The scheduler's choice for f; null when none is available (or no scheduler). */
export function schedPick(svc: Service, f: Flow): Dest | null {
  const p = svc.sched;
  if (p == 0) return null;
  switch (svc.schedId) {
    case SCHED_RR: return changetype<RoundRobin>(p).pick(svc, f);
    case SCHED_WRR: return changetype<WeightedRoundRobin>(p).pick(svc, f);
    case SCHED_LC:
    case SCHED_WLC:
    case SCHED_SED:
    case SCHED_NQ: return heapPick(changetype<LoadHeap>(p));
    case SCHED_DH: return changetype<DestinationHashing>(p).pick(svc, f);
    case SCHED_SH: return changetype<SourceHashing>(p).pick(svc, f);
    case SCHED_MH: return changetype<MaglevHashing>(p).pick(svc, f);
    case SCHED_LBLC: return changetype<LocalityBased>(p).pick(svc, f);
    case SCHED_LBLCR: return changetype<LocalityBasedReplicated>(p).pick(svc, f);
    case SCHED_FO: return changetype<WeightedFailover>(p).pick(svc, f);
    case SCHED_OVF: return changetype<WeightedOverflow>(p).pick(svc, f);
    case SCHED_TWOS: return changetype<PowerOfTwo>(p).pick(svc, f);
  }
  return null;
}

export function schedTick(svc: Service, now: u32): void {
  if (svc.sched == 0) return;
  switch (svc.schedId) {
    case SCHED_LBLC: st<LocalityBased>(svc).tick(svc, now); break;
    case SCHED_LBLCR: st<LocalityBasedReplicated>(svc).tick(svc, now); break;
  }
}

/** OK when one more dest may be linked (room taken), else E_INVAL or E_NOMEM. */
export function schedCanAdd(svc: Service): i32 {
  if (svc.sched == 0) return S.OK;
  switch (svc.schedId) {
    case SCHED_LC:
    case SCHED_WLC:
    case SCHED_SED:
    case SCHED_NQ: return heapCanAdd(st<LoadHeap>(svc), svc);
    case SCHED_MH: return st<MaglevHashing>(svc).canAdd(svc);
  }
  return S.OK;
}

/** Slots in the lookup table (dh/sh/mh); 0 for schedulers without one. */
export function schedTableSize(svc: Service): i32 {
  if (svc.sched == 0) return 0;
  switch (svc.schedId) {
    case SCHED_DH: return st<DestinationHashing>(svc).tableSize();
    case SCHED_SH: return st<SourceHashing>(svc).tableSize();
    case SCHED_MH: return st<MaglevHashing>(svc).tableSize();
  }
  return 0;
}

/** The dest in table slot i (0 <= i < schedTableSize), null when empty. */
export function schedTableAt(svc: Service, i: i32): Dest | null {
  switch (svc.schedId) {
    case SCHED_DH: return st<DestinationHashing>(svc).tableAt(i);
    case SCHED_SH: return st<SourceHashing>(svc).tableAt(i);
    case SCHED_MH: return st<MaglevHashing>(svc).tableAt(i);
  }
  return null;
}
