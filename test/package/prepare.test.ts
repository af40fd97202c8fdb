// The `prepare` hook (scripts/prepare.mjs) as npm runs it: on `npm ci` in a
// clone it builds what is missing or older than its sources; under `npx`
// (npm_command=exec, which runs `prepare` each time it links the repository's
// bins) it never builds, so `npx wasmvsadm` in the repository answers at once
// instead of rebuilding for 12–22 s. Run on a copy of the script in a scratch
// tree whose build is a stand-in that records it ran.
import { describe, it, expect, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ROOT, cleanEnv } from './project.js';

const OUTPUTS = ['build/wasmvs.wasm', 'build/wasmvs.debug.wasm', 'build/wasmvs.test.wasm', 'dist/sdk/index.js', 'dist/cli/wasmvsd.js'];
const SOURCE = 'sdk/index.ts';
const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

/** A scratch tree: the real prepare.mjs, a build that writes `built`, outputs 1000 s newer than the source (or missing). */
function tree(opts: { missing?: string; stale?: boolean } = {}): string {
  const root = mkdtempSync(join(tmpdir(), 'wasmvs-prepare-'));
  dirs.push(root);
  mkdirSync(join(root, 'scripts'));
  copyFileSync(join(ROOT, 'scripts/prepare.mjs'), join(root, 'scripts/prepare.mjs'));
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'scratch', private: true, scripts: { build: 'node -e "require(\'fs\').writeFileSync(\'built\', \'\')"' } }));
  const t0 = Date.now() / 1000 - 10_000;
  const put = (rel: string, at: number) => {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), '');
    utimesSync(join(root, rel), at, at);
  };
  put(SOURCE, opts.stale ? t0 + 2000 : t0);
  for (const o of OUTPUTS) if (o !== opts.missing) put(o, t0 + 1000);
  return root;
}

function prepare(root: string, npmCommand: string) {
  const r = spawnSync(process.execPath, [join(root, 'scripts/prepare.mjs')], {
    cwd: root, env: cleanEnv({ npm_command: npmCommand }), encoding: 'utf8', timeout: 60_000,
  });
  return { status: r.status, stderr: r.stderr, built: existsSync(join(root, 'built')) };
}

describe('prepare (scripts/prepare.mjs)', () => {
  it('a fresh build: nothing to do, under npx or npm ci', () => {
    for (const cmd of ['exec', 'ci']) expect(prepare(tree(), cmd)).toEqual({ status: 0, stderr: '', built: false });
  });

  it('sources newer than the build, under npx: says so and how to refresh, builds nothing', () => {
    const r = prepare(tree({ stale: true }), 'exec');
    expect(r).toEqual({ status: 0, stderr: expect.stringContaining('run `npm run build` to refresh it (npx does not rebuild)'), built: false });
  });

  it('sources newer than the build, in npm ci/install: rebuilds', () => {
    const r = prepare(tree({ stale: true }), 'ci');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('wasmvs: building (sources changed)');
    expect(r.built).toBe(true);
  });

  it('a missing output (a fresh clone): builds, also under npx', () => {
    for (const cmd of ['ci', 'exec']) {
      const r = prepare(tree({ missing: 'build/wasmvs.wasm' }), cmd);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toContain('wasmvs: building (missing build/wasmvs.wasm)');
      expect(r.built).toBe(true);
    }
  });
});
