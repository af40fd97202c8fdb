// The hooks of the least-load schedulers (lc, wlc, sed, nq): their state block
// is a LoadHeap (loadheap.ts) whose `kind` selects the order. The hooks keep
// the heap in step with the dest list, so pick is O(1) and allocation-free
// while making exactly the choice of the IPVS list scan.
import * as S from "../abi/status";
import { LoadHeap, FLAT_MAX } from "./loadheap";
import { Dest } from "../service/dest";
import { Service } from "../service/service";

export function heapInit(h: LoadHeap, svc: Service): bool {
  return h.rebuild(svc);
}

/** Room in the heap for one more dest, taken before it is linked. */
export function heapCanAdd(h: LoadHeap, svc: Service): i32 {
  if (!h.reserve(svc.dests.length + 1)) return S.E_NOMEM;
  // Flat mode holds FLAT_MAX dests at most: past that, the tree (room is reserved).
  if (h.flat != 0 && h.cap > FLAT_MAX) h.toTree(svc);
  return S.OK;
}

@inline export function heapUpdate(h: LoadHeap, d: Dest): void {
  h.update(d);
}

@inline export function heapRemoved(h: LoadHeap, d: Dest): void {
  h.remove(d);
}

export function heapDone(h: LoadHeap): void {
  h.clear();
}

@inline export function heapPick(h: LoadHeap): Dest | null {
  return h.top();
}
