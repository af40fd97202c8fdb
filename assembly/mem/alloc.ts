// The core's one allocator. Every record and array that outlives a call —
// services, destinations, scheduler state, statistics, hashing tables, caches
// and the connection table's chunks — comes from pages of pages.ts:
//
//   small blocks  16-byte size classes up to 512 B, then powers of two up to
//                 32 KiB; one free list per class threaded through the first
//                 word of each free block, refilled by carving one 64 KiB page;
//   large blocks  whole page runs (pages.ts' first-fit, coalescing list).
//
// Blocks come back zeroed. A freed block returns to its class and is reused
// by the next allocation of that class, so add/delete churn at a steady size
// keeps memory flat. Memory never shrinks (wasm cannot), and pages carved for
// a class stay with that class. Nothing here is managed: the release core runs
// on the stub runtime, which allocates only while the module starts.
import { allocPages, freePages, pagesFor } from "./pages";

const CLASSES: i32 = 38;
const SMALL_LIMIT: usize = 512;
const MEDIUM_LIMIT: usize = 32768;
const PAGE: usize = 65536;

/** Free-list head per class (0 = empty). */
const heads = memory.data(CLASSES * 4, 4);
/** Bytes handed out and not freed (block sizes), for memory figures and tests. */
let inUse: usize = 0;

/** Class of a request of `size` bytes (1 ≤ size ≤ MEDIUM_LIMIT). */
@inline function classOf(size: usize): i32 {
  if (size <= SMALL_LIMIT) return <i32>((size + 15) >> 4) - 1;
  // 513..1024 → 32, ..., 16385..32768 → 37
  return 32 + <i32>(32 - clz<u32>(<u32>size - 1)) - 10;
}

@inline function blockSize(c: i32): usize {
  return c < 32 ? <usize>(c + 1) << 4 : <usize>1 << <usize>(c - 32 + 10);
}

/** Carve one page into blocks of class c; false when memory cannot grow. */
function refill(c: i32): bool {
  const page = allocPages(1);
  if (page == 0) return false;
  const size = blockSize(c);
  let head = load<usize>(heads + (<usize>c << 2));
  // Highest block first, so the list hands out ascending addresses.
  for (let off = PAGE - (PAGE % size) - size; ; off -= size) {
    store<usize>(page + off, head);
    head = page + off;
    if (off == 0) break;
  }
  store<usize>(heads + (<usize>c << 2), head);
  return true;
}

/** `size` zeroed bytes (16-byte aligned), or 0 when memory cannot grow. */
export function alloc(size: usize): usize {
  if (size == 0) size = 1;
  if (size > MEDIUM_LIMIT) {
    const p = allocPages(pagesFor(size));
    if (p == 0) return 0;
    memory.fill(p, 0, size);
    inUse += <usize>pagesFor(size) << 16;
    return p;
  }
  const c = classOf(size);
  const slot = heads + (<usize>c << 2);
  let p = load<usize>(slot);
  if (p == 0) {
    if (!refill(c)) return 0;
    p = load<usize>(slot);
  }
  store<usize>(slot, load<usize>(p));
  memory.fill(p, 0, blockSize(c));
  inUse += blockSize(c);
  return p;
}

/** Return a block from alloc; `size` must be the size it was allocated with. */
export function free(p: usize, size: usize): void {
  if (p == 0) return;
  if (size == 0) size = 1;
  if (size > MEDIUM_LIMIT) {
    freePages(p, pagesFor(size));
    inUse -= <usize>pagesFor(size) << 16;
    return;
  }
  const c = classOf(size);
  const slot = heads + (<usize>c << 2);
  store<usize>(p, load<usize>(slot));
  store<usize>(slot, p);
  inUse -= blockSize(c);
}

/** Bytes currently allocated (rounded to blocks and pages). */
export function allocatedBytes(): usize {
  return inUse;
}
