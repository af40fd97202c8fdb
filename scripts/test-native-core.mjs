// `npm run test:native-core`: the scheduler, table, statistics, packet, SDK,
// fuzz and ipvsadm suites once more, on the addon's native core
// (WASMVS_CORE=native, test/setup-native-core.ts); then the proxy suites with
// two engine pumps and the main thread deciding every connection
// (WASMVS_NATIVE_CORE=off: with two pumps the default has each pump decide on
// the native core, docs/proxy.md, which test:proxy-workers runs; npm test's main
// run has one pump, which decides on the main thread by default), and the
// gateway suites with the queues read on Node's thread
// (WASMVS_QUEUE_THREADS=off: the default has them on threads of their own on
// that core, docs/gateway.md). Without that core (no addon, or one built without wasm2c) it
// says so and passes, except in CI (CI=true), where a missing prerequisite fails.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SUITES = ['test/sched', 'test/table', 'test/stats', 'test/sdk', 'test/packet', 'test/core', 'test/fuzz', 'test/ipvsadm'];

const { loadNativeCore } = await import(join(root, 'dist', 'native', 'addon.js'));
const probe = loadNativeCore(root);
if (probe.exports === null) {
  if (process.env.CI === 'true') {
    process.stderr.write(`test:native-core: the native core is missing: ${probe.why}\n`);
    process.exit(1);
  }
  process.stderr.write(`\n*** SKIPPING the suites on the native core: ${probe.why} ***\n\n`);
  process.exit(0);
}
const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
const r = spawnSync(process.execPath, [vitest, 'run', ...SUITES], { cwd: root, stdio: 'inherit', env: { ...process.env, WASMVS_CORE: 'native' } });
if (r.status !== 0) process.exit(r.status ?? 1);
const p = spawnSync(process.execPath, [vitest, 'run', 'test/hosts/proxy', 'test/chaos/fd-limit.test.ts'], {
  cwd: root, stdio: 'inherit', env: { ...process.env, WASMVS_NATIVE_CORE: 'off', WASMVS_PROXY_WORKERS: '2' },
});
if (p.status !== 0) process.exit(p.status ?? 1);
// The gateway suites with the queues read and decided on Node's thread (--queue-threads off; the
// main run has them on their own threads, the default).
const g = spawnSync(process.execPath, [vitest, 'run', 'test/hosts/gateway'], {
  cwd: root, stdio: 'inherit', env: { ...process.env, WASMVS_QUEUE_THREADS: 'off' },
});
process.exit(g.status ?? 1);
