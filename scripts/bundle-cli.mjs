// wasmvsadm as one ES module (dist/bundle/wasmvsadm.mjs), built after tsc by
// `npm run build:sdk`: the CLI's ~40 modules and ipaddr.js (CommonJS, which
// Node would scan with its export lexer on every start) load as one file,
// ~50 ms less CPU per invocation. bin/wasmvsadm.js uses it only when it is
// newer than dist/cli/wasmvsadm.js (a tsc run alone falls back to dist/).
// esbuild is a devDependency: without it the step says so and the CLI runs from dist/.
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  console.error('bundle-cli: esbuild not installed; wasmvsadm runs from dist/cli');
  process.exit(0);
}
await esbuild.build({
  entryPoints: [`${root}dist/cli/wasmvsadm.js`],
  outfile: `${root}dist/bundle/wasmvsadm.mjs`,
  bundle: true, platform: 'node', format: 'esm', target: 'node20',
  logLevel: 'warning',
});
