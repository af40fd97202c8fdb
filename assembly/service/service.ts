// A virtual service record in linear memory: key and hot fields first (one
// cache line for a lookup and an O(1) pick), its destination list (index 0 =
// list head, where IPVS links new destinations; a dense array of dest pointers
// so the scans of lc/wlc/fo/... read it sequentially), the scheduler's state
// block (layout owned by the scheduler's file, dispatched by schedId in
// sched/registry.ts) and its statistics. Unmanaged: allocated by newService
// from the one allocator and freed by freeService.
import { Dest } from "./dest";
import { Stats, freeStats } from "../stats/stats";
import { Vec, VEC_INLINE } from "../mem/vec";

/** Bytes of scheduler state kept inside the service record (s0..s5). */
export const SCHED_INLINE_BYTES: usize = 24;
import { alloc, free } from "../mem/alloc";

@unmanaged export class Service {
  // First cache line (records are 128-byte blocks, so 128-byte aligned): what
  // a lookup compares and an O(1) pick reads.
  af: u32 = 4;
  proto: u32 = 6;
  port: u32 = 0;
  fwmark: u32 = 0;
  a0: u32 = 0;
  a1: u32 = 0;
  a2: u32 = 0;
  a3: u32 = 0;
  /** Next service in the same hash bucket. */
  hnext: Service | null = null;
  schedId: u32 = 0;
  flags: u32 = 0;
  /** The scheduler's state block (0 = none bound): `inline` below when it fits; see sched/registry.ts. */
  sched: usize = 0;
  // The dest list, as an embedded Vec<Dest> header (ptr, len, cap, inline storage): see `dests`.
  dptr: usize = 0;
  dlen: i32 = 0;
  dcap: i32 = 0;
  dinl: usize = 0;
  // Second line: the rest of the options, the statistics, and the inline
  // storage of small scheduler states (rr, wrr) and of the first dest pointers.
  id: u32 = 0;
  timeout: u32 = 0;
  netmask: u32 = 0xFFFFFFFF;
  mhPrime: u32 = 0;
  /** Counters and rates of the whole service.; 0 until the first counted event (table/account.ts). */
  stats: Stats = changetype<Stats>(0);
  s0: u32 = 0;
  s1: u32 = 0;
  s2: u32 = 0;
  s3: u32 = 0;
  s4: u32 = 0;
  s5: u32 = 0;
  d0: usize = 0;
  d1: usize = 0;
  d2: usize = 0;
  d3: usize = 0;

  /** Address of the inline scheduler-state area (SCHED_INLINE_BYTES). */
  @inline get inlineState(): usize {
    return changetype<usize>(this) + offsetof<Service>("s0");
  }

  /** IPVS list order: index 0 is the head (newest). A view of the embedded header. */
  @inline get dests(): Vec<Dest> {
    return changetype<Vec<Dest>>(changetype<usize>(this) + offsetof<Service>("dptr"));
  }

  indexOf(d: Dest): i32 {
    const list = this.dests;
    for (let i = 0, n = list.length; i < n; i++) {
      if (unchecked(list[i]) === d) return i;
    }
    return -1;
  }

  findDest(af: u32, a0: u32, a1: u32, a2: u32, a3: u32, port: u32): Dest | null {
    const list = this.dests;
    for (let i = 0, n = list.length; i < n; i++) {
      const d = unchecked(list[i]);
      if (d.sameAddr(af, a0, a1, a2, a3, port)) return d;
    }
    return null;
  }
}

// The record is one 128-byte block, so 128-byte aligned: its first 64 bytes
// (key and hot fields) are one cache line.

/** A zeroed service record with the defaults of a fresh `new Service()`, or null without memory. */
export function newService(): Service | null {
  if (offsetof<Service>() > 128) ERROR("Service outgrew its 128-byte block (key and hot fields would leave one cache line)");
  const p = alloc(offsetof<Service>());
  if (p == 0) return null;
  const s = changetype<Service>(p);
  s.af = 4;
  s.proto = 6;
  s.netmask = 0xFFFFFFFF;
  // The dest list starts in the record's own VEC_INLINE slots.
  s.dinl = p + offsetof<Service>("d0");
  s.dptr = s.dinl;
  s.dcap = VEC_INLINE;
  return s;
}

/** Give back a service record, its dest array and its statistics. */
export function freeService(s: Service): void {
  s.dests.release();
  if (changetype<usize>(s.stats) != 0) freeStats(s.stats);
  free(changetype<usize>(s), offsetof<Service>());
}
