// Docs that cannot rot: every fenced block of README.md and docs/*.md says
// what it is (blocks.ts), every sh/js/ts block is run by exactly one test that
// exists, and setup blocks are the commands CI's entry point runs.
import { describe, it, expect } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, docs, fenced, executable, isSetup, setupCommands, coverageProblems, KNOWN, CLAIMS, RELEASE_ONLY, UNTAGGED_ALLOWED, type Block, type Claim } from './blocks.js';

const where = (b: { doc: string; line: number }) => `${b.doc}:${b.line}`;

describe('docs: every block is tagged and every runnable one runs', () => {
  it('every fenced block has a known info string (sh, js, ts, text, rules, sh release)', () => {
    const bad = docs().flatMap(fenced)
      .filter((b) => !KNOWN.has(b.lang) && !UNTAGGED_ALLOWED.some((u) => u.doc === b.doc && b.body.includes(u.contains) && b.lang === ''))
      .map((b) => `${where(b)} \`\`\`${b.lang}`);
    expect(bad).toEqual([]);
  });

  it('no indented code block: code is fenced so that it is tagged', () => {
    const bad: string[] = [];
    for (const doc of docs()) {
      const lines = readFileSync(join(ROOT, doc), 'utf8').split('\n');
      let fence = false;
      lines.forEach((l, i) => {
        if (l.startsWith('```')) fence = !fence;
        // An indented block starts after a blank line, outside a fence and a list item's continuation.
        if (!fence && /^ {4}\S/.test(l) && i > 0 && lines[i - 1].trim() === '' && !/^\s*([-*]|\d+\.)\s/.test(lines[i - 2] ?? '')) bad.push(`${doc}:${i + 1}`);
      });
    }
    expect(bad).toEqual([]);
  });

  it('every sh/js/ts block is claimed by exactly one test (there is no list of blocks left unrun)', () => {
    expect(coverageProblems(docs().flatMap(fenced))).toEqual([]);
  });

  it('the check fails on a block that no test claims, and on one that two tests claim', () => {
    const block = (body: string): Block => ({ doc: 'docs/x.md', lang: 'sh', body, line: 3, heading: '' });
    const claims: Claim[] = [
      { doc: 'docs/x.md', runner: 'a.test.ts', what: 'a', select: (b) => b.body.includes('a') },
      { doc: 'docs/x.md', runner: 'b.test.ts', what: 'b', select: (b) => b.body.includes('b') },
    ];
    expect(coverageProblems([block('a\n')], claims)).toEqual([]);
    expect(coverageProblems([block('c\n')], claims)).toEqual(['docs/x.md:3: sh block claimed by no test']);
    expect(coverageProblems([block('ab\n')], claims)).toEqual(['docs/x.md:3: sh block claimed by a.test.ts, b.test.ts']);
    // text and rules blocks are not run as scripts, so they need no claim.
    expect(coverageProblems([{ ...block('c\n'), lang: 'text' }], claims)).toEqual([]);
  });

  it('every runner takes its blocks from its claim (claimed(doc, runner)), so a claimed block is a run block', () => {
    for (const c of CLAIMS.filter((x) => x.runner !== 'coverage.test.ts')) {
      const src = readFileSync(join(ROOT, 'test/docs', c.runner), 'utf8');
      expect(src, `${c.runner} should run claimed('${c.doc}', '${c.runner}')`).toContain(`claimed('${c.doc}', '${c.runner}')`);
    }
  });

  it('every claiming test exists and names its doc', () => {
    for (const c of CLAIMS) {
      const file = join(ROOT, 'test/docs', c.runner);
      expect(existsSync(file), c.runner).toBe(true);
      if (c.runner !== 'coverage.test.ts') expect(readFileSync(file, 'utf8'), `${c.runner} should run ${c.doc}`).toContain(c.doc);
      expect(executable(c.doc).filter(c.select).length, `${c.doc}: ${c.what}`).toBeGreaterThan(0);
    }
  });

  it('`sh release` blocks are only the ones listed', () => {
    const rel = docs().flatMap(fenced).filter((b) => b.lang === 'sh release').map((b) => b.doc);
    expect(rel).toEqual(RELEASE_ONLY.map((r) => r.doc));
  });

  it('setup blocks (apt-get install, npm ci, build:native, npm test) are what .ci/run runs', () => {
    const ci = readFileSync(join(ROOT, '.ci/run'), 'utf8');
    const aptLine = /apt-get install ([^\n]*)/.exec(ci)?.[1] ?? '';
    const ciApt = new Set(aptLine.split(/\s+/).filter((w) => /^[a-z0-9][a-z0-9.+-]+$/.test(w)));
    const ciCmds = ci.split('\n').map((l) => l.trim());
    const setup = docs().flatMap(executable).filter(isSetup);
    expect(setup.length).toBeGreaterThan(0);
    for (const b of setup) {
      for (const cmd of setupCommands(b)) {
        if (cmd.startsWith('apt-get install')) {
          for (const pkg of cmd.split(/\s+/).slice(2).filter((w) => !w.startsWith('-'))) expect(ciApt, `${where(b)}: ${pkg}`).toContain(pkg);
        } else {
          // npm ci in CI carries flags that only quiet it.
          expect(ciCmds.some((l) => l === cmd || l.startsWith(`${cmd} --`)), `${where(b)}: ${cmd}`).toBe(true);
        }
      }
    }
  });
});
