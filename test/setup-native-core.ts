// WASMVS_CORE=native: every Director a test creates without naming its core
// gets a native core instance from the addon (native/src/core_native.cc)
// instead of the WebAssembly build, so the same suites check that the wasm2c
// translation behaves as the core does. Loaded by vitest.config.ts only then.
import { Director } from '../sdk/director.js';
import { loadNativeCore } from '../native/addon.js';
import type { CoreExports } from '../sdk/core/exports.js';

const create = Director.create.bind(Director);
Director.create = async (opts = {}) => {
  // A test's own core (bytes, a path) stays; `flavor` (the helpers ask for 'debug') gives way.
  if (opts.exports !== undefined || opts.wasm !== undefined) return create(opts);
  const n = loadNativeCore();
  if (n.exports === null) throw new Error(`WASMVS_CORE=native: ${n.why}`);
  return create({ ...opts, flavor: undefined, exports: n.exports as unknown as CoreExports });
};
