// The addon's connection engine alone (native/src/engine.cc; the proxy's use
// of it is test/hosts/proxy/engine.test.ts): bad arguments are clear errors
// and never take the process down, a listener's errno comes back with its
// code, decisions for unknown ids are ignored, an accepted client is reported
// with its address and port, rejected with a reset, and close() lets go of
// every fd it opened.
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect, createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ADDON, inCI } from '../hosts/gateway/prereq.js';

const built = existsSync(ADDON);
if (!built && !inCI) console.warn(`\n*** SKIPPING engine addon suite: addon not built (${ADDON}); npm run build:native ***\n`);
const suite = describe.skipIf(!built && !inCI);

interface NativeEngine {
  listen(address: string, port: number, backlog?: number): number;
  connect(id: number, address: string, port: number, pre: Buffer | null, timeoutMs: number): void;
  abort(id: number): void;
  stats(): Record<string, number>;
  close(): void;
}
type ConnEngineClass = new (onEvents: (records: Float64Array, addrs: string[]) => void, opts?: { threads?: number }) => NativeEngine;
const Engine = () => (createRequire(import.meta.url)(ADDON) as { ConnEngine: ConnEngineClass }).ConnEngine;
const fds = () => readdirSync('/proc/self/fd').length;
const RECORD = 8;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

suite('native ConnEngine', () => {
  it('bad arguments: clear errors, the process stays up', () => {
    const E = Engine();
    expect(() => new (E as unknown as new (...a: unknown[]) => unknown)()).toThrow('onEvents function required');
    expect(() => new E(() => {}, { threads: 0 })).toThrow('threads 1-256');
    expect(() => new E(() => {}, { threads: 257 })).toThrow('threads 1-256');
    const e = new E(() => {}, { threads: 2 });
    try {
      expect(() => e.listen('not-an-address', 80)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      expect(() => e.connect(1, '10.0.0.300', 80, null, 1000)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      // Ids nobody holds: ignored.
      e.connect(12345, '127.0.0.1', 9, null, 1000);
      e.abort(777);
      e.abort(0);
      expect(e.stats()).toMatchObject({ threads: 2, conns: 0, accepted: 0 });
    } finally {
      e.close();
    }
    expect(() => e.listen('127.0.0.1', 0)).toThrow(expect.objectContaining({ code: 'ESHUTDOWN' }));
  });

  it('a port in use is EADDRINUSE; an accepted client comes with its address and port, a rejected one is reset; close() leaves no fd', async () => {
    const before = fds();
    const blocker = createServer();
    const busy = await freePort();
    await new Promise<void>((r) => blocker.listen(busy, '127.0.0.1', r));
    const accepts: { id: number; listener: number; address: string; port: number }[] = [];
    const kinds: number[] = [];
    const E = Engine();
    const e = new E((r, addrs) => {
      let a = 0;
      for (let i = 0; i < r.length; i += RECORD) {
        kinds.push(r[i + 1]);
        if (r[i + 1] === 5) accepts.push({ id: r[i], listener: r[i + 2], address: addrs[a++], port: r[i + 3] });
      }
    }, { threads: 2 });
    try {
      expect(() => e.listen('127.0.0.1', busy)).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
      const port = await freePort();
      const lid = e.listen('127.0.0.1', port);
      const c: Socket = connect({ host: '127.0.0.1', port });
      const ended = new Promise<string>((res) => { c.on('error', (x: NodeJS.ErrnoException) => res(x.code ?? '')); c.on('close', () => res('closed')); });
      await new Promise((res) => c.once('connect', res));
      for (let i = 0; i < 100 && accepts.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(accepts).toEqual([{ id: accepts[0]?.id, listener: lid, address: '127.0.0.1', port: c.localPort }]);
      // The rejection: a reset.
      e.abort(accepts[0].id);
      expect(await ended).toBe('ECONNRESET');
      for (let i = 0; i < 100 && !kinds.includes(4); i++) await new Promise((r) => setTimeout(r, 10));
      expect(kinds).toEqual([5, 4]);  // ACCEPT, then CLOSED
      expect(e.stats()).toMatchObject({ accepted: 1, closed: 1, conns: 0, undecided: 0, listeners: 2 });
    } finally {
      e.close();
      blocker.close();
    }
    for (let i = 0; i < 100 && fds() > before; i++) await new Promise((r) => setTimeout(r, 10));
    expect(fds()).toBeLessThanOrEqual(before);
  });
});
