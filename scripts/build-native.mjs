// Builds the optional netfilter-queue addon (native-host/). Not part of
// `npm install`/`prepare`: the SDK must install without a compiler or libmnl.
// CI runs it explicitly; a failure here is a real failure.
//
// Works from the repository (`npm run build:native`) and from an installed
// package (`npm explore wasmvs -- npm run build:native`): node-gyp is a
// devDependency here, so elsewhere it is the copy npm itself ships, which npm
// names in npm_config_node_gyp for every script it runs.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function nodeGyp() {
  try {
    return createRequire(join(root, 'package.json')).resolve('node-gyp/bin/node-gyp.js');
  } catch { /* not a dependency here: use npm's */ }
  const fromNpm = [
    process.env.npm_config_node_gyp,
    process.env.npm_execpath && join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return fromNpm.find((p) => p && existsSync(p)) ?? null;
}

const gyp = nodeGyp();
if (gyp === null) {
  process.stderr.write('wasmvs: node-gyp not found; run this through npm (`npm run build:native`), which ships one\n');
  process.exit(1);
}
const args = ['rebuild', '--directory', join(root, 'native-host')];
// Use the running Node's own headers when they are installed next to it, so
// no header download is needed (offline builders, distro Node packages).
const prefix = join(dirname(process.execPath), '..');
if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
const r = spawnSync(process.execPath, [gyp, ...args], { stdio: 'inherit' });
process.exit(r.status ?? 1);
