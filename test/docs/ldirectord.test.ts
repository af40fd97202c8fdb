// docs/ldirectord.md run as written: the real ldirectord (Debian package) health-checking two
// HTTP real servers and driving `wasmvsd proxy` through wasmvsadm bound over /usr/sbin/ipvsadm,
// with the bins on PATH as `npm install -g` puts them, in namespaces of its own (its mounts, its
// /run and its loopback stay there); its output is the ```text block the doc shows after it.
import { describe, it, expect, afterAll } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, claimed, fenced, cannotIsolate, runIsolated } from './blocks.js';
import { missingLdirectord } from '../daemon/ldirectord.js';

const CI = process.env.CI === 'true';
const missing = cannotIsolate() ?? missingLdirectord() ?? (existsSync('/usr/bin/curl') ? null : 'curl not installed (see .ci/run)');
if (missing && CI) throw new Error(`docs/ldirectord.md: ${missing}`);
if (missing) console.warn(`SKIPPING docs/ldirectord.md: ${missing}`);

describe.skipIf(missing !== null)('docs/ldirectord.md', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'wasmvs-docs-ld-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('ldirectord builds, quiesces and removes the service, printing the tables shown after the script', () => {
    const blocks = claimed('docs/ldirectord.md', 'ldirectord.test.ts');
    expect(blocks).toHaveLength(1);
    const all = fenced('docs/ldirectord.md');
    const shown = all[all.findIndex((b) => b.line === blocks[0].line) + 1];
    expect(shown.lang).toBe('text');
    const bin = join(scratch, 'bin');
    mkdirSync(bin, { recursive: true });
    for (const b of ['wasmvsd', 'wasmvsadm']) symlinkSync(join(ROOT, `bin/${b}.js`), join(bin, b));
    const r = runIsolated(blocks[0].body, { cwd: scratch, env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, timeoutMs: 60_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toBe(shown.body);
  }, 90_000);
});
