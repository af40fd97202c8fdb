// The one module (with the record readers next to it) that touches raw memory
// for the I/O regions. Everything else asks these helpers.

import { IO_TOTAL } from "./layout";

let base: usize = 0;
/** I/O blocks by area (0: init's; others made by ioSelect on first use); IO_AREAS entries, 0 = not yet made. */
let areas: usize = 0;
let area: i32 = 0;

/** Set the I/O block's address once (index.ts init allocates IO_TOTAL bytes for it). */
export function ioInit(block: usize): void {
  base = block;
}

/** The area in use (ioSelect). */
export function ioArea(): i32 {
  return area;
}

/**
 * Every region from here on is area k's (0 <= k < IO_AREAS): a thread of a host that calls the core
 * (under the host's lock) has an I/O block of its own, so its records never meet the ones the host's
 * main thread wrote and has yet to hand over. Area k's block (IO_TOTAL bytes, zeroed) is made on its
 * first use by `alloc` (the caller's allocator: this layer imports none). False when it could not be
 * made (area unchanged).
 */
export function ioSelect(k: i32, alloc: (size: usize) => usize): bool {
  if (areas == 0) {
    areas = alloc(<usize>IO_AREAS << alignof<usize>());
    if (areas == 0) return false;
    store<usize>(areas, base);
  }
  const at = areas + (<usize>k << alignof<usize>());
  let b = load<usize>(at);
  if (b == 0) {
    b = alloc(<usize>IO_TOTAL);
    if (b == 0) return false;
    store<usize>(at, b);
  }
  base = b;
  area = k;
  return true;
}

/** Areas a host may use (0 and one per thread). */
export const IO_AREAS: i32 = 257;

@inline export function ioBase(): usize {
  return base;
}

@inline export function rd8(p: usize): u32 { return <u32>load<u8>(p); }
@inline export function rd16(p: usize): u32 { return <u32>load<u16>(p); }
@inline export function rd32(p: usize): u32 { return load<u32>(p); }
@inline export function wr8(p: usize, v: u32): void { store<u8>(p, <u8>v); }
@inline export function wr16(p: usize, v: u32): void { store<u16>(p, <u16>v); }
@inline export function wr32(p: usize, v: u32): void { store<u32>(p, v); }
