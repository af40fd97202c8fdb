// Imports inside the core point one way: abi < mem < stats < service < sched
// < table < packet < index.ts (scripts/check-layers.mjs says what each layer
// holds). A back edge or a cycle between files fails here.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, expect } from 'vitest';
import { LAYERS, checkCore, checkGraph, importsOf, readGraph } from '../../scripts/check-layers.mjs';

describe('core layers', () => {
  it('reads single-line, multi-line, re-export and side-effect imports', () => {
    const text = [
      'import * as L from "../abi/layout";',
      'import {',
      '  Dest,',
      '  DEST_SIZE,',
      '} from "../service/dest";',
      'export { Nums } from "./nums";',
      'import "./side";',
      '// not an import: from "../table/conn"',
      'const s = "from ../x";',
    ].join('\n');
    expect(importsOf(text)).toEqual(['../abi/layout', '../service/dest', './nums', './side', '../table/conn']);
  });

  it('flags an upward import, an import of the exports file, an unknown folder and a cycle (the check can fail)', () => {
    const graph = new Map<string, string[]>([
      ['abi/layout', []],
      ['abi/records', ['abi/layout', 'service/dest']], // abi is below service
      ['service/dest', ['abi/layout']],
      ['sched/rr', ['service/dest', 'sched/registry']],
      ['sched/registry', ['sched/rr']], // cycle inside one folder
      ['packet/path', ['sched/rr', 'index']], // index.ts sits on top
      ['extra/x', ['abi/layout']],
      ['index', ['packet/path', 'abi/records']],
    ]);
    const r = checkGraph(graph, LAYERS);
    expect(r.upward).toEqual([
      { from: 'abi/records', to: 'service/dest' },
      { from: 'packet/path', to: 'index' },
    ]);
    expect(r.unknown).toEqual(['extra/x']);
    // The folder cycle, and index.ts <-> packet/path through the upward import.
    expect(r.cycles.map((c: string[]) => c.join(' ')).sort()).toEqual(['index packet/path', 'sched/registry sched/rr']);
    expect(r.missing).toEqual([]);
  });

  it('reads a real tree from disk and reports an import that names no file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wasmvs-layers-'));
    try {
      mkdirSync(join(dir, 'abi'));
      mkdirSync(join(dir, 'table'));
      writeFileSync(join(dir, 'abi/layout.ts'), 'import { conn } from "../table/conn";\n');
      writeFileSync(join(dir, 'table/conn.ts'), 'import * as L from "../abi/layout";\nimport { gone } from "./gone";\n');
      writeFileSync(join(dir, 'index.ts'), 'import { conn } from "./table/conn";\n');
      const graph = readGraph(dir);
      expect(graph.get('index')).toEqual(['table/conn']);
      const r = checkGraph(graph, LAYERS);
      expect(r.upward).toEqual([{ from: 'abi/layout', to: 'table/conn' }]);
      expect(r.missing).toEqual([{ from: 'table/conn', to: 'table/gone' }]);
      expect(r.cycles).toEqual([['abi/layout', 'table/conn']]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the real core: every import points down and no files import each other in a cycle', () => {
    const r = checkCore();
    expect(r.modules).toBeGreaterThan(80);
    expect(r.upward).toEqual([]);
    expect(r.unknown).toEqual([]);
    expect(r.missing).toEqual([]);
    expect(r.cycles).toEqual([]);
    // Every layer is used, so the list in the script stays the tree's.
    const folders = new Set(r.edges.flatMap(([e]: [string, number]) => e.split(' -> ')));
    for (const l of LAYERS) expect(folders.has(l)).toBe(true);
  });
});
