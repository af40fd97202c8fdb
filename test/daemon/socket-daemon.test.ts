// The control socket's bounds against a real wasmvsd with its default
// bounds: clients sending endless lines are refused and the daemon's memory
// stays bounded; a client that never reads big answers stalls nobody.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBuild, startDaemon, wasmvsadm, type Daemon } from './daemon.js';
import { floodLine, stuckReader, ask, memoryOf } from './socket-client.js';
import { MAX_LINE_BYTES } from '../../ipvsadm/protocol.js';

const MiB = 1 << 20;

describe('wasmvsd control socket bounds', () => {
  let dir: string, sock: string;
  let daemon: Daemon;

  beforeAll(async () => {
    requireBuild();
    dir = mkdtempSync(join(tmpdir(), 'wasmvs-sockbounds-'));
    sock = join(dir, 'wasmvsd.sock');
    daemon = await startDaemon(['proxy', '--socket', sock, '--state', join(dir, 'rules')], sock);
    // 5,000 services: a listing of about 1 MB, far more than a socket buffer holds.
    const lines: string[] = [];
    for (let i = 0; i < 5000; i++) lines.push(`-A -t 198.18.${i >> 8}.${i & 255}:80 -s wlc`);
    expect(await wasmvsadm(['-R'], { WASMVS_SOCKET: sock }, lines.join('\n') + '\n')).toEqual({ code: 0, out: '', err: '' });
  }, 60_000);
  afterAll(async () => {
    daemon.proc.kill('SIGKILL');
    await daemon.exited;
    rmSync(dir, { recursive: true, force: true });
  });

  it('four clients sending endless lines are refused at the line bound; RSS stays bounded', async () => {
    const base = memoryOf(daemon.proc.pid!).rss;
    const floods = await Promise.all([0, 1, 2, 3].map(() => floodLine(sock, 4 * MAX_LINE_BYTES)));
    for (const f of floods) {
      expect(f.closed).toBe(true);
      expect(f.reply).toMatch(/"ok":false.*(request line too long|too much request data in flight)/);
      // Refused once past the bound (plus what sits in socket buffers), long before 4x.
      expect(f.sent).toBeLessThanOrEqual(MAX_LINE_BYTES + 8 * MiB);
    }
    const { peak } = memoryOf(daemon.proc.pid!);
    // Unfinished lines of all clients together stay under 2 x MAX_LINE_BYTES (128 MiB);
    // before the bound, four clients took the daemon to 1.26 GB.
    expect(peak - base).toBeLessThan(400);
    expect(daemon.log()).toMatch(/control: request line too long \(limit 67108864 bytes\); client refused and closed/);
    expect(await ask(sock, { id: 1, op: 'hello' })).toMatchObject({ id: 1, ok: true });
  }, 60_000);

  it('a client that never reads 1,000 listings holds one: others are served, memory stays flat', async () => {
    const base = memoryOf(daemon.proc.pid!).rss;
    const list = JSON.stringify({ id: 9, op: 'list' }) + '\n';
    const stuck = await stuckReader(sock, Array.from({ length: 1000 }, () => list));
    try {
      for (let i = 0; i < 3; i++) {
        const r = await ask(sock, { id: 20 + i, op: 'list' });
        expect((r.services as unknown[]).length).toBe(5000);
        expect((await wasmvsadm(['-L', '-t', '198.18.0.7:80', '-n'], { WASMVS_SOCKET: sock })).code).toBe(0);
      }
      // 1,000 listings of about 1 MB each would be 1 GB if they were all answered into memory.
      expect(memoryOf(daemon.proc.pid!).rss - base).toBeLessThan(200);
    } finally {
      stuck.destroy();
    }
  }, 60_000);
});
