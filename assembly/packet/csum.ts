// Internet checksum (RFC 1071) and its incremental update (RFC 1624, eqn 3:
// HC' = ~(~HC + ~m + m')), which stays correct whatever the other bytes are
// and never needs the payload. All values are 16-bit ones-complement words.
import { ld16 } from "./bytes";

/** Folds a 32-bit accumulator of 16-bit words into 16 bits (end-around carry). */
@inline export function fold(sum: u32): u32 {
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** Unfolded sum of `len` bytes at p (odd tail padded with a zero byte). */
export function sumBytes(p: usize, len: u32, acc: u32): u32 {
  let i: u32 = 0;
  // Fold every 32K words so the u32 accumulator cannot overflow.
  while (i + 1 < len) {
    acc += ld16(p + i);
    i += 2;
    if ((i & 0xffff) == 0) acc = fold(acc);
  }
  if (i < len) acc += <u32>load<u8>(p + i) << 8;
  return fold(acc);
}

/** The checksum field value for `len` bytes at p (field itself zeroed first). */
@inline export function checksum(p: usize, len: u32): u32 {
  return ~sumBytes(p, len, 0) & 0xffff;
}

/** RFC 1624 eqn 3 for one 16-bit word changing from `old` to `now`. */
@inline export function update16(check: u32, old: u32, now: u32): u32 {
  return ~fold((~check & 0xffff) + (~old & 0xffff) + (now & 0xffff)) & 0xffff;
}

/** The same for a 32-bit value (two words). */
@inline export function update32(check: u32, old: u32, now: u32): u32 {
  return update16(update16(check, old >>> 16, now >>> 16), old & 0xffff, now & 0xffff);
}

/**
 * A CHECKSUM_PARTIAL field holds the folded pseudo-header sum itself (not its
 * complement); the hardware finishes it. Changing a pseudo-header word there
 * is a plain ones-complement add of the difference.
 */
@inline export function partial16(sum: u32, old: u32, now: u32): u32 {
  return fold((sum & 0xffff) + (~old & 0xffff) + (now & 0xffff));
}

@inline export function partial32(sum: u32, old: u32, now: u32): u32 {
  return partial16(partial16(sum, old >>> 16, now >>> 16), old & 0xffff, now & 0xffff);
}
