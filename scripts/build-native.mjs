// Builds the optional netfilter-queue addon (native-host/). Not part of
// `npm install`/`prepare`: the SDK must install without a compiler or libmnl.
// CI runs it explicitly; a failure here is a real failure.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = ['rebuild', '--directory', join(root, 'native-host')];
// Use the running Node's own headers when they are installed next to it, so
// no header download is needed (offline builders, distro Node packages).
const prefix = join(dirname(process.execPath), '..');
if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
const gyp = join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
const r = spawnSync(process.execPath, [gyp, ...args], { stdio: 'inherit' });
process.exit(r.status ?? 1);
