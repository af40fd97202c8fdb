// The code of docs/stats.md, docs/sdk.md, docs/core.md, docs/connections.md and docs/cli.md, run as
// written: the SDK samples against this package (imported as 'wasmvs', the
// .ts one with its types stripped by esbuild), and cli.md's quick start with
// wasmvsd and wasmvsadm on PATH as `npm install -g` puts them, in namespaces
// of its own; its output is the ```text block the doc shows after it.
import { describe, it, expect, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { transformSync } from 'esbuild';
import { ROOT, claimed, fenced, cannotIsolate, runIsolated } from './blocks.js';

const CI = process.env.CI === 'true';
const scratch = mkdtempSync(join(tmpdir(), 'wasmvs-docs-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
// A project where `import 'wasmvs'` is this package, as after `npm install wasmvs`.
mkdirSync(join(scratch, 'node_modules'));
symlinkSync(ROOT, join(scratch, 'node_modules/wasmvs'));
writeFileSync(join(scratch, 'package.json'), '{ "type": "module" }');

function runModule(name: string, code: string) {
  writeFileSync(join(scratch, name), code);
  return spawnSync(process.execPath, [name], { cwd: scratch, encoding: 'utf8', timeout: 30_000 });
}

/** `console.log(x); // value`: the printed value is the comment (up to ` — why`). */
const commented = (code: string) => [...code.matchAll(/console\.log\(.*\);\s*\/\/\s*(.*?)(?:\s+—.*)?$/gm)].map((m) => m[1]);

describe('docs/stats.md', () => {
  it('the example runs and prints what its comments say', () => {
    const blocks = claimed('docs/stats.md', 'samples.test.ts');
    expect(blocks).toHaveLength(1);
    const expected = commented(blocks[0].body);
    expect(expected.length).toBeGreaterThan(5);
    const r = runModule('stats.mjs', blocks[0].body);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trimEnd().split('\n')).toEqual(expected);
  });
});

describe('docs/sdk.md', () => {
  it('the prepareFlow example runs and prints what its comments say', () => {
    const blocks = claimed('docs/sdk.md', 'samples.test.ts');
    expect(blocks).toHaveLength(1);
    const expected = commented(blocks[0].body);
    expect(expected.length).toBe(4);
    const r = runModule('sdk.mjs', blocks[0].body);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trimEnd().split('\n')).toEqual(expected);
  });
});

describe('docs/core.md', () => {
  it('the host entry example runs and prints what its comments say', () => {
    const blocks = claimed('docs/core.md', 'samples.test.ts');
    expect(blocks).toHaveLength(1);
    const expected = commented(blocks[0].body);
    expect(expected).toEqual(['1500', '8', 'false', 'true']);
    const r = runModule('core.mjs', blocks[0].body);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trimEnd().split('\n')).toEqual(expected);
  });
});

describe('docs/connections.md', () => {
  it('the walk-through runs as written (TypeScript, types stripped)', () => {
    const blocks = claimed('docs/connections.md', 'samples.test.ts');
    expect(blocks).toHaveLength(1);
    const { code } = transformSync(blocks[0].body, { loader: 'ts', format: 'esm' });
    // Its trailing comments give values: print the ones that are plain expressions to check them.
    const checked = code.replace(/^(d\.timeouts\(\));$/m, 'console.log(JSON.stringify($1));');
    const r = runModule('connections.mjs', checked);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(blocks[0].body).toContain('d.timeouts();                           // { tcp: 600, tcpfin: 120, udp: 300 }');
    expect(JSON.parse(r.stdout)).toEqual({ tcp: 600, tcpfin: 120, udp: 300 });
  });
});

const noNs = cannotIsolate();
if (noNs && CI) throw new Error(`docs/cli.md: ${noNs}`);
if (noNs) console.warn(`SKIPPING docs/cli.md quick start: ${noNs}`);

describe.skipIf(noNs !== null)('docs/cli.md', () => {
  it('the quick start runs with the bins on PATH and prints the table shown after it', () => {
    const blocks = claimed('docs/cli.md', 'samples.test.ts');
    expect(blocks).toHaveLength(1);
    const all = fenced('docs/cli.md');
    const shown = all[all.indexOf(all.find((b) => b.line === blocks[0].line)!) + 1];
    expect(shown.lang).toBe('text');
    // `npm install -g wasmvs` links the bins into the PATH; here, to this package's bin/.
    const bin = join(scratch, 'bin');
    mkdirSync(bin, { recursive: true });
    for (const b of ['wasmvsd', 'wasmvsadm']) symlinkSync(join(ROOT, `bin/${b}.js`), join(bin, b));
    const r = runIsolated(blocks[0].body, { cwd: scratch, env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toBe(shown.body);
  });
});
