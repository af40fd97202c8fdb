// Base of the least-load schedulers (lc, wlc, sed, nq): the change hooks keep a
// LoadHeap in step with the dest list, so pick is O(1) and allocation-free
// while making exactly the choice of the IPVS list scan (see loadheap.ts).
import { Scheduler } from "./scheduler";
import { Flow } from "./flow";
import { LoadHeap } from "./loadheap";
import { Dest } from "../table/dest";
import { Service } from "../table/service";

export class HeapScheduler extends Scheduler {
  heap: LoadHeap;

  constructor(order: i32) {
    super();
    this.heap = new LoadHeap(order);
  }

  init(svc: Service): void {
    this.heap.rebuild(svc);
  }

  added(svc: Service, d: Dest): void {
    // Grow here, off the hot path, so updates from loadChanged never allocate.
    this.heap.reserve(svc.dests.length);
    this.heap.update(d);
  }

  removed(svc: Service, d: Dest, index: i32): void {
    this.heap.remove(d);
  }

  edited(svc: Service, d: Dest): void {
    this.heap.update(d);
  }

  loadChanged(svc: Service, d: Dest): void {
    this.heap.update(d);
  }

  done(svc: Service): void {
    this.heap.clear();
  }

  pick(svc: Service, f: Flow): Dest | null {
    return this.heap.top();
  }
}
