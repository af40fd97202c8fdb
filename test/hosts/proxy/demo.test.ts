// The README's main command: `npm start` runs the built-in demo. Once mode
// answers a few requests and exits 0; the live mode answers a request
// through the VIP, talks to wasmvsadm, and stops cleanly on SIGINT.
import { describe, it, expect } from 'vitest';
import { spawn, execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { get } from 'node:http';
import { freePort, until } from './harness.js';
import { WASMVSADM } from '../../daemon/daemon.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DEMO = `${ROOT}dist/demo/demo.js`;

function requireDemo(): void {
  if (!existsSync(DEMO)) throw new Error('dist/demo/demo.js is missing: run `npm run build:sdk` first');
}

function httpGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let b = '';
      res.on('data', (c) => { b += c; });
      res.on('end', () => resolve(b));
    }).on('error', reject);
  });
}

describe('npm start: the built-in demo', () => {
  it('WASMVS_DEMO_ONCE=1: requests balanced over three backends, exit 0', async () => {
    requireDemo();
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = execFile(process.execPath, [DEMO], {
        env: { ...process.env, WASMVS_DEMO_ONCE: '1', WASMVS_DEMO_PORT: '0', WASMVS_DEMO_PRIVATE_SOCKET: '1' }, timeout: 60_000,
      }, (_e, out) => resolve({ code: child.exitCode, out }));
    });
    expect(r.code).toBe(0);
    const answers = r.out.split('\n').filter((x) => x.startsWith('  hello from backend-'));
    expect(answers.length).toBe(6);
    expect(new Set(answers).size).toBe(3);
    expect(r.out).toContain('Prot LocalAddress:Port Scheduler Flags');
    expect(r.out).toMatch(/TCP {2}127\.0\.0\.1:\d+ wlc/);
  });

  it('live mode: answers through the VIP, wasmvsadm sees it, SIGINT stops it with exit 0', async () => {
    requireDemo();
    const port = await freePort();
    const child = spawn(process.execPath, [DEMO], {
      env: { ...process.env, WASMVS_DEMO_PORT: String(port), WASMVS_DEMO_PRIVATE_SOCKET: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d) => { out += d; });
    child.stderr!.on('data', (d) => { out += d; });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      await until(() => out.includes('Ctrl-C stops the demo.'), 'demo view');
      expect(await httpGet(port)).toMatch(/^hello from backend-[abc]\n$/);
      const sock = /export WASMVS_SOCKET=(\S+)/.exec(out)![1];
      const adm = (...args: string[]) => new Promise<string>((resolve) => execFile(process.execPath, [WASMVSADM, ...args],
        { env: { ...process.env, WASMVS_SOCKET: sock }, timeout: 30_000 }, (_e, o) => resolve(o)));
      expect(await adm('-L', '-n')).toContain(`TCP  127.0.0.1:${port} wlc`);
      const b = /backend-b = 127\.0\.0\.1:(\d+)/.exec(out)![1];
      expect(await adm('--drain', '-t', `127.0.0.1:${port}`, '-r', `127.0.0.1:${b}`)).toMatch(/: (draining|drained), /);
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(existsSync(sock)).toBe(false);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
