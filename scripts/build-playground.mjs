// Builds the playground into playground/dist: a static site (HTML, one JS
// bundle, the release core, CSS). Needs `npm run build` first (for the .wasm).
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'playground/dist');
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(root, 'playground/src/main.ts')],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  outfile: join(out, 'app.js'),
  external: ['node:*'],
  logLevel: 'warning',
});
copyFileSync(join(root, 'build/wasmvs.wasm'), join(out, 'wasmvs.wasm'));
copyFileSync(join(root, 'playground/index.html'), join(out, 'index.html'));
copyFileSync(join(root, 'playground/style.css'), join(out, 'style.css'));
copyFileSync(join(root, 'node_modules/uplot/dist/uPlot.min.css'), join(out, 'uPlot.min.css'));
let raw = 0, gz = 0;
for (const f of ['index.html', 'app.js', 'wasmvs.wasm', 'style.css', 'uPlot.min.css']) {
  raw += statSync(join(out, f)).size;
  gz += gzipSync(readFileSync(join(out, f)), { level: 9 }).length;
}
console.log(`playground built in ${out}: ${(raw / 1024).toFixed(1)} KiB, ${(gz / 1024).toFixed(1)} KiB gzipped over the wire`);
