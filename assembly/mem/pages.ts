// Page-granular blocks, the bottom of the core's one allocator: the
// connection table's big arrays (record chunks, bucket arrays, the IPv6 side
// table) come from here directly, and alloc.ts carves its size classes
// out of single pages. Memory grows by exactly the pages asked for (an
// allocator that doubled the whole memory on growth held up to twice the
// table), within the budget set by OPT_MEM_LIMIT_PAGES.
//
// Freed blocks (superseded bucket arrays and side tables, large arrays) go on
// a free list of page runs, sorted by address and coalesced, which later
// requests take first fit. Wasm memory never shrinks.
import { Nums } from "./nums";
const MAX_RUNS: i32 = 64;
/** First page of each free run, ascending. */
const runStart = changetype<Nums<u32>>(memory.data(64 * 4, 4)); // MAX_RUNS entries
const runLen = changetype<Nums<u32>>(memory.data(64 * 4, 4));
let nruns: i32 = 0;
/** Pages on the free list. */
let spare: u32 = 0;
/** Most pages wasm memory may grow to (OPT_MEM_LIMIT_PAGES); 0 = no budget of our own. */
let budget: u32 = 0;

/** Set the memory budget in pages (0: none). A budget below the current size stops further growth. */
export function setPageBudget(pages: u32): void { budget = pages; }
export function pageBudget(): u32 { return budget; }

/** Pages in use: memory size less the free runs kept for reuse. */
export function pagesInUse(): u32 { return <u32>memory.size() - spare; }

/** Grow wasm memory by n pages within the budget; the old size in pages, or -1. */
function grow(n: u32): i32 {
  if (budget != 0 && <u64>memory.size() + <u64>n > <u64>budget) return -1;
  return memory.grow(<i32>n);
}

/** Pages that hold `bytes`. */
@inline export function pagesFor(bytes: usize): u32 {
  return <u32>((bytes + 0xFFFF) >> 16);
}

/** Bytes of freed blocks kept for reuse. */
export function spareBytes(): usize { return <usize>spare << 16; }

function removeRun(k: i32): void {
  for (let j = k + 1; j < nruns; j++) {
    unchecked((runStart[j - 1] = runStart[j]));
    unchecked((runLen[j - 1] = runLen[j]));
  }
  nruns--;
}

/** A block of n pages (contents undefined), or 0 when memory cannot grow. */
export function allocPages(n: u32): usize {
  for (let k = 0; k < nruns; k++) {
    const len = unchecked(runLen[k]);
    if (len < n) continue;
    const start = unchecked(runStart[k]);
    if (len == n) removeRun(k);
    else {
      unchecked((runStart[k] = start + n));
      unchecked((runLen[k] = len - n));
    }
    spare -= n;
    return <usize>start << 16;
  }
  // A free run at the very end of memory is extended rather than left behind.
  if (nruns > 0) {
    const k = nruns - 1;
    const start = unchecked(runStart[k]);
    const len = unchecked(runLen[k]);
    if (start + len == <u32>memory.size()) {
      if (grow(n - len) < 0) return 0;
      removeRun(k);
      spare -= len;
      return <usize>start << 16;
    }
  }
  const before = grow(n);
  if (before < 0) return 0;
  return <usize>before << 16;
}

/** Give back a block from allocPages. With the run list full (not expected:
 * the index frees at most one array per doubling) the pages are dropped. */
export function freePages(p: usize, n: u32): void {
  const start = <u32>(p >> 16);
  let k = 0;
  while (k < nruns && unchecked(runStart[k]) < start) k++;
  const joinsLeft = k > 0 && unchecked(runStart[k - 1]) + unchecked(runLen[k - 1]) == start;
  const joinsRight = k < nruns && start + n == unchecked(runStart[k]);
  if (joinsLeft) {
    let len = unchecked(runLen[k - 1]) + n;
    if (joinsRight) {
      len += unchecked(runLen[k]);
      removeRun(k);
    }
    unchecked((runLen[k - 1] = len));
  } else if (joinsRight) {
    unchecked((runStart[k] = start));
    unchecked((runLen[k] = unchecked(runLen[k]) + n));
  } else {
    if (nruns == MAX_RUNS) return;
    for (let j = nruns; j > k; j--) {
      unchecked((runStart[j] = runStart[j - 1]));
      unchecked((runLen[j] = runLen[j - 1]));
    }
    unchecked((runStart[k] = start));
    unchecked((runLen[k] = n));
    nruns++;
  }
  spare += n;
}
