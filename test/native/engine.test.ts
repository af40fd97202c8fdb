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
  flush?(): void;
  close(): void;
}
type ConnEngineClass = new (onEvents: (records: Float64Array, addrs: string[]) => void, opts?: { threads?: number; inline?: boolean; maxUndecided?: number; reportMs?: number }) => NativeEngine;
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

  it.each([false, true])('a port in use is EADDRINUSE; an accepted client comes with its address and port, a rejected one is reset; close() leaves no fd (inline %s)', async (inline) => {
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
    }, { threads: 2, inline });
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

  it.each([true, false])('events of decided connections wait for the next client to decide (ahead of it in the same batch) or a flush, not for their own call (inline %s: the main thread\'s pump, else a thread\'s)', async (inline) => {
    const echo = createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const echoPort = (echo.address() as { port: number }).port;
    const batches: number[][] = [];
    const E = Engine();
    let e: NativeEngine | undefined = undefined;
    // reportMs far away: only a client to decide or flush() may deliver the held events.
    e = new E((r) => {
      const kinds: number[] = [];
      for (let i = 0; i < r.length; i += RECORD) {
        kinds.push(r[i + 1]);
        if (r[i + 1] === 5) e!.connect(r[i], '127.0.0.1', echoPort, null, 2000);
      }
      batches.push(kinds);
    }, { threads: 1, inline, reportMs: 60_000 });
    const talk = (port: number) => new Promise<string>((res, rej) => {
      const c = connect({ host: '127.0.0.1', port });
      let got = '';
      c.on('data', (d) => { got += d; if (got.length >= 2) c.end(); });
      c.on('close', () => res(got));
      c.on('error', rej);
      c.write('hi');
    });
    try {
      const port = await freePort();
      e.listen('127.0.0.1', port);
      expect(await talk(port)).toBe('hi');
      await new Promise((r) => setTimeout(r, 100));  // the engine has seen both sides close by now
      // Only the ACCEPT was delivered: ESTABLISHED, the FINs and CLOSED are held.
      expect(batches.flat()).toEqual([5]);
      // The next client's ACCEPT brings them, ahead of it, in one batch.
      expect(await talk(port)).toBe('hi');
      const second = batches[1];
      expect(second[second.length - 1]).toBe(5);
      expect(second.slice(0, -1)).toContain(6);  // ESTABLISHED
      expect(second.slice(0, -1)).toContain(4);  // CLOSED
      expect(batches).toHaveLength(2);
      await new Promise((r) => setTimeout(r, 100));
      // flush() hands over the second connection's events now, synchronously.
      e.flush!();
      expect(batches).toHaveLength(3);
      expect(batches[2]).toContain(6);
      expect(batches[2]).toContain(4);
      expect(batches[2]).not.toContain(5);
      e.flush!();
      expect(batches).toHaveLength(3);  // nothing left: no empty batch
    } finally {
      e.close();
      echo.close();
    }
  });

  it.each([1, 2])('inline, %i pump(s): clients decided inside the callback are connected and echoed through every pump; the engine does not hold the process open', async (threads) => {
    const before = fds();
    const echo = createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const echoPort = (echo.address() as { port: number }).port;
    const kinds = new Map<number, number>();
    const ids = new Set<number>();
    const E = Engine();
    let e: NativeEngine | undefined = undefined;
    e = new E((r) => {
      for (let i = 0; i < r.length; i += RECORD) {
        const k = r[i + 1];
        kinds.set(k, (kinds.get(k) ?? 0) + 1);
        // The decision, made while the batch is delivered (as the proxy decides).
        if (k === 5) { ids.add(r[i]); e!.connect(r[i], '127.0.0.1', echoPort, null, 2000); }
      }
    }, { threads, inline: true });
    try {
      const port = await freePort();
      e.listen('127.0.0.1', port);
      const N = 40;
      const replies = await Promise.all(Array.from({ length: N }, (_, n) => new Promise<string>((res, rej) => {
        const c = connect({ host: '127.0.0.1', port });
        let got = '';
        c.on('data', (d) => { got += d; if (got.length >= 6) c.end(); });
        c.on('close', () => res(got));
        c.on('error', rej);
        c.write(`hi${String(n).padStart(4, '0')}`);
      })));
      expect(replies).toEqual(Array.from({ length: N }, (_, n) => `hi${String(n).padStart(4, '0')}`));
      for (let i = 0; i < 200 && (kinds.get(4) ?? 0) < N; i++) await new Promise((r) => setTimeout(r, 10));
      expect(kinds.get(5)).toBe(N);  // ACCEPT
      expect(kinds.get(6)).toBe(N);  // ESTABLISHED
      expect(kinds.get(4)).toBe(N);  // CLOSED
      // Ids come from every pump (id - 1) % threads.
      expect(new Set([...ids].map((id) => (id - 1) % threads)).size).toBe(threads);
      expect(e.stats()).toMatchObject({ threads, accepted: N, conns: 0, undecided: 0 });
    } finally {
      e.close();
      echo.close();
    }
    for (let i = 0; i < 100 && fds() > before; i++) await new Promise((r) => setTimeout(r, 10));
    expect(fds()).toBeLessThanOrEqual(before);
    // A process whose only handle is an engine (listening, inline pump polled on its loop) ends by itself.
    const script = `const E = require(${JSON.stringify(ADDON)}).ConnEngine; const e = new E(() => {}, { threads: ${threads}, inline: true }); e.listen('127.0.0.1', 0); setTimeout(() => console.log('end'), 50);`;
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync(process.execPath, ['-e', script], { timeout: 10_000, encoding: 'utf8' });
    expect(r.error).toBeUndefined();
    expect(r.stdout.trim()).toBe('end');
    expect(r.status).toBe(0);
  });

  // A direction is read only after an edge of its source (Conn::rd): a real server that speaks first,
  // at once or later, and a conversation of many turns each way must still move every byte.
  it.each([[1, 0], [1, 40], [2, 0], [2, 40]])('%i pump(s), a real server that greets %i ms after accepting, then a conversation of turns: every byte both ways', async (threads, delayMs) => {
    const server = createServer((s) => {
      setTimeout(() => s.write('HELLO\n'), delayMs);
      let buf = '';
      s.on('data', (d) => {
        buf += d;
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line === 'QUIT') s.end('BYE\n'); else s.write(`${line.toUpperCase()}\n`);
        }
      });
      s.on('error', () => {});
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const serverPort = (server.address() as { port: number }).port;
    const E = Engine();
    let e: NativeEngine | undefined = undefined;
    e = new E((r) => {
      for (let i = 0; i < r.length; i += RECORD) if (r[i + 1] === 5) e!.connect(r[i], '127.0.0.1', serverPort, null, 2000);
    }, { threads, inline: true });
    try {
      const port = await freePort();
      e.listen('127.0.0.1', port);
      const talk = () => new Promise<string>((res, rej) => {
        const c = connect({ host: '127.0.0.1', port });
        let got = '', turn = 0;
        // The client says nothing before the greeting; then one line per reply, QUIT after five.
        c.on('data', (d) => {
          got += d;
          const lines = got.split('\n').length - 1;
          if (lines > turn) { turn = lines; c.write(turn <= 5 ? `turn ${turn}\n` : 'QUIT\n'); }
        });
        c.on('end', () => c.end());
        c.on('close', () => res(got));
        c.on('error', rej);
        c.setTimeout(5000, () => rej(new Error(`stalled after ${JSON.stringify(got)}`)));
      });
      const all = await Promise.all(Array.from({ length: 12 }, talk));
      for (const got of all) expect(got).toBe('HELLO\nTURN 1\nTURN 2\nTURN 3\nTURN 4\nTURN 5\nBYE\n');
    } finally {
      e.close();
      server.close();
    }
  });

  it.each([false, true])('the cap on clients waiting for a decision pauses the listener; rejections below half of it resume it (inline %s)', async (inline) => {
    const accepted: number[] = [];
    const E = Engine();
    const e = new E((r) => {
      for (let i = 0; i < r.length; i += RECORD) if (r[i + 1] === 5) accepted.push(r[i]);
    }, { threads: 1, inline, maxUndecided: 4 });
    const clients: Socket[] = [];
    const settle = async (want: number) => {
      for (let i = 0; i < 200 && accepted.length < want; i++) await new Promise((r) => setTimeout(r, 10));
      // Long enough for a listener that was not paused to take one more (it polls every round).
      await new Promise((r) => setTimeout(r, 100));
    };
    try {
      const port = await freePort();
      e.listen('127.0.0.1', port);
      // Ten clients: the kernel completes every handshake (backlog), the engine accepts four and waits.
      for (let n = 0; n < 10; n++) {
        const c = connect({ host: '127.0.0.1', port });
        c.on('error', () => {});
        clients.push(c);
      }
      await settle(4);
      expect(accepted.length).toBe(4);
      expect(e.stats()).toMatchObject({ undecided: 4, accepted: 4 });
      // Every waiting client rejected (as an overloaded proxy rejects): the listener takes the next ones.
      for (const id of accepted.splice(0)) e.abort(id);
      await settle(4);
      expect(accepted.length).toBe(4);
      expect(e.stats()).toMatchObject({ undecided: 4, accepted: 8 });
      for (const id of accepted.splice(0)) e.abort(id);
      await settle(2);
      expect(accepted.length).toBe(2);
      expect(e.stats()).toMatchObject({ undecided: 2, accepted: 10 });
    } finally {
      e.close();
      for (const c of clients) c.destroy();
    }
  });
});
