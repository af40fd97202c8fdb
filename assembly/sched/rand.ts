// Seeded PRNG (xorshift128+ on two u64 words, seeded through splitmix64), so
// twos makes the same choices for the same seed everywhere.
let s0: u64 = 0x9E3779B97F4A7C15;
let s1: u64 = 0xD1B54A32D192ED03;

function splitmix(x: u64): u64 {
  x += 0x9E3779B97F4A7C15;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EB;
  return x ^ (x >> 31);
}

export function seedRandom(lo: u32, hi: u32): void {
  const seed = (<u64>hi << 32) | <u64>lo;
  s0 = splitmix(seed);
  s1 = splitmix(s0 ^ 0x6A09E667F3BCC909);
  if (s0 == 0 && s1 == 0) s1 = 1;
}

/** Next 32 random bits. */
export function rand32(): u32 {
  let x = s0;
  const y = s1;
  s0 = y;
  x ^= x << 23;
  s1 = x ^ y ^ (x >> 17) ^ (y >> 26);
  return <u32>((s1 + y) >> 32);
}
