// A fresh npm project outside the repository with the packed wasmvs tarball
// installed, the way a user gets it, without the network: the project's
// lockfile takes every dependency's version, URL and integrity from this
// repository's lockfile, so `npm ci --offline` finds them in the npm cache
// that `npm ci` filled (a plain `npm install --offline` would need registry
// metadata that the cache does not hold).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');

interface LockEntry {
  version?: string; resolved?: string; integrity?: string; dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>; peerDependencies?: Record<string, string>;
  [k: string]: unknown;
}

/** Packs the repository as `npm publish` would, without running prepack (the build is the tests' input). */
export function packTarball(dest: string): string {
  const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dest], { cwd: ROOT, encoding: 'utf8' });
  return join(dest, (JSON.parse(out) as { filename: string }[])[0].filename);
}

/** Lock entries for `names` and everything they depend on, copied from the repository's lockfile. */
function closure(names: string[], repoLock: Record<string, LockEntry>): Record<string, LockEntry> {
  const out: Record<string, LockEntry> = {};
  const todo = [...names];
  while (todo.length) {
    const name = todo.pop()!;
    const key = `node_modules/${name}`;
    if (out[key] || !repoLock[key]) continue;
    for (const [k, v] of Object.entries(repoLock)) {
      if (k !== key && !k.startsWith(`${key}/node_modules/`)) continue;
      const { dev: _d, devOptional: _o, peer: _p, ...entry } = v;
      out[k] = entry;
      todo.push(...Object.keys({ ...v.dependencies, ...v.optionalDependencies }));
    }
  }
  return out;
}

export interface Project { dir: string; tarball: string }

/** Creates the project with wasmvs and, when given, other packages from the repository's lockfile. */
export function installProject(tarball: string, extra: string[] = []): Project {
  const dir = mkdtempSync(join(tmpdir(), 'wasmvs-user-'));
  const file = 'wasmvs.tgz';
  writeFileSync(join(dir, file), readFileSync(tarball));
  const pkg = JSON.parse(execFileSync('tar', ['-xOzf', tarball, 'package/package.json'], { encoding: 'utf8' })) as LockEntry & { name: string };
  const repoLock = (JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> }).packages;
  const extraVersions = Object.fromEntries(extra.map((n) => [n, repoLock[`node_modules/${n}`].version!]));
  const deps = { wasmvs: `file:${file}`, ...extraVersions };
  const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
  const packages: Record<string, LockEntry> = {
    '': { name: 'wasmvs-user', dependencies: deps },
    'node_modules/wasmvs': {
      version: pkg.version, resolved: `file:${file}`, integrity, license: pkg.license,
      dependencies: pkg.dependencies, optionalDependencies: pkg.optionalDependencies,
      peerDependencies: pkg.peerDependencies, peerDependenciesMeta: pkg.peerDependenciesMeta,
      bin: pkg.bin, engines: pkg.engines,
    },
    ...closure([...Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies }), ...extra], repoLock),
  };
  for (const [name, range] of Object.entries(pkg.optionalDependencies ?? {})) {
    if (packages[`node_modules/${name}`]) packages[`node_modules/${name}`].optional = true;
    void range;
  }
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'wasmvs-user', private: true, type: 'module', dependencies: deps }, null, 2));
  writeFileSync(join(dir, 'package-lock.json'), JSON.stringify({ name: 'wasmvs-user', lockfileVersion: 3, requires: true, packages }, null, 2));
  execFileSync('npm', ['ci', '--offline', '--no-audit', '--no-fund'], { cwd: dir, stdio: 'pipe', env: cleanEnv() });
  if (!existsSync(join(dir, 'node_modules/.bin/wasmvsadm'))) throw new Error(`npm ci in ${dir} linked no wasmvsadm bin`);
  return { dir, tarball };
}

/** The environment a user's shell has: none of the npm_* variables this test run inherits from `npm test`. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_|^INIT_CWD$|^NODE_OPTIONS$|^VITEST|^WASMVS_/.test(k)) env[k] = v;
  return { ...env, ...extra };
}
