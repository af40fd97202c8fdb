// `prepare` hook: npm runs it on `npm install`/`npm ci` in a clone, for git
// dependencies, and on every `npx wasmvsadm` inside the repository (npm installs
// the local package into its npx cache to link the bins, which runs `prepare`).
// So it builds only when the build outputs are missing, or older than their
// sources outside `npm exec`; under npx a stale build is reported, never rebuilt.
// Publishing builds unconditionally in `prepack`.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outputs = ['build/wasmvs.wasm', 'build/wasmvs.debug.wasm', 'build/wasmvs.test.wasm', 'dist/sdk/index.js', 'dist/cli/wasmvsd.js'];
const sources = ['assembly', 'sdk', 'ipvsadm', 'daemon', 'hosts', 'cli', 'native', 'demo', 'scripts/gen-abi.mjs', 'asconfig.json', 'tsconfig.json'];

function mtime(rel) {
  try { return statSync(join(root, rel)).mtimeMs; } catch { return null; }
}

/** The newest modification time of a file or of any file under a folder. */
function newest(rel) {
  const st = statSync(join(root, rel), { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.mtimeMs;
  let max = 0;
  for (const e of readdirSync(join(root, rel), { withFileTypes: true, recursive: true })) {
    if (e.isFile()) max = Math.max(max, statSync(join(e.parentPath ?? e.path, e.name)).mtimeMs);
  }
  return max;
}

const times = outputs.map(mtime);
const missing = outputs.filter((_, i) => times[i] === null);
const stale = missing.length === 0 && Math.max(...sources.map(newest)) > Math.min(...times);
const underExec = process.env.npm_command === 'exec';

if (missing.length === 0 && !stale) process.exit(0);
if (stale && underExec) {
  process.stderr.write('wasmvs: the build is older than its sources; run `npm run build` to refresh it (npx does not rebuild)\n');
  process.exit(0);
}
process.stderr.write(`wasmvs: building (${missing.length ? `missing ${missing.join(', ')}` : 'sources changed'})\n`);
const r = spawnSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
