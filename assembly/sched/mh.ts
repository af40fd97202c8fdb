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
import { Flow } from "../abi/flow";
import { Dest } from "../service/dest";
import { Service } from "../service/service";
import { Vec, Ptrs, Nums, allocArray, freeArray } from "../mem/vec";
import { foldAddr, gcd, fls } from "../mem/hash";
import { hsiphash32 } from "./hsiphash";
import { hashPort } from "./sh";
import { MH_DEFAULT_PRIME } from "./mh_primes";
import { SVC_F_SCHED1 } from "../abi/layout";
import * as S from "../abi/status";

// generate_hash_secret(): fixed, not random, so tables are the same everywhere.
const KEY1: u64 = 2654435761;
const KEY2: u64 = 2654446892;

/** primes[CONFIG_IP_VS_MH_TAB_INDEX - 8] */
const MH_PRIMES = memory.data<i32>([251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071]);
const MH_PRIME_COUNT: i32 = 10;

/** Table size M for a service's mhPrime (0 = the kernel default 4093). */
export function mhTableSize(prime: u32): i32 {
  return <i32>(prime == 0 ? MH_DEFAULT_PRIME : prime);
}

/**
 * IP_VS_MH_TAB_BITS = CONFIG_IP_VS_MH_TAB_INDEX / 2 for the config index that
 * selects this prime (251 is index 8, ..., 131071 is index 17): 6 for 4093.
 */
export function mhTabBits(m: i32): i32 {
  for (let i = 0; i < MH_PRIME_COUNT; i++) {
    if (load<i32>(MH_PRIMES + (<usize>i << 2)) == m) return (i + 8) >> 1;
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

@unmanaged export class MaglevHashing {
  m: i32 = 0;
  bits: i32 = 6;
  /** The M slots (dest pointers); allocated by init. */
  slots: Ptrs<Dest | null> = changetype<Ptrs<Dest | null>>(0);
  // Per-dest build state, indexed by list position; `cap` entries each, grown by doubling.
  skip: Nums<u32> = changetype<Nums<u32>>(0);
  perm: Nums<u32> = changetype<Nums<u32>>(0);
  turns: Nums<i32> = changetype<Nums<i32>>(0);
  cap: i32 = 0;

  /** False when memory for the table cannot be had (the old table stays). */
  init(svc: Service): bool {
    const m = mhTableSize(svc.mhPrime);
    if (m != this.m) {
      const slots = allocArray<Ptrs<Dest | null>>(m, 4);
      if (changetype<usize>(slots) == 0) return false;
      if (this.m != 0) freeArray(this.slots, this.m, 4);
      this.m = m;
      this.bits = mhTabBits(m);
      this.slots = slots;
    }
    if (!this.ensureCapacity(svc.dests.length)) return false;
    this.rebuild(svc);
    return true;
  }

  /** Give back the table and the build arrays (scheduler unbound). */
  dispose(): void {
    if (this.m != 0) freeArray(this.slots, this.m, 4);
    this.freeBuild();
    this.m = 0;
  }

  private freeBuild(): void {
    if (this.cap == 0) return;
    freeArray(this.skip, this.cap, 4);
    freeArray(this.perm, this.cap, 4);
    freeArray(this.turns, this.cap, 4);
    this.cap = 0;
  }
  added(svc: Service, d: Dest): void { this.rebuild(svc); }
  removed(svc: Service, d: Dest, index: i32): void { this.rebuild(svc); }
  edited(svc: Service, d: Dest): void { this.rebuild(svc); }
  done(svc: Service): void { this.slots.clear(this.m); }

  /** More dests than slots cannot fill a Maglev table (IPVS: EINVAL); room for the
   * build arrays is taken here, before the dest is linked (E_NOMEM). */
  canAdd(svc: Service): i32 {
    const n = svc.dests.length;
    if (n >= mhTableSize(svc.mhPrime)) return S.E_INVAL;
    return this.ensureCapacity(n + 1) ? S.OK : S.E_NOMEM;
  }

  private ensureCapacity(n: i32): bool {
    if (n <= this.cap) return true;
    let c = this.cap < 8 ? 8 : this.cap;
    while (c < n) c <<= 1;
    const skip = allocArray<Nums<u32>>(c, 4);
    const perm = allocArray<Nums<u32>>(c, 4);
    const turns = allocArray<Nums<i32>>(c, 4);
    if (changetype<usize>(skip) == 0 || changetype<usize>(perm) == 0 || changetype<usize>(turns) == 0) {
      freeArray(skip, c, 4);
      freeArray(perm, c, 4);
      freeArray(turns, c, 4);
      return false;
    }
    this.freeBuild();
    this.skip = skip;
    this.perm = perm;
    this.turns = turns;
    this.cap = c;
    return true;
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
    this.slots.clear(this.m);
    if (g < 1) return;
    const sh = <i32>fls(<u32>(maxw / g)) - this.bits;
    this.permutate(svc, g, sh > 0 ? sh : 0);
    this.populate(list);
  }

  private permutate(svc: Service, g: i32, rshift: i32): void {
    const list = svc.dests;
    const n = list.length;
    const m = <u32>this.m;
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
  private populate(list: Vec<Dest>): void {
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
  tableAt(i: i32): Dest | null { return unchecked(this.slots[i]); }
}
