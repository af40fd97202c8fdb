// Hash helpers. hash_32 is the kernel's (include/linux/hash.h) multiplicative
// hash: top `bits` bits of v * GOLDEN_RATIO_32. dh, sh and lblc bucket with it.
export const GOLDEN_RATIO_32: u32 = 0x61C88647;

@inline export function hash32(v: u32, bits: u32): u32 {
  return (v * GOLDEN_RATIO_32) >> (32 - bits);
}

/** Fold an address to 32 bits as IPVS does for IPv6 (XOR of the four words). */
@inline export function foldAddr(af: u32, a0: u32, a1: u32, a2: u32, a3: u32): u32 {
  return af == 6 ? a0 ^ a1 ^ a2 ^ a3 : a0;
}

/** A strong 32-bit finaliser (murmur3 fmix32) for our own seeded tables. */
@inline export function fmix32(h: u32): u32 {
  h ^= h >> 16;
  h *= 0x85EBCA6B;
  h ^= h >> 13;
  h *= 0xC2B2AE35;
  h ^= h >> 16;
  return h;
}

/** Mix one more word into a running seeded hash. */
@inline export function mixIn(h: u32, w: u32): u32 {
  return fmix32(h ^ (w * 0x9E3779B1 + 0x7F4A7C15));
}

/** gcd on non-negative integers. */
export function gcd(a: i32, b: i32): i32 {
  while (b != 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/** 1-based index of the highest set bit, 0 for 0 (the kernel's fls). */
@inline export function fls(v: u32): u32 {
  return v == 0 ? 0 : 32 - clz(v);
}
