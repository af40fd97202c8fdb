// Docs that cannot rot: every fenced block of README.md and docs/*.md says
// what it is (blocks.ts), every sh/js/ts block is run by exactly one test that
// exists, and setup blocks are the commands CI's entry point runs.
import { describe, it, expect } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, docs, fenced, executable, isSetup, setupCommands, KNOWN, CLAIMS, NOT_RUN, RELEASE_ONLY, UNTAGGED_ALLOWED } from './blocks.js';

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

  it('every sh/js/ts block is claimed by exactly one test, or listed as not run with why', () => {
    const problems: string[] = [];
    for (const doc of docs()) {
      for (const b of executable(doc)) {
        const by = CLAIMS.filter((c) => c.doc === doc && c.select(b));
        const skip = NOT_RUN.filter((n) => n.doc === doc && b.body.includes(n.contains));
        if (by.length + skip.length !== 1) problems.push(`${where(b)}: claimed by ${by.map((c) => c.runner).join(', ') || 'no test'}${skip.length ? ' and listed as not run' : ''}`);
      }
    }
    expect(problems).toEqual([]);
    // Each NOT_RUN entry still names a block (a fixed doc must leave the list).
    for (const n of NOT_RUN) expect(executable(n.doc).some((b) => b.body.includes(n.contains)), n.contains).toBe(true);
    expect(NOT_RUN.length).toBeLessThanOrEqual(1);
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
