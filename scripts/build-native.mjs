// Builds the optional netfilter-queue addon (native/), with the native core
// when wasm2c is installed (scripts/gen-native-core.mjs). Not part of
// `npm install`/`prepare`: the SDK must install without a compiler or libmnl.
// CI runs it explicitly; a failure here is a real failure.
//
// In the repository it builds through prebuildify (a devDependency), which
// runs the same node-gyp build and also writes the prebuilt addon that the
// package ships, prebuilds/linux-x64/node.glibc.node (Node-API, stripped,
// libmnl linked dynamically); the loader (native/addon.ts) takes it
// first, so the two never differ. `prepack` runs it.
//
// Works from the repository (`npm run build:native`) and from an installed
// package (`npm explore wasmvs -- npm run build:native`): node-gyp is a
// devDependency here, so elsewhere it is the copy npm itself ships, which npm
// names in npm_config_node_gyp for every script it runs.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
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
// Use the running Node's own headers when they are installed next to it, so
// no header download is needed (offline builders, distro Node packages).
const prefix = join(dirname(process.execPath), '..');
const nodedir = existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? prefix : null;

/** prebuildify's CLI when this is the repository (sources present) and it is installed, else null. */
function prebuildify() {
  if (!existsSync(join(root, 'assembly'))) return null;
  try {
    return createRequire(join(root, 'package.json')).resolve('prebuildify/bin.js');
  } catch {
    return null;
  }
}

// The native core (native/gen/, from wasm2c) first: binding.gyp builds it in when it is there.
const gen = spawnSync(process.execPath, [join(root, 'scripts', 'gen-native-core.mjs')], { stdio: 'inherit' });
if (gen.status !== 0) process.exit(gen.status ?? 1);

const pb = prebuildify();
let r;
if (pb !== null) {
  // Node-API build (one binary for every Node >= 20), tagged glibc so musl systems build from source.
  // It runs `node-gyp` from node_modules/.bin (the devDependency), against this Node's headers.
  const args = ['--napi', '--strip', '--tag-libc', '--target', process.versions.node, '--cwd', join(root, 'native'), '--out', root];
  r = spawnSync(process.execPath, [pb, ...args], { stdio: 'inherit', env: { ...process.env, ...(nodedir ? { npm_config_nodedir: nodedir } : {}) } });
  if (r.status === 0) {
    // prebuildify moves the build into prebuilds/; the native tests load native/build/Release: the same file.
    const dir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
    const newest = readdirSync(dir).filter((f) => f.endsWith('.node'))
      .map((f) => join(dir, f)).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
    copyFileSync(newest, join(root, 'native/build/Release/wasmvs_nfq.node'));
    process.stderr.write(`wasmvs: prebuilt addon ${relative(root, newest)} (also native/build/Release/wasmvs_nfq.node)\n`);
  }
} else {
  const args = ['rebuild', '--directory', join(root, 'native')];
  if (nodedir) args.push(`--nodedir=${nodedir}`);
  r = spawnSync(process.execPath, [gyp, ...args], { stdio: 'inherit' });
}
process.exit(r.status ?? 1);
