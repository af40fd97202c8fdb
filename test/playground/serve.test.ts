// The playground server's command line: a port option, and a clear message
// (not a stack trace) when the port is taken.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { portArg } from '../../scripts/serve-playground.mjs';

const script = join(import.meta.dirname, '../../scripts/serve-playground.mjs');

describe('serve-playground', () => {
  it('reads the port as an argument or --port', () => {
    expect(portArg([])).toBe(5173);
    expect(portArg(['8080'])).toBe(8080);
    expect(portArg(['--port', '0'])).toBe(0);
    expect(portArg(['--port=9000'])).toBe(9000);
    expect(portArg(['--port', 'x'])).toBeNull();
    expect(portArg(['70000'])).toBeNull();
  });

  it('a port in use: one line saying so and how to pick another, exit 1', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as { port: number }).port;
    try {
      const r = spawnSync(process.execPath, [script, '--port', String(port)], { encoding: 'utf8', timeout: 20_000 });
      expect(r.status).toBe(1);
      expect(r.stderr.trim()).toBe(`serve-playground: port ${port} is in use; choose another: npm run playground -- --port 8080 (0 picks a free one)`);
    } finally {
      taken.close();
    }
  });

  it('a bad port: usage, exit 2', () => {
    const r = spawnSync(process.execPath, [script, '--port', 'abc'], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('usage: npm run playground -- --port 8080');
  });
});
