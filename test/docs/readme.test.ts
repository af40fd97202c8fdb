// README.md as a user reads it: the SDK example runs as written against the
// packed package installed in a fresh project and prints what its comment
// says, and every wasmvsadm/wasmvsd command line it shows is accepted by the
// bins' own parsers (a listing that ipvsadm's option matrix refuses, such as
// `-L --stats --rate`, fails here).
import { describe, it, expect, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, packTarball, installProject, cleanEnv, type Project } from '../package/project.js';
import { parseArgs } from '../../ipvsadm/parse.js';
import { parseDrainArgs } from '../../cli/drain.js';
import { parseDaemonArgs } from '../../cli/wasmvsd.js';
import { claimed, cannotIsolate, runIsolated } from './blocks.js';

const CI = process.env.CI === 'true';
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

interface Block { lang: string; heading: string; body: string }

/** Fenced blocks in order, each with its info string and the `## ` heading it sits under. */
function fenced(): Block[] {
  const out: Block[] = [];
  let heading = '';
  let open: { lang: string; lines: string[] } | null = null;
  for (const line of readme.split('\n')) {
    if (open === null && line.startsWith('## ')) heading = line.slice(3).trim();
    if (open === null && line.startsWith('```')) open = { lang: line.slice(3).trim(), lines: [] };
    else if (open !== null && line.trim() === '```') {
      out.push({ lang: open.lang, heading, body: open.lines.join('\n') + '\n' });
      open = null;
    } else open?.lines.push(line);
  }
  return out;
}

/**
 * The command lines of the sh blocks starting with `npx <bin>`, and the inline
 * `wasmvsadm -L …` listings of the prose; comments and a trailing `&` dropped.
 * `PORT` is a placeholder the README asks the reader to fill in: a port stands for it.
 */
function commandLines(bin: 'wasmvsadm' | 'wasmvsd'): string[] {
  const lines = fenced().filter((b) => b.lang === 'sh').flatMap((b) => b.body.split('\n'))
    .map((l) => l.replace(/\s#.*$/, '').replace(/\s*&$/, '').trim())
    .filter((l) => l.startsWith(`npx ${bin} `))
    .map((l) => l.slice('npx '.length));
  if (bin === 'wasmvsadm') lines.push(...[...readme.matchAll(/`(wasmvsadm -L[^`]*)`/g)].map((m) => m[1]));
  return lines.map((l) => l.replace(/:PORT\b/g, ':8000'));
}

function prerequisites(): { project?: Project; missing?: string } {
  try {
    return { project: installProject(packTarball(mkdtempSync(join(tmpdir(), 'wasmvs-pack-')))) };
  } catch (e) {
    return { missing: `cannot install the packed tarball offline: ${(e as Error).message.split('\n')[0]}` };
  }
}

describe('README.md command lines', () => {
  it('every wasmvsadm line parses with wasmvsadm\'s own parser', () => {
    const lines = commandLines('wasmvsadm');
    expect(lines).toEqual(expect.arrayContaining(['wasmvsadm -L -n', 'wasmvsadm -A -t 198.18.0.1:80 -s lc', 'wasmvsadm -L -n --stats']));
    for (const line of lines) {
      const argv = line.split(/\s+/).slice(1);
      expect(() => (argv.includes('--drain') ? parseDrainArgs(argv.filter((a) => a !== '--drain')) : parseArgs(argv)), line).not.toThrow();
    }
  });

  it('every wasmvsd line is accepted by parseDaemonArgs', () => {
    const lines = commandLines('wasmvsd');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(typeof parseDaemonArgs(line.split(/\s+/).slice(1)), line).toBe('object');
  });
});

const { project, missing } = prerequisites();
if (missing && CI) throw new Error(`README.md suite prerequisites missing in CI: ${missing}`);
if (missing) console.warn(`SKIPPING the README.md SDK example: ${missing}`);

afterAll(() => {
  if (!project) return;
  rmSync(project.dir, { recursive: true, force: true });
  rmSync(join(project.tarball, '..'), { recursive: true, force: true });
});

describe.skipIf(missing !== undefined)('README.md SDK example', () => {
  it('runs as written in a fresh project and prints what its comments say', () => {
    const sdk = fenced().filter((b) => b.heading === 'SDK' && b.lang === 'js');
    expect(sdk).toHaveLength(1);
    const code = sdk[0].body;
    // `console.log(x); // { … } — why`: the printed value is the comment up to the dash.
    const expected = [...code.matchAll(/console\.log\(.*\);\s*\/\/\s*(.*?)(?:\s+—.*)?$/gm)].map((m) => m[1]);
    expect(expected.length).toBeGreaterThan(0);
    writeFileSync(join(project!.dir, 'readme-sdk.mjs'), code);
    const r = spawnSync(process.execPath, ['readme-sdk.mjs'], { cwd: project!.dir, env: cleanEnv(), encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trimEnd().split('\n')).toEqual(expected);
  });
});

// The README's shell blocks, run as written from the repository (where `npx wasmvsd` is this package),
// each in namespaces of its own (fixed ports and /tmp paths collide with nothing). Its setup block
// (npm ci, npm test) is what CI runs (coverage.test.ts).
const noNs = cannotIsolate();
if (noNs && CI) throw new Error(`README.md runs: ${noNs}`);
if (noNs) console.warn(`SKIPPING the README.md shell blocks: ${noNs}`);

describe.skipIf(noNs !== null)('README.md shell blocks', () => {
  const sh = claimed('README.md', 'readme.test.ts').filter((b) => b.lang === 'sh');
  /** A one-command block's command, its comment dropped, to run in the background. */
  const command = (text: string) => find(text).trim().replace(/\s+#.*$/, '');
  const find = (text: string) => {
    const b = sh.find((x) => x.body.includes(text));
    expect(b, text).toBeDefined();
    return b!.body;
  };

  it('each one is run below', () => {
    expect(sh.map((b) => b.body.split('\n')[0].split(/\s+#/)[0].trim())).toEqual([
      'npm start',
      'curl http://127.0.0.1:8080/',
      'npx wasmvsd proxy --socket /tmp/wasmvs.sock --state /tmp/wasmvs.rules &',
      'npm run playground',
    ]);
  });

  it('npm start, then what the demo says to type in another terminal', () => {
    // PORT is the one backend port the demo prints (the README says it prints what to type).
    const script = `log=$(mktemp)
${command('npm start')} >"$log" 2>&1 &
for i in $(seq 150); do grep -q 'Try, in another terminal' "$log" && break; sleep 0.2; done
PORT=$(grep -o 'backend-a = 127.0.0.1:[0-9]*' "$log" | head -1 | cut -d: -f2)
${find('curl http://127.0.0.1:8080/').replace(':PORT ', ':$PORT ')}
echo "PORT=$PORT"`;
    const r = runIsolated(script, { cwd: ROOT, timeoutMs: 120_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^hello from backend-[abc]/m);
    const port = /^PORT=(\d+)$/m.exec(r.stdout)?.[1];
    expect(port).toBeDefined();
    expect(r.stdout).toMatch(/^TCP {2}127\.0\.0\.1:8080 wlc/m);
    expect(r.stdout).toMatch(new RegExp(`-> 127\\.0\\.0\\.1:${port} +Masq +1 `));
  }, 150_000);

  it('the daemon quick start prints the table shown after it', () => {
    const body = find('npx wasmvsd proxy --socket /tmp/wasmvs.sock');
    const all = fenced();
    const shown = all[all.findIndex((b) => b.body === body) + 1];
    expect(shown.lang).toBe('text');
    const r = runIsolated(body, { cwd: ROOT });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toBe(shown.body);
  }, 120_000);

  it('npm run playground builds the site and serves it where it says', () => {
    const script = `log=$(mktemp)
${command('npm run playground')} >"$log" 2>&1 &
for i in $(seq 300); do grep -q 'http://127.0.0.1:5173' "$log" && break; sleep 0.2; done
curl -sf -o /dev/null -w '%{http_code} %{content_type}\n' http://127.0.0.1:5173/
cat "$log" >&2`;
    // Its build output stays in the namespace: the playground suite builds the same folder.
    const r = runIsolated(script, { cwd: ROOT, timeoutMs: 120_000, scratch: [join(ROOT, 'playground')] });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^200 text\/html/m);
    // The sizes the README quotes are the ones this build prints (rounded to the KiB; within 3 %, so a
    // small change to the core does not fail here, a stale figure does).
    const built = /playground built in .*: ([\d.]+) KiB, ([\d.]+) KiB gzipped/.exec(r.stderr);
    expect(built, r.stderr).not.toBeNull();
    const quoted = /\((\d+) KiB gzipped for\s+the whole page and core, (\d+) KiB uncompressed\)/.exec(readme);
    expect(quoted, 'README.md: the playground sizes').not.toBeNull();
    const [raw, gz] = [Number(built![1]), Number(built![2])];
    expect(Math.abs(Number(quoted![1]) - gz) / gz, `README says ${quoted![1]} KiB gzipped, the build ${gz}`).toBeLessThanOrEqual(0.03);
    expect(Math.abs(Number(quoted![2]) - raw) / raw, `README says ${quoted![2]} KiB uncompressed, the build ${raw}`).toBeLessThanOrEqual(0.03);
  }, 150_000);
});
