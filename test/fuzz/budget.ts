// Run counts and seeds of the fuzz suites. In `npm test` each suite runs a
// fixed number of cases from a fixed seed (the same cases every time, a few
// seconds each). For a release check raise the count and pick new seeds:
//
//   WASMVS_FUZZ_RUNS=200000 WASMVS_FUZZ_SEED=$RANDOM npx vitest run test/fuzz/
//
// WASMVS_FUZZ_RUNS is the run count of every property; WASMVS_FUZZ_SEED is
// added to each suite's seed. A failure prints its seed and path, so it can be
// replayed (fast-check's `seed` and `path`).
import type { Parameters } from 'fast-check';

const envInt = (name: string): number | null => {
  const v = process.env[name];
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : null;
};

/** Release runs get this long per property; `npm test` stops far earlier by count. */
const LONG_RUN_MS = 30 * 60_000;

/** fast-check parameters: `runs` cases from `seed` by default, bounded in time either way. */
export function budget<T>(seed: number, runs: number, maxMs = 8000): Parameters<T> {
  const long = envInt('WASMVS_FUZZ_RUNS');
  const offset = envInt('WASMVS_FUZZ_SEED') ?? 0;
  return {
    seed: seed + offset,
    numRuns: long ?? runs,
    // A hang is a failure: every run is bounded; the whole property too.
    interruptAfterTimeLimit: long === null ? maxMs : LONG_RUN_MS,
    markInterruptAsFailure: false,
    endOnFailure: true,
  };
}

/** Test timeout for a property given its budget (vitest's own bound). */
export function testTimeout(maxMs = 8000): number {
  return envInt('WASMVS_FUZZ_RUNS') === null ? maxMs + 20_000 : LONG_RUN_MS + 60_000;
}
