// The control socket's directory: another local user must not be able to
// plant a socket where wasmvsd or wasmvsadm would use it. Planting a directory
// owned by someone else needs root (chown).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, rmSync, statSync, chmodSync, chownSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { socketPath, unsafeDir, privateSocketDir } from '../../daemon/paths.js';
import { requireBuild, wasmvsadm, WASMVSD } from './daemon.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot && process.env.CI === 'true') throw new Error('socket-dir suite: must run as root in CI (chown to another uid)');
if (!isRoot) console.warn('SKIPPING the socket-dir cases that chown: not root');
const OTHER = 4242;

function daemonExit(args: string[]): Promise<{ code: number | null; log: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [WASMVSD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    p.stdout!.on('data', (d) => { log += d; });
    p.stderr!.on('data', (d) => { log += d; });
    const t = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.once('close', (code) => { clearTimeout(t); resolve({ code, log }); });
  });
}

describe('control socket directory', () => {
  let dir: string;
  beforeAll(() => { requireBuild(); dir = mkdtempSync(join(tmpdir(), 'wasmvs-sockdir-')); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('defaults to $XDG_RUNTIME_DIR/wasmvs for a user, /tmp/wasmvs-UID without it', () => {
    expect(socketPath(undefined, { XDG_RUNTIME_DIR: '/run/user/1000' }, 1000)).toBe('/run/user/1000/wasmvs/wasmvsd.sock');
    expect(socketPath(undefined, {}, 1000)).toBe(join(tmpdir(), 'wasmvs-1000', 'wasmvsd.sock'));
  });

  it('creates a missing directory with mode 0700', () => {
    const d = join(dir, 'fresh', 'wasmvs');
    privateSocketDir(d);
    expect(statSync(d).mode & 0o777).toBe(0o700);
    expect(unsafeDir(d, [process.getuid!()])).toBeNull();
  });

  it('refuses a group- or other-writable directory (unless sticky and ours or root\'s), and a symlink', () => {
    const g = join(dir, 'group');
    mkdirSync(g, { mode: 0o700 });
    chmodSync(g, 0o770);
    expect(() => privateSocketDir(g)).toThrow(`refusing the control socket directory: ${g} is writable by its group (mode 0770)`);
    // Sticky and root's or ours (like /tmp): nobody can replace our socket there.
    chmodSync(g, 0o1777);
    expect(() => privateSocketDir(g, undefined, join(g, 'wasmvsd.sock'))).not.toThrow();
    const o = join(dir, 'other');
    mkdirSync(o);
    chmodSync(o, 0o702);
    expect(() => privateSocketDir(o)).toThrow(`${o} is writable by other users (mode 0702)`);
    const l = join(dir, 'link');
    symlinkSync(join(dir, 'fresh'), l);
    expect(() => privateSocketDir(l)).toThrow(`${l} is a symbolic link`);
  });

  it.skipIf(!isRoot)('wasmvsd refuses a directory another user made, exits non-zero; wasmvsadm will not talk through it', async () => {
    const planted = join(dir, 'planted');
    mkdirSync(planted, { mode: 0o700 });
    chownSync(planted, OTHER, OTHER);
    const sock = join(planted, 'wasmvsd.sock');
    const r = await daemonExit(['proxy', '--socket', sock, '--state', join(dir, 'state.rules')]);
    expect(r.code).toBe(1);
    expect(r.log).toContain(`refusing the control socket directory: ${planted} is owned by uid ${OTHER}, not by uid ${process.getuid!()}`);
    const adm = await wasmvsadm(['-A', '-t', '198.18.0.1:80'], { WASMVS_SOCKET: sock });
    expect(adm.code).toBe(2);
    expect(adm.err).toContain(`wasmvsadm: refusing the control socket ${sock}: ${planted} is owned by uid ${OTHER}`);
 
    // In a sticky directory such as /tmp, a socket file someone else left there is refused.
    const sticky = join(dir, 'sticky');
    mkdirSync(sticky);
    chmodSync(sticky, 0o1777);
    const stale = join(sticky, 'wasmvsd.sock');
    writeFileSync(stale, '');
    chownSync(stale, OTHER, OTHER);
    const r2 = await daemonExit(['proxy', '--socket', stale, '--state', join(dir, 'state2.rules')]);
    expect(r2.code).toBe(1);
    expect(r2.log).toContain(`${stale} belongs to uid ${OTHER}`);
    expect((await wasmvsadm(['-L', '-n'], { WASMVS_SOCKET: stale })).err).toContain(`${stale} belongs to uid ${OTHER}`);
  });
});
