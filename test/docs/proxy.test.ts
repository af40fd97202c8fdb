// docs/proxy.md as a user runs it: every ```sh block, top to bottom, as one
// script, in a fresh project with the packed tarball installed, inside a
// network namespace of its own (its fixed loopback ports cannot collide with
// anything else); and the sample config file loads with nothing skipped.
import { describe, it, expect, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, packTarball, installProject, cleanEnv, type Project } from '../package/project.js';
import { canUnshareNet } from '../package/helpers.js';
import { claimed, docs, fenced } from './blocks.js';

const CI = process.env.CI === 'true';
const doc = readFileSync(join(ROOT, 'docs/proxy.md'), 'utf8');

/** The bodies of the fenced blocks whose info string is `lang`, in order. */
function blocks(lang: string): string[] {
  const out: string[] = [];
  let open: { lang: string; lines: string[] } | null = null;
  for (const line of doc.split('\n')) {
    if (open === null && line.startsWith('```')) open = { lang: line.slice(3).trim(), lines: [] };
    else if (open !== null && line.trim() === '```') {
      if (open.lang === lang) out.push(open.lines.join('\n') + '\n');
      open = null;
    } else open?.lines.push(line);
  }
  return out;
}

function prerequisites(): { project?: Project; missing?: string } {
  const why = canUnshareNet()
    ?? (['python3', 'curl'].find((c) => spawnSync(c, ['--version']).status !== 0) ? 'python3 and curl are needed' : null);
  if (why) return { missing: why };
  try {
    return { project: installProject(packTarball(mkdtempSync(join(tmpdir(), 'wasmvs-pack-'))), ['pino', 'prom-client']) };
  } catch (e) {
    return { missing: `cannot install the packed tarball offline: ${(e as Error).message.split('\n')[0]}` };
  }
}

const { project, missing } = prerequisites();
if (missing && CI) throw new Error(`docs/proxy.md suite prerequisites missing in CI: ${missing}`);
if (missing) console.warn(`SKIPPING docs/proxy.md tests: ${missing}`);

afterAll(() => {
  if (!project) return;
  rmSync(project.dir, { recursive: true, force: true });
  rmSync(join(project.tarball, '..'), { recursive: true, force: true });
});

/** Runs a bash script in a new network namespace with loopback up; whatever it left running is killed at its end. */
function inNetns(script: string, cwd: string) {
  const wrapped = `set -euo pipefail\nip link set lo up\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n${script}`;
  return spawnSync('unshare', ['--net', 'bash', '-c', wrapped], { cwd, env: cleanEnv(), encoding: 'utf8', timeout: 90_000 });
}

describe.skipIf(missing !== undefined)('docs/proxy.md', () => {
  it('runs top to bottom as written', () => {
    const sh = blocks('sh');
    expect(sh.length).toBeGreaterThanOrEqual(2);
    // These are all of docs/proxy.md's runnable blocks (coverage.test.ts).
    expect(sh).toEqual(claimed('docs/proxy.md', 'proxy.test.ts').map((b) => b.body));
    const dir = mkdtempSync(join(project!.dir, 'run-'));
    const r = inNetns(sh.join('\n'), dir);
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/^200$/m);
    expect(r.stdout).toMatch(/TCP {2}127\.0\.0\.1:8080 +1 +/);
    expect(r.stdout).toContain('127.0.0.1:9002');
    expect(r.stderr).toContain('shutting down');
    expect(r.stderr).not.toMatch(/skipped|Error|"level":50/);
  });

  it('every ```rules block of the docs loads with no directive skipped (a fragment, after the sample)', () => {
    const sample = blocks('rules').find((b) => b.includes('# wasmvs-proxy health'));
    expect(sample).toBeDefined();
    const rules = docs().flatMap(fenced).filter((b) => b.lang === 'rules');
    expect(rules.length).toBeGreaterThanOrEqual(3);
    for (const b of rules) {
      const dir = mkdtempSync(join(project!.dir, 'cfg-'));
      const text = /^-A /m.test(b.body) ? b.body : sample! + b.body;
      writeFileSync(join(dir, 'lb.rules'), text);
      // The proxy listens on its VIPs, so they are local addresses (as proxy.md's setup
      // makes them); a gateway sample's VIP is put on lo the same way.
      const vips = [...new Set([...text.matchAll(/^-A -[tu] (\d+\.\d+\.\d+\.\d+):\d+/gm)].map((m) => m[1]))];
      const addVips = vips.map((v) => `ip addr add ${v}/32 dev lo\n`).join('');
      const r = inNetns(`${addVips}${join(project!.dir, 'node_modules/.bin/wasmvsd')} proxy --socket ./s.sock --state ./s.state --config ./lb.rules 2>log &
until grep -q 'control socket' log; do sleep 0.1; done
kill -TERM $!; wait $! || true; cat log >&2`, dir);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr, `${b.doc}:${b.line}`).toContain('control socket');
      expect(r.stderr, `${b.doc}:${b.line}`).not.toMatch(/skipped|line \d+:|"level":50/);
    }
  });
});
