// Preloaded into the gateway daemon under test (NODE_OPTIONS=--import): a hang
// detector, not a benchmark. It samples the event loop's delay and writes the
// largest seen so far, in ms, to $WASMVS_TEST_LOOP_DELAY every 100 ms;
// SIGUSR2 starts a new measurement (after start-up, which may take longer).
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { renameSync, writeFileSync } from 'node:fs';

const out = process.env.WASMVS_TEST_LOOP_DELAY;
if (out) {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  let generation = 0;
  process.on('SIGUSR2', () => { h.reset(); generation++; });
  setInterval(() => {
    // Written aside and renamed: the test reads it at any moment, never half-written.
    writeFileSync(`${out}.tmp`, JSON.stringify({ generation, maxMs: h.max / 1e6, p99Ms: h.percentile(99) / 1e6, samples: h.count }));
    renameSync(`${out}.tmp`, out);
  }, 100).unref();
}
