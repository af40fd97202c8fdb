// hsiphash as a 64-bit Linux kernel computes it (lib/siphash.c with
// BITS_PER_LONG == 64): SipHash-1-3 on 64-bit words, 32-bit result = the low
// half of v0^v1^v2^v3. mh builds and reads its tables with it, so Maglev
// tables match those of 64-bit kernels (32-bit kernels use HalfSipHash and
// build different tables).
//
// The state lives in module globals so hashing never allocates. A message is
// hashed as: hsipStart(len, key) · hsipAbsorb(block) per full 8-byte
// little-endian block · hsipFinish(tail), where `tail` holds the remaining
// len % 8 bytes little-endian. hsiphash32 is that sequence for a 4-byte input.

let v0: u64 = 0;
let v1: u64 = 0;
let v2: u64 = 0;
let v3: u64 = 0;
let lenBits: u64 = 0;

/** One SipHash round (rotations 13, 32, 16, 21, 17, 32). */
@inline function sipRound(): void {
  v0 += v1; v1 = rotl<u64>(v1, 13); v1 ^= v0; v0 = rotl<u64>(v0, 32);
  v2 += v3; v3 = rotl<u64>(v3, 16); v3 ^= v2;
  v0 += v3; v3 = rotl<u64>(v3, 21); v3 ^= v0;
  v2 += v1; v1 = rotl<u64>(v1, 17); v1 ^= v2; v2 = rotl<u64>(v2, 32);
}

/** Begin a message of `len` bytes under key (k0, k1). */
export function hsipStart(len: u32, k0: u64, k1: u64): void {
  v0 = 0x736f6d6570736575 ^ k0;
  v1 = 0x646f72616e646f6d ^ k1;
  v2 = 0x6c7967656e657261 ^ k0;
  v3 = 0x7465646279746573 ^ k1;
  lenBits = (<u64>len) << 56;
}

/** Absorb one full 8-byte block (little-endian), one compression round. */
export function hsipAbsorb(m: u64): void {
  v3 ^= m;
  sipRound();
  v0 ^= m;
}

/** Absorb the final len % 8 bytes (little-endian in `tail`) and finalise: three rounds. */
export function hsipFinish(tail: u64): u32 {
  const b = lenBits | tail;
  v3 ^= b;
  sipRound();
  v0 ^= b;
  v2 ^= 0xff;
  sipRound();
  sipRound();
  sipRound();
  return <u32>(v0 ^ v1 ^ v2 ^ v3);
}

/**
 * hsiphash(&x, 4, key) on a little-endian 64-bit kernel (= hsiphash_1u32).
 * The same sequence as hsipStart(4) · hsipFinish(x), written out on locals:
 * an mh pick hashes at least once, and module globals cannot live in
 * registers, so the general form costs about twice as much here.
 */
export function hsiphash32(x: u32, k0: u64, k1: u64): u32 {
  let a: u64 = 0x736f6d6570736575 ^ k0;
  let b: u64 = 0x646f72616e646f6d ^ k1;
  let c: u64 = 0x6c7967656e657261 ^ k0;
  let d: u64 = 0x7465646279746573 ^ k1;
  const m: u64 = ((<u64>4) << 56) | <u64>x;
  d ^= m;
  // One compression round, then three finalisation rounds (SipHash-1-3).
  for (let r = 0; r < 4; r++) {
    a += b; b = rotl<u64>(b, 13); b ^= a; a = rotl<u64>(a, 32);
    c += d; d = rotl<u64>(d, 16); d ^= c;
    a += d; d = rotl<u64>(d, 21); d ^= a;
    c += b; b = rotl<u64>(b, 17); b ^= c; c = rotl<u64>(c, 32);
    if (r == 0) {
      a ^= m;
      c ^= 0xff;
    }
  }
  return <u32>(a ^ b ^ c ^ d);
}
