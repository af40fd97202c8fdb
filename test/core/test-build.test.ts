// Test-only exports live in the test build of the core (assembly/testing.ts,
// build/wasmvs.test.wasm), never in the shipped one: the shipped core is what
// index.ts declares, and the test build is exactly that plus its hooks.
import { readFileSync } from 'node:fs';
import { describe, it, expect } from 'vitest';

const exportsOf = (file: string): string[] =>
  WebAssembly.Module.exports(new WebAssembly.Module(readFileSync(new URL(`../../build/${file}`, import.meta.url))))
    .filter((e) => e.kind === 'function').map((e) => e.name).sort();

const TEST_ONLY = ['connForceState'];

describe('test build of the core', () => {
  it('the shipped builds carry no test-only export and no per-packet pkt* entry', () => {
    for (const file of ['wasmvs.wasm', 'wasmvs.debug.wasm']) {
      const names = exportsOf(file);
      expect(names).toContain('gwBurst');
      for (const t of TEST_ONLY) expect(names).not.toContain(t);
      expect(names.filter((n) => n.startsWith('pkt'))).toEqual([]);
    }
  });

  it('the test build is the shipped exports plus the test hooks', () => {
    const shipped = exportsOf('wasmvs.debug.wasm');
    expect(exportsOf('wasmvs.test.wasm')).toEqual([...shipped, ...TEST_ONLY].sort());
  });
});
