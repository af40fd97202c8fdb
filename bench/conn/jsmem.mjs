// Bytes per entry of a JS baseline table, one variant per process (as
// shared/baselines/connmem.mjs does), so measurements do not interfere.
// Run: node --expose-gc bench/conn/jsmem.mjs <map-smi|map-obj|map-smi-cons|typed> <N>
// Prints one JSON line. The key strings are counted: a Map holds them.
import { keyOf } from './keys.mjs';
import { buildTyped } from './jstables.mjs';

const [variant, nArg] = process.argv.slice(2);
const N = Number(nArg);
if (typeof globalThis.gc !== 'function' || !Number.isInteger(N) || N <= 0) {
  console.error('usage: node --expose-gc jsmem.mjs <map-smi|map-obj|map-smi-cons|typed> <N>');
  process.exit(2);
}
const used = () => {
  globalThis.gc();
  globalThis.gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};
const before = used();
let keep;
if (variant === 'map-smi') {
  keep = new Map();
  for (let i = 0; i < N; i++) keep.set(keyOf(i), i % 100);
} else if (variant === 'map-smi-cons') {
  keep = new Map();
  for (let i = 0; i < N; i++) keep.set(keyOf(i, false), i % 100);
} else if (variant === 'map-obj') {
  keep = new Map();
  for (let i = 0; i < N; i++) keep.set(keyOf(i), { dest: i % 100, state: 1, expires: 900, inpkts: 0 });
} else if (variant === 'typed') {
  keep = buildTyped(N);
} else {
  console.error(`unknown variant ${variant}`);
  process.exit(2);
}
const after = used();
console.log(JSON.stringify({ variant, N, bytes: after - before, perEntry: (after - before) / N, size: keep.size }));
