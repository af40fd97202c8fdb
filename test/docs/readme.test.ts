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
import { parseArgs } from '../../sdk/cli/parse.js';
import { parseDrainArgs } from '../../sdk/cli/drain.js';
import { parseDaemonArgs } from '../../sdk/cli/wasmvsd.js';

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
