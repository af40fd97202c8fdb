// mh (ip_vs_mh.c): Maglev hashing over a prime-sized table (M = Service.mhPrime,
// 0 = 4093), hashed with the 64-bit kernel's hsiphash and two fixed keys.
//
// Build (init, add, delete, edit), from each dest's last non-zero weight lw:
//   gcd    = gcd of the positive lw (0 → table cleared, every lookup fails)
//   rshift = max(0, fls(max lw / gcd) − MH_TAB_BITS)
//   offset = h(key1, daddr, dport) % M, skip = h(key2, daddr, dport) % (M−1) + 1
//   turns  = (lw / gcd) >> rshift, or 1 when that is 0 and lw != 0
// then passes over the list in list order until all M slots are taken: each
// dest with turns >= 1 claims `turns` slots in a row, each the next free slot
// of its permutation offset, offset+skip, ... (mod M).
// Lookup: slot h(key1, saddr, sport or 0) % M, unless its dest has weight <= 0
// or is OVERLOADed. mh-fallback re-hashes with offsets (k + idx) % M,
// k = 0..M−1; an empty slot ends the search.
import { Scheduler } from "./scheduler";
import { Flow } from "./flow";
import { Dest } from "../table/dest";
import { Service } from "../table/service";
import { foldAddr, gcd, fls } from "../table/hash";
import { hsiphash32 } from "./hsiphash";
import { hashPort } from "./sh";
import { MH_DEFAULT_PRIME } from "./mh_primes";
import { SVC_F_SCHED1 } from "../abi/layout";

// generate_hash_secret(): fixed, not random, so tables are the same everywhere.
const KEY1: u64 = 2654435761;
const KEY2: u64 = 2654446892;

/** primes[CONFIG_IP_VS_MH_TAB_INDEX - 8] */
const MH_PRIMES: StaticArray<i32> = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071];

/** Table size M for a service's mhPrime (0 = the kernel default 4093). */
export function mhTableSize(prime: u32): i32 {
  return <i32>(prime == 0 ? MH_DEFAULT_PRIME : prime);
}

/**
 * IP_VS_MH_TAB_BITS = CONFIG_IP_VS_MH_TAB_INDEX / 2 for the config index that
 * selects this prime (251 is index 8, ..., 131071 is index 17): 6 for 4093.
 */
export function mhTabBits(m: i32): i32 {
  for (let i = 0; i < MH_PRIMES.length; i++) {
    if (unchecked(MH_PRIMES[i]) == m) return (i + 8) >> 1;
  }
  return 6;
}

/** ip_vs_mh_hashkey: hsiphash of the u32 offset + port + folded address. */
@inline function mhHash(key: u64, addr: u32, port: u32, offset: u32): u32 {
  return hsiphash32(offset + port + addr, key, key);
}

@inline function unusable(d: Dest): bool {
  return d.weight <= 0 || d.overloaded;
}

export class MaglevHashing extends Scheduler {
  m: i32 = 0;
  bits: i32 = 6;
  slots: StaticArray<Dest | null> = new StaticArray<Dest | null>(0);
  // Per-dest build state, indexed by list position; grown by doubling.
  skip: StaticArray<u32> = new StaticArray<u32>(8);
  perm: StaticArray<u32> = new StaticArray<u32>(8);
  turns: StaticArray<i32> = new StaticArray<i32>(8);

  init(svc: Service): void {
    const m = mhTableSize(svc.mhPrime);
    if (m != this.m) {
      this.m = m;
      this.bits = mhTabBits(m);
      this.slots = new StaticArray<Dest | null>(m);
    }
    this.rebuild(svc);
  }
  added(svc: Service, d: Dest): void { this.rebuild(svc); }
  removed(svc: Service, d: Dest, index: i32): void { this.rebuild(svc); }
  edited(svc: Service, d: Dest): void { this.rebuild(svc); }
  done(svc: Service): void { this.slots.fill(null); }

  /** More dests than slots cannot fill a Maglev table (IPVS: EINVAL). */
  canAdd(svc: Service): bool {
    return svc.dests.length < mhTableSize(svc.mhPrime);
  }

  private ensureCapacity(n: i32): void {
    if (n <= this.skip.length) return;
    let c = this.skip.length;
    while (c < n) c <<= 1;
    this.skip = new StaticArray<u32>(c);
    this.perm = new StaticArray<u32>(c);
    this.turns = new StaticArray<i32>(c);
  }

  private rebuild(svc: Service): void {
    const list = svc.dests;
    const n = list.length;
    // As ip_vs_mh_reassign: the table stays as it was.
    if (n > this.m) return;
    let g = 0;
    let maxw = 0;
    for (let i = 0; i < n; i++) {
      const lw = unchecked(list[i]).lastWeight;
      if (lw > 0) g = g > 0 ? gcd(lw, g) : lw;
      if (lw > maxw) maxw = lw;
    }
    this.slots.fill(null);
    if (g < 1) return;
    const sh = <i32>fls(<u32>(maxw / g)) - this.bits;
    this.permutate(svc, g, sh > 0 ? sh : 0);
    this.populate(list);
  }

  private permutate(svc: Service, g: i32, rshift: i32): void {
    const list = svc.dests;
    const n = list.length;
    const m = <u32>this.m;
    this.ensureCapacity(n);
    for (let i = 0; i < n; i++) {
      const d = unchecked(list[i]);
      const a = foldAddr(svc.af, d.a0, d.a1, d.a2, d.a3);
      unchecked(this.perm[i] = mhHash(KEY1, a, d.port, 0) % m);
      unchecked(this.skip[i] = mhHash(KEY2, a, d.port, 0) % (m - 1) + 1);
      const lw = d.lastWeight;
      const t = (lw / g) >> rshift;
      unchecked(this.turns[i] = t != 0 ? t : (lw != 0 ? 1 : 0));
    }
  }

  /** Claim all M slots; null marks a free slot (the table was cleared). */
  private populate(list: Array<Dest>): void {
    const n = list.length;
    const m = <u32>this.m;
    const slots = this.slots;
    let filled: u32 = 0;
    for (;;) {
      for (let i = 0; i < n; i++) {
        const t = unchecked(this.turns[i]);
        const d = unchecked(list[i]);
        for (let k = 0; k < t; k++) {
          // M is prime and 1 <= skip < M, so the walk reaches every slot.
          let c = unchecked(this.perm[i]);
          while (unchecked(slots[<i32>c]) !== null) {
            c += unchecked(this.skip[i]);
            if (c >= m) c -= m;
          }
          unchecked(this.perm[i] = c);
          unchecked(slots[<i32>c] = d);
          if (++filled == m) return;
        }
      }
    }
  }

  pick(svc: Service, f: Flow): Dest | null {
    const m = <u32>this.m;
    const port = hashPort(svc, f);
    const a = foldAddr(svc.af, f.c0, f.c1, f.c2, f.c3);
    const idx = mhHash(KEY1, a, port, 0) % m;
    const d = unchecked(this.slots[<i32>idx]);
    if (d === null) return null;
    if (!unusable(d)) return d;
    if ((svc.flags & SVC_F_SCHED1) == 0) return null;
    for (let k: u32 = 0; k < m; k++) {
      const roffset = (k + idx) % m;
      const e = unchecked(this.slots[<i32>(mhHash(KEY1, a, port, roffset) % m)]);
      if (e === null) return null;
      if (!unusable(e)) return e;
    }
    return null;
  }

  tableSize(): i32 { return this.m; }
  tableAt(i: i32): Dest | null { return this.slots[i]; }
}
