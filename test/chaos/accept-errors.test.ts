// Chaos, in process: an accept that fails once the process is out of fds.
// libuv first closes a spare fd to accept and drop the waiting connections;
// once that spare is gone (or the whole system is out: ENFILE) Node emits the
// accept error as 'error' on the server. Lost: only the connection it could
// not accept. The daemon's own servers (control socket, /metrics) must log
// or ignore it and keep listening, never die of it.
import { describe, it, expect, afterEach } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:net';
import { ControlHandler } from '../../daemon/handler.js';
import { listenControl, controlRefusals } from '../../daemon/server.js';
import { Metrics } from '../../daemon/metrics.js';
import { fetchText } from '../hosts/proxy/harness.js';
import { ask } from '../daemon/socket-client.js';
import { director } from '../helpers.js';

const acceptFailure = () => Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', syscall: 'accept' });

describe('chaos: accept failures on the daemon\'s own servers', () => {
  const closers: (() => void)[] = [];
  afterEach(() => { for (const c of closers.splice(0)) c(); });

  it('control socket: lost only the connection not accepted; logged, still listening and answering', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wasmvs-chaos-accept-'));
    closers.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'ctl.sock');
    const handler = new ControlHandler(await director(1), { size: 4096, mode: 'proxy', dataPath: 'none', abiVersion: 0x10000 });
    const logged: string[] = [];
    const server = await listenControl(path, handler, { changed: () => {}, log: (m) => logged.push(m) });
    closers.push(() => server.close());
    expect(() => server.emit('error', acceptFailure())).not.toThrow();
    expect(() => server.emit('error', acceptFailure())).not.toThrow();
    // Counted, and logged as the other refusals are: the first at once, the rest folded into one line a minute.
    expect(controlRefusals(server)!['accept-failed']).toBe(2);
    expect(logged).toEqual(['control: cannot accept a client (accept EMFILE); client refused and closed']);
    expect(await ask(path, { id: 1, op: 'hello' })).toMatchObject({ id: 1, ok: true });
  });

  it('/metrics: lost only the scrape not accepted; the next one is answered', async () => {
    const m = new Metrics(await director(1), () => [], () => new Map());
    const port = await m.listen('127.0.0.1', 0);
    closers.push(() => m.close());
    const server = (m as unknown as { server: Server }).server;
    expect(() => server.emit('error', acceptFailure())).not.toThrow();
    expect(await fetchText(`http://127.0.0.1:${port}/metrics`)).toContain('wasmvs_scheduling_failures_total');
  });
});
