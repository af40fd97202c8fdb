// rr (ip_vs_rr.c): a cursor into the list; each pick scans from the entry
// after the cursor to the end, then from the head up to and including the
// cursor, and takes the first dest that is not OVERLOADed and has weight > 0.
import { Flow } from "../abi/flow";
import { Dest } from "../service/dest";
import { Service } from "../service/service";

@unmanaged export class RoundRobin {
  /** Index of the cursor in svc.dests; -1 is the list head sentinel. */
  cursor: i32 = -1;

  init(svc: Service): void {
    this.cursor = -1;
  }

  added(svc: Service, d: Dest): void {
    // The new dest went in at index 0: the cursor keeps pointing at the same dest.
    if (this.cursor >= 0) this.cursor++;
  }

  removed(svc: Service, d: Dest, index: i32): void {
    // Deleting the cursor's dest moves the cursor to its predecessor.
    if (this.cursor >= index) this.cursor--;
  }

  pick(svc: Service, f: Flow): Dest | null {
    const list = svc.dests;
    const n = list.length;
    if (n == 0) return null;
    // Visit cursor+1 .. n-1, then 0 .. cursor: n entries when the cursor is on
    // a dest, n entries from the head when it is the head sentinel.
    let i = this.cursor;
    for (let k = 0; k < n; k++) {
      i++;
      if (i >= n) i = 0;
      const d = unchecked(list[i]);
      if (!d.overloaded && d.weight > 0) {
        this.cursor = i;
        return d;
      }
    }
    return null;
  }
}
