// Big-endian access to packet bytes in linear memory. The packet path reads
// and writes packets only through these, always after a bounds check made
// against the packet's length by the caller.
@inline export function ld8(p: usize): u32 { return <u32>load<u8>(p); }
@inline export function ld16(p: usize): u32 { return <u32>bswap<u16>(load<u16>(p)); }
@inline export function ld32(p: usize): u32 { return bswap<u32>(load<u32>(p)); }
@inline export function st8(p: usize, v: u32): void { store<u8>(p, <u8>v); }
@inline export function st16(p: usize, v: u32): void { store<u16>(p, bswap<u16>(<u16>v)); }
@inline export function st32(p: usize, v: u32): void { store<u32>(p, bswap<u32>(v)); }
