// Named global counters (ABI: the index is stable; the SDK names them in
// sdk/src/core/counters.ts). Failures bump a counter instead of logging.
export const CNT_SCHEDULED: i32 = 0;
export const CNT_NO_DEST: i32 = 1;
export const CNT_NOT_OURS: i32 = 2;
export const CNT_PORT_MISMATCH: i32 = 3;
export const CNT_NO_SCHEDULER: i32 = 4;
export const CNT_BAD_FLOW: i32 = 5;
export const CNT_MAX: i32 = 32;

const counters = new StaticArray<u64>(CNT_MAX);

@inline export function bump(i: i32): void {
  unchecked((counters[i] += 1));
}

export function counterValue(i: i32): u64 {
  if (i < 0 || i >= CNT_MAX) return 0;
  return counters[i];
}
