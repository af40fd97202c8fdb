// dh (ip_vs_dh.c): 256 buckets keyed by hash_32 of the packet's destination
// (virtual) address. Bucket i holds the i-th dest cycling through the list in
// list order: one bucket per dest per cycle, weight ignored, weight-0 dests
// included. Rebuilt on add and delete only (IPVS has no edit hook for dh; the
// table does not depend on weights anyway). No fallback: the bucket's dest is
// used unless it is not AVAILABLE, has weight <= 0 or is OVERLOADed.
import { Flow } from "../abi/flow";
import { Dest } from "../service/dest";
import { Service } from "../service/service";
import { Ptrs } from "../mem/vec";
import { hash32, foldAddr } from "../mem/hash";

const DH_TAB_BITS: u32 = 8;
const DH_TAB_SIZE: i32 = 1 << DH_TAB_BITS;

/** The state block: the DH_TAB_SIZE buckets themselves (dest pointers). */
export const DH_STATE_SIZE: usize = <usize>DH_TAB_SIZE << 2;

@unmanaged export class DestinationHashing {
  @inline get buckets(): Ptrs<Dest | null> {
    return changetype<Ptrs<Dest | null>>(this);
  }

  private reassign(svc: Service): void {
    const list = svc.dests;
    const n = list.length;
    const b = this.buckets;
    for (let i = 0, j = 0; i < DH_TAB_SIZE; i++) {
      if (n == 0) {
        unchecked(b[i] = null);
        continue;
      }
      unchecked(b[i] = list[j]);
      if (++j == n) j = 0;
    }
  }

  init(svc: Service): void { this.reassign(svc); }
  added(svc: Service, d: Dest): void { this.reassign(svc); }
  removed(svc: Service, d: Dest, index: i32): void { this.reassign(svc); }
  done(svc: Service): void { this.buckets.clear(DH_TAB_SIZE); }

  pick(svc: Service, f: Flow): Dest | null {
    const key = foldAddr(svc.af, f.v0, f.v1, f.v2, f.v3);
    const d = unchecked(this.buckets[<i32>hash32(key, DH_TAB_BITS)]);
    if (d === null || !d.available || d.weight <= 0 || d.overloaded) return null;
    return d;
  }

  tableSize(): i32 { return DH_TAB_SIZE; }
  tableAt(i: i32): Dest | null { return unchecked(this.buckets[i]); }
}
