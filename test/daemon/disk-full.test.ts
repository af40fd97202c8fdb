// A real full disk under a real daemon: the state file on a small tmpfs.
// Whatever the disk refuses is refused to the client and not applied; the
// daemon survives a failing compaction; after kill -9 the last acknowledged
// configuration comes back whole. Needs root (mount).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, readFileSync, statfsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBuild, startDaemon, wasmvsadm, type Daemon } from './daemon.js';
import { tmpfsProblem } from '../chaos/kit.js';

const missing = tmpfsProblem();
if (missing && process.env.CI === 'true') throw new Error(`disk-full suite: ${missing} (required in CI)`);
if (missing) console.warn(`SKIPPING disk-full suite: ${missing}`);

/** `n` -R lines: services of three real servers each (about 45 bytes a line). */
function restoreLines(n: number, net = 1): string[] {
  const out: string[] = [];
  for (let s = 0; out.length < n; s++) {
    const vip = `198.18.${net}.${s % 250}:${80 + Math.floor(s / 250)}`;
    out.push(`-A -t ${vip} -s rr`);
    for (let d = 1; d <= 3 && out.length < n; d++) out.push(`-a -t ${vip} -r 198.19.${s % 250}.${d}:8080 -m -w ${d}`);
  }
  return out;
}

describe.skipIf(missing !== null)('wasmvsd on a full disk', () => {
  let dir: string, disk: string, sock: string, state: string;
  let daemon: Daemon | null = null;
  const env = () => ({ WASMVS_SOCKET: sock });
  const mount = (size: string) => execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', disk]);
  const start = async () => { daemon = await startDaemon(['proxy', '--socket', sock, '--state', state], sock); };
  const kill9 = async () => { daemon!.proc.kill('SIGKILL'); await daemon!.exited; daemon = null; };

  beforeAll(() => {
    requireBuild();
    dir = mkdtempSync(join(tmpdir(), 'wasmvs-disk-'));
    disk = join(dir, 'disk');
    mkdirSync(disk);
    sock = join(dir, 'wasmvsd.sock');
    state = join(disk, 'wasmvsd.rules');
  });
  afterAll(() => {
    daemon?.proc.kill('SIGKILL');
    try { execFileSync('umount', [disk], { stdio: 'pipe' }); } catch { /* not mounted */ }
    rmSync(dir, { recursive: true, force: true });
  });

  it('a -R bigger than the disk is refused, not applied, and not half-saved', async () => {
    mount('64k');
    try {
      await start();
      expect(await wasmvsadm(['-A', '-t', '198.18.0.1:80', '-s', 'lc'], env())).toEqual({ code: 0, out: '', err: '' });
      const acked = await wasmvsadm(['-S', '-n'], env());
      // 4,199 lines, about 190 KB: three times the disk.
      const r = await wasmvsadm(['-R'], env(), restoreLines(4199).join('\n') + '\n');
      expect(r.code).not.toBe(0);
      expect(r.err).toBe('wasmvsd: state file write failed: ENOSPC; command not applied\n');
      expect(daemon!.proc.exitCode).toBeNull();
      expect(await wasmvsadm(['-S', '-n'], env())).toEqual(acked);
      expect(daemon!.log()).toContain('state file write failed: ENOSPC');
      await kill9();
      await start();
      expect(await wasmvsadm(['-S', '-n'], env())).toEqual(acked);
      // The disk still works for what fits.
      expect(await wasmvsadm(['-a', '-t', '198.18.0.1:80', '-r', '198.18.1.1', '-m'], env())).toEqual({ code: 0, out: '', err: '' });
      await kill9();
    } finally {
      execFileSync('umount', [disk]);
    }
  });

  it('a read-only state file: -A is refused with the reason and the service is not live', async () => {
    mount('64k');
    try {
      await start();
      execFileSync('mount', ['-o', 'remount,ro', disk]);
      const r = await wasmvsadm(['-A', '-t', '198.18.0.5:80'], env());
      expect(r).toEqual({ code: 255, out: '', err: 'wasmvsd: state file write failed: EROFS; command not applied\n' });
      expect((await wasmvsadm(['-L', '-n', '-t', '198.18.0.5:80'], env())).err).toBe('No such service\n');
      await kill9();
    } finally {
      execFileSync('umount', [disk]);
    }
  });

  it('a compaction that hits the full disk is logged, the daemon lives on, nothing acknowledged is lost', async () => {
    mount('512k');
    try {
      await start();
      expect((await wasmvsadm(['-A', '-t', '198.18.0.1:80', '-s', 'rr'], env())).code).toBe(0);
      // Leave room for the journal of a 4,100-line -R (~185 KB) but not for the compaction after it.
      const free = () => statfsSync(disk).bavail * statfsSync(disk).bsize;
      writeFileSync(join(disk, 'filler'), Buffer.alloc(free() - 260 * 1024));
      const r = await wasmvsadm(['-R'], env(), restoreLines(4100, 2).join('\n') + '\n');
      expect(r).toEqual({ code: 0, out: '', err: '' });
      const acked = await wasmvsadm(['-S', '-n'], env());
      expect(acked.out.split('\n').length).toBe(4102);
      // Compaction runs after the reply: wait (bounded) for its log line.
      for (let i = 0; i < 100 && !daemon!.log().includes('compaction failed'); i++) await new Promise((res) => setTimeout(res, 50));
      expect(daemon!.log()).toContain('state file compaction failed: ENOSPC');
      expect(daemon!.proc.exitCode).toBeNull();
      expect(await wasmvsadm(['-S', '-n'], env())).toEqual(acked);
      await kill9();
      await start();
      expect(await wasmvsadm(['-S', '-n'], env())).toEqual(acked);
      expect(readFileSync(state, 'utf8').split('\n').length).toBe(4102);
      await kill9();
    } finally {
      execFileSync('umount', [disk]);
    }
  });
});
