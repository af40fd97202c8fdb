// The control socket's bounds, on real unix sockets against a server in this
// process (small bounds, so each limit is reached in a few MB): a line too
// long, too much data in flight, too many clients, a stalled reader; and a
// listing written in pieces is byte for byte the one-line reply.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:net';
import { ControlHandler } from '../../daemon/handler.js';
import { listenControl, controlRefusals } from '../../daemon/server.js';
import { replyPieces } from '../../daemon/reply-stream.js';
import { ControlClient } from '../../cli/client.js';
import { RemoteError } from '../../ipvsadm/run.js';
import type { Reply } from '../../ipvsadm/protocol.js';
import { director } from '../helpers.js';
import { floodLine, stuckReader, ask, open } from './socket-client.js';

const MiB = 1 << 20;

describe('control socket bounds (in process)', () => {
  let dir: string, path: string, server: Server, handler: ControlHandler;
  const logged: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wasmvs-bounds-'));
    path = join(dir, 'ctl.sock');
    const d = await director(1);
    handler = new ControlHandler(d, { size: 4096, mode: 'proxy', dataPath: 'none', abiVersion: 0x10000 });
    const cmds = [];
    for (let i = 0; i < 5000; i++) cmds.push({ op: 'add-service' as const, svc: { protocol: 'tcp' as const, address: `198.18.${i >> 8}.${i & 255}`, port: 80 }, opts: {} });
    handler.apply(cmds, false);
    server = await listenControl(path, handler, { changed: () => {}, log: (m) => logged.push(m) },
      { maxLineBytes: 4 * MiB, maxPendingBytes: 6 * MiB, maxClients: 4, stallMs: 300, answerStallMs: 300, chunkBytes: 16 * 1024 });
  });
  afterAll(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a line past maxLineBytes: an error reply, the connection closed, logged once', async () => {
    const before = controlRefusals(server)!['line-too-long'];
    const f = await floodLine(path, 64 * MiB);
    expect(f.reply).toMatch(/"code":"EBADREQUEST".*request line too long \(limit 4194304 bytes\)/);
    expect(f.closed).toBe(true);
    expect(f.sent).toBeLessThan(16 * MiB);
    await floodLine(path, 64 * MiB);
    expect(controlRefusals(server)!['line-too-long']).toBe(before + 2);
    expect(logged.filter((m) => m.includes('request line too long'))).toHaveLength(1);
    // The daemon keeps serving.
    expect(await ask(path, { id: 1, op: 'timeouts' })).toMatchObject({ id: 1, ok: true });
  });

  it('unfinished lines of all clients together are bounded: the client that passes the budget is refused', async () => {
    const floods = await Promise.all([0, 1, 2].map(() => floodLine(path, 64 * MiB)));
    for (const f of floods) {
      expect(f.closed).toBe(true);
      expect(f.reply).toMatch(/request line too long|too much request data in flight/);
    }
    expect(controlRefusals(server)!.busy).toBeGreaterThan(0);
  });

  it('past maxClients a client gets an error reply and is closed; the others keep working', async () => {
    const idle = await Promise.all([0, 1, 2, 3].map(() => open(path)));
    try {
      const r = await ask(path, { id: 2, op: 'hello' }).catch((e: Error) => ({ error: e.message }));
      expect(JSON.stringify(r)).toContain('too many control clients (limit 4)');
    } finally {
      for (const s of idle) s.destroy();
    }
    // Bounded wait for the server to see the closes.
    for (let i = 0; i < 100; i++) {
      const r = await ask(path, { id: 3, op: 'hello' }).catch(() => null);
      if (r && r.ok === true) return;
      await new Promise((res) => setTimeout(res, 20));
    }
    throw new Error('the server did not free the slots of closed clients');
  });

  it('a client that never reads its answers holds one answer, does not stall others, and is cut when it stalls', async () => {
    const before = controlRefusals(server)!.stalled;
    const list = JSON.stringify({ id: 9, op: 'list' }) + '\n';
    const stuck = await stuckReader(path, Array.from({ length: 2000 }, () => list));
    try {
      // Others are answered, listings included, while the stuck one waits.
      for (let i = 0; i < 3; i++) {
        const r = await ask(path, { id: 10 + i, op: 'list' });
        expect((r.services as unknown[]).length).toBe(5000);
      }
      // A paused client does not see the close; the server's count does (bounded poll).
      for (let i = 0; i < 200 && controlRefusals(server)!.stalled === before; i++) await new Promise((r) => setTimeout(r, 50));
      expect(controlRefusals(server)!.stalled).toBe(before + 1);
      expect(logged.filter((m) => m.includes('client stalled'))).toHaveLength(1);
    } finally {
      stuck.destroy();
    }
  });

  it('two stuck readers hold both listing turns only until their answers stall; a third listing is answered', async () => {
    const before = controlRefusals(server)!.stalled;
    const list = JSON.stringify({ id: 9, op: 'list' }) + '\n';
    const stuck = await Promise.all([0, 1].map(() => stuckReader(path, [list, list])));
    try {
      // Bounded wait until both hold a turn and are blocked on their answers.
      await new Promise((r) => setTimeout(r, 50));
      const r = await ask(path, { id: 30, op: 'list' });
      expect((r.services as unknown[]).length).toBe(5000);
      for (let i = 0; i < 200 && controlRefusals(server)!.stalled < before + 2; i++) await new Promise((res) => setTimeout(res, 50));
      expect(controlRefusals(server)!.stalled).toBe(before + 2);
    } finally {
      for (const s of stuck) s.destroy();
    }
  });

  it('a listing written in pieces is exactly the one-line reply', () => {
    const reply = handler.handle({ id: 4, op: 'list' }) as Reply;
    const pieces = [...replyPieces(reply, 8 * 1024)];
    expect(pieces.length).toBeGreaterThan(10);
    expect(pieces.join('')).toBe(JSON.stringify(reply) + '\n');
    const small = handler.handle({ id: 5, op: 'timeouts' }) as Reply;
    expect([...replyPieces(small, 8)]).toEqual([JSON.stringify(small) + '\n']);
  });

  it('wasmvsadm refuses a request over the line bound before connecting', async () => {
    const client = new ControlClient(join(dir, 'nobody-listens.sock'));
    const cmd = { op: 'add-service', svc: { protocol: 'tcp', address: '198.18.0.1', port: 80 }, opts: { scheduler: 'wlc' } };
    const cmds = Array.from({ length: 700_000 }, () => cmd) as never[];
    const e = await client.apply(cmds, true).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RemoteError);
    expect((e as RemoteError).info).toMatchObject({ code: 'E2BIG' });
    expect((e as RemoteError).message).toMatch(/^wasmvsd: request too large \(\d+ bytes, limit 67108864\)/);
  });
});
