// Chaos, seen from wasmvsadm: the daemon dies between reading a request and
// answering it (a stand-in daemon that reads one line and drops the
// connection, as a SIGKILL at that instant would). The change may have been
// applied and made durable without a reply, so wasmvsadm must not say
// "Can't initialize ipvs" (nothing happened); it says the outcome is unknown.
import { describe, it, expect, afterEach } from 'vitest';
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBuild, wasmvsadm } from '../daemon/daemon.js';

const LOST = /^wasmvsd: connection lost before the answer \((the daemon closed the connection|ECONNRESET|EPIPE)\); a change it carried may or may not have been applied: check with -L or -S\n/;

describe('chaos: the daemon gone between a request and its answer', () => {
  let dir = '';
  let server: Server | null = null;
  afterEach(async () => {
    if (server) await new Promise<void>((r) => server!.close(() => r()));
    server = null;
    rmSync(dir, { recursive: true, force: true });
  });

  /** A socket that takes one request line, then drops the connection. */
  async function dropAfterOneLine(): Promise<string> {
    dir = mkdtempSync(join(tmpdir(), 'wasmvs-chaos-lost-'));
    const path = join(dir, 'wasmvsd.sock');
    server = createServer((s: Socket) => {
      s.on('error', () => {});
      s.on('data', (d) => { if (String(d).includes('\n')) s.destroy(); });
    });
    await new Promise<void>((r) => server!.listen(path, r));
    return path;
  }

  it('-A: lost nothing it can know of; says the change may have been applied, exit 255', async () => {
    requireBuild();
    const path = await dropAfterOneLine();
    const r = await wasmvsadm(['-A', '-t', '198.18.0.1:80'], { WASMVS_SOCKET: path });
    expect(r.err).toMatch(LOST);
    expect(r.code).toBe(255);
  });

  it('-R: the cut-off request is reported as unknown, not as a daemon that never ran', async () => {
    requireBuild();
    const path = await dropAfterOneLine();
    const r = await wasmvsadm(['-R'], { WASMVS_SOCKET: path }, '-A -t 198.18.0.1:80\n-a -t 198.18.0.1:80 -r 198.18.1.1:80 -m\n');
    expect(r.err).toMatch(LOST);
    expect(r.code).not.toBe(0);
  });
});
