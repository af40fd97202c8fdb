// The one module (with the record readers next to it) that touches raw memory
// for the I/O regions. Everything else asks these helpers.

let base: usize = 0;

/** Set the I/O block's address once (index.ts init allocates IO_TOTAL bytes for it). */
export function ioInit(block: usize): void {
  base = block;
}

@inline export function ioBase(): usize {
  return base;
}

@inline export function rd8(p: usize): u32 { return <u32>load<u8>(p); }
@inline export function rd16(p: usize): u32 { return <u32>load<u16>(p); }
@inline export function rd32(p: usize): u32 { return load<u32>(p); }
@inline export function wr8(p: usize, v: u32): void { store<u8>(p, <u8>v); }
@inline export function wr16(p: usize, v: u32): void { store<u16>(p, <u16>v); }
@inline export function wr32(p: usize, v: u32): void { store<u32>(p, v); }
