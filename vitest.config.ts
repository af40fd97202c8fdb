import { defineConfig } from 'vitest/config';

// WASMVS_CORE=native runs the suites on the addon's native core (test/setup-native-core.ts); default the debug wasm.
const core = process.env.WASMVS_CORE === 'native' ? 'native' : 'debug';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    env: { WASMVS_CORE: core },
    setupFiles: core === 'native' ? ['test/setup-native-core.ts'] : [],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
