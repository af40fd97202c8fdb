// sh (ip_vs_sh.c): 256 buckets keyed by hash_32(source port + source address).
// Fill (init, add, delete and edit): walk the list cyclically; the current
// dest takes consecutive buckets until it holds max(weight, 1) of them, then
// the next dest, wrapping, until all 256 are filled. Weights 2,1 (list X,Y)
// give X,X,Y,X,X,Y,...
// Lookup: bucket hash_32(port + addr) & 255 (port 0 unless sh-port); its dest
// is used unless weight <= 0 or OVERLOADed (AVAILABLE is not checked: deleted
// dests leave the table). sh-fallback probes buckets
// ((k + ihash) % 256 + ihash) & 255 for k = 0..255, i.e. linearly from
// 2*ihash; an empty bucket ends the search.
import { Flow } from "../abi/flow";
import { Dest } from "../service/dest";
import { Service } from "../service/service";
import { Ptrs } from "../mem/vec";
import { hash32, foldAddr } from "../mem/hash";
import { SVC_F_SCHED1, SVC_F_SCHED2, PROTO_TCP, PROTO_UDP, PROTO_SCTP } from "../abi/layout";

const SH_TAB_BITS: u32 = 8;
const SH_TAB_SIZE: i32 = 1 << SH_TAB_BITS;
const SH_TAB_MASK: u32 = <u32>SH_TAB_SIZE - 1;

/** Source port used for hashing: only with the port flag and for TCP/UDP/SCTP. */
export function hashPort(svc: Service, f: Flow): u32 {
  if ((svc.flags & SVC_F_SCHED2) == 0) return 0;
  const p = f.proto;
  return p == PROTO_TCP || p == PROTO_UDP || p == PROTO_SCTP ? f.cport : 0;
}

@inline function unusable(d: Dest): bool {
  return d.weight <= 0 || d.overloaded;
}

/** The state block: the SH_TAB_SIZE buckets themselves (dest pointers). */
export const SH_STATE_SIZE: usize = <usize>SH_TAB_SIZE << 2;

@unmanaged export class SourceHashing {
  @inline get buckets(): Ptrs<Dest | null> {
    return changetype<Ptrs<Dest | null>>(this);
  }

  private reassign(svc: Service): void {
    const list = svc.dests;
    const n = list.length;
    const b = this.buckets;
    let j = 0;
    let count = 0;
    for (let i = 0; i < SH_TAB_SIZE; i++) {
      if (n == 0) {
        unchecked(b[i] = null);
        continue;
      }
      const d = unchecked(list[j]);
      unchecked(b[i] = d);
      // "count >= weight" also moves on after one bucket for weight 0.
      if (++count >= d.weight) {
        count = 0;
        if (++j == n) j = 0;
      }
    }
  }

  init(svc: Service): void { this.reassign(svc); }
  added(svc: Service, d: Dest): void { this.reassign(svc); }
  removed(svc: Service, d: Dest, index: i32): void { this.reassign(svc); }
  edited(svc: Service, d: Dest): void { this.reassign(svc); }
  done(svc: Service): void { this.buckets.clear(SH_TAB_SIZE); }

  pick(svc: Service, f: Flow): Dest | null {
    const v = hashPort(svc, f) + foldAddr(svc.af, f.c0, f.c1, f.c2, f.c3);
    const ihash = hash32(v, SH_TAB_BITS) & SH_TAB_MASK;
    const b = this.buckets;
    const d = unchecked(b[<i32>ihash]);
    if (d === null) return null;
    if (!unusable(d)) return d;
    if ((svc.flags & SVC_F_SCHED1) == 0) return null;
    for (let k: u32 = 0; k < <u32>SH_TAB_SIZE; k++) {
      const roffset = (k + ihash) & SH_TAB_MASK;
      const e = unchecked(b[<i32>((roffset + ihash) & SH_TAB_MASK)]);
      if (e === null) return null;
      if (!unusable(e)) return e;
    }
    return null;
  }

  tableSize(): i32 { return SH_TAB_SIZE; }
  tableAt(i: i32): Dest | null { return unchecked(this.buckets[i]); }
}
