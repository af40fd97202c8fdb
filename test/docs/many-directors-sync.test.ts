// docs/many-directors.md's connection sync example as a user runs it: two
// real proxies, a connection held through the first, the second started later
// lists it (and its template) as soon as it answers — run as written with
// `bash -e` from the repository root.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { claimed, ROOT } from './blocks.js';

describe('docs/many-directors.md connection sync example', () => {
  it('runs as written: b lists a\'s connection and template before anything else', () => {
    const blocks = claimed('docs/many-directors.md', 'many-directors-sync.test.ts');
    expect(blocks).toHaveLength(1);
    const r = spawnSync('bash', ['-e', '-c', blocks[0].body], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/TCP +\d\d:\d\d +ESTABLISHED +127\.0\.0\.1:\d+ +127\.0\.0\.1:18090 +127\.0\.0\.1:18091\n/);
    expect(r.stdout).toMatch(/TCP +\d\d:\d\d +ASSURED +127\.0\.0\.1:0 +127\.0\.0\.1:18090 +127\.0\.0\.1:18091\n/);
    expect(r.stdout).toMatch(/wasmvsd: sync: snapshot from a \(127\.0\.0\.1:18095\) imported \(2 entries here\)/);
  }, 150_000);
});
