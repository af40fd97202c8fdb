// The tree's dependency arrows (README "Architecture"): every relative import
// between the source folders points one way, lower layers never load upper
// ones, and the two hosts do not load each other. A new back edge fails here.
import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));

/** The rooms, and which rooms each may import (itself always). */
export const ALLOWED: Record<string, string[]> = {
  sdk: [],
  native: [],
  ipvsadm: ['sdk'],
  daemon: ['sdk', 'ipvsadm'],
  'hosts/proxy': ['sdk', 'ipvsadm', 'daemon', 'native'],
  'hosts/gateway': ['sdk', 'ipvsadm', 'daemon', 'native'],
  cli: ['sdk', 'ipvsadm', 'daemon', 'hosts/proxy', 'hosts/gateway', 'native'],
  demo: ['sdk', 'ipvsadm', 'daemon', 'hosts/proxy', 'cli'],
  playground: ['sdk', 'ipvsadm', 'daemon'],
};

function roomOf(file: string): string | null {
  const parts = file.split('/');
  if (parts[0] === 'hosts') return `hosts/${parts[1]}`;
  if (parts[0] === 'playground') return parts[1] === 'src' ? 'playground' : null;
  return parts[0] in ALLOWED ? parts[0] : null;
}

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, dir))) {
    const p = join(dir, name);
    if (statSync(join(root, p)).isDirectory()) out.push(...sources(p));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Relative specifiers a file names: static imports and re-exports (type-only too: a type is a dependency), import() and new URL(). */
export function edges(files: string[]): { from: string; to: string; spec: string }[] {
  const out: { from: string; to: string; spec: string }[] = [];
  for (const f of files) {
    const src = readFileSync(join(root, f), 'utf8');
    const specs = [
      ...src.matchAll(/^(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/gm),
      ...src.matchAll(/\bimport\(\s*'(\.[^']+)'\s*\)/g),
      ...src.matchAll(/new URL\(\s*'(\.[^']+\.js)'/g),
      ...src.matchAll(/^\s*\w+:\s*'(\.\.[^']+\.js)',?$/gm),
    ].map((m) => m[1]);
    for (const spec of specs) {
      const to = relative(root, resolve(join(root, dirname(f)), spec)).replace(/\.js$/, '.ts');
      out.push({ from: f, to, spec });
    }
  }
  return out;
}

const rooms = ['sdk', 'native', 'ipvsadm', 'daemon', 'hosts', 'cli', 'demo', 'playground/src'];

describe('architecture: dependencies point one way', () => {
  const files = rooms.flatMap(sources);

  it('finds the source rooms (the check is not vacuous)', () => {
    for (const r of ['sdk/director.ts', 'ipvsadm/parse.ts', 'daemon/wasmvsd.ts', 'hosts/proxy/tcp.ts', 'hosts/gateway/gateway.ts', 'cli/wasmvsadm.ts', 'native/addon.ts']) {
      expect(files).toContain(r);
    }
    expect(edges(files).length).toBeGreaterThan(300);
  });

  it('no room imports a room above it, and the hosts do not import each other', () => {
    const bad: string[] = [];
    for (const e of edges(files)) {
      const a = roomOf(e.from), b = roomOf(e.to);
      if (a === null || b === null || a === b) continue;
      if (!ALLOWED[a]!.includes(b)) bad.push(`${e.from} -> ${e.to} (${a} may import ${ALLOWED[a]!.join(', ') || 'nothing of ours'})`);
    }
    expect(bad).toEqual([]);
  });

  it('the check catches a back edge', () => {
    const fake = { from: 'sdk/director.ts', to: 'daemon/handler.ts' };
    const a = roomOf(fake.from)!, b = roomOf(fake.to)!;
    expect(ALLOWED[a]!.includes(b)).toBe(false);
    expect(roomOf('hosts/gateway/gateway.ts')).toBe('hosts/gateway');
    expect(ALLOWED['hosts/proxy']!.includes('hosts/gateway')).toBe(false);
  });
});
