// Runs the example of docs/stats.md as written and checks each console.log
// against the `// value` comment on its line.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { format } from 'node:util';
import { Director } from '../../sdk/index.js';

const doc = readFileSync(new URL('../../docs/stats.md', import.meta.url), 'utf8');

function example(): string {
  const m = /```js\n([\s\S]*?)```/.exec(doc);
  if (!m) throw new Error('docs/stats.md has no js example');
  return m[1]!;
}

describe('docs/stats.md example', () => {
  it('prints what its comments say', async () => {
    const code = example();
    const importLine = "import { Director } from 'wasmvs';\n";
    expect(code.startsWith(importLine)).toBe(true);
    const expected = code.split('\n').filter((l) => l.startsWith('console.log(')).map((l) => l.split(' // ')[1]);
    const printed: string[] = [];
    const console = { log: (...args: unknown[]) => printed.push(format(...args)) };
    const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (...a: string[]) => (...v: unknown[]) => Promise<void>;
    await new AsyncFunction('Director', 'console', code.slice(importLine.length))(Director, console);
    expect(printed).toEqual(expected);
    expect(expected.length).toBe(6);
  });
});
