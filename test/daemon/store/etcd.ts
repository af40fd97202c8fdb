// A real etcd-server (Debian's etcd-server package) for the store tests: on
// 127.0.0.1 with free ports and a temporary data directory, stoppable and
// restartable on the same ports and data, removed afterwards.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { get } from 'node:http';
import { freePort } from '../../hosts/proxy/harness.js';

export const ETCD_BIN = '/usr/bin/etcd';

/** True when the etcd binary runs here. */
export function haveEtcd(): boolean {
  try { execFileSync(ETCD_BIN, ['--version'], { stdio: 'ignore', timeout: 10_000 }); return true; } catch { return false; }
}

export interface Etcd {
  client: string;
  url(prefix: string): string;
  /** Start it (again: same ports and data); nothing when it runs. */
  start(): Promise<void>;
  /** SIGKILL: an outage, not a clean shutdown. */
  kill(): Promise<void>;
  log(): string;
  cleanup(): Promise<void>;
}

const health = (url: string) => new Promise<boolean>((resolve) => {
  const req = get(`${url}/health`, { timeout: 1000 }, (res) => {
    let body = '';
    res.on('data', (d) => { body += d; });
    res.on('end', () => resolve(res.statusCode === 200 && body.includes('"health":"true"')));
  });
  req.on('error', () => resolve(false));
  req.on('timeout', () => { req.destroy(); resolve(false); });
});

export async function etcd(): Promise<Etcd> {
  const dir = mkdtempSync(join(tmpdir(), 'wasmvs-etcd-'));
  const cport = await freePort();
  let pport = await freePort();
  while (pport === cport) pport = await freePort();
  const client = `127.0.0.1:${cport}`;
  let proc: ChildProcess | null = null;
  let log = '';
  const e: Etcd = {
    client,
    url: (prefix) => `etcd://${client}/${prefix}`,
    async start() {
      if (proc && proc.exitCode === null) return;
      proc = spawn(ETCD_BIN, [
        '--name', 'wasmvs-test', '--data-dir', join(dir, 'data'),
        '--listen-client-urls', `http://${client}`, '--advertise-client-urls', `http://${client}`,
        '--listen-peer-urls', `http://127.0.0.1:${pport}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${pport}`,
        '--initial-cluster', `wasmvs-test=http://127.0.0.1:${pport}`, '--log-level', 'error', '--logger', 'zap',
      ], { stdio: ['ignore', 'pipe', 'pipe'] });
      proc.stdout!.on('data', (d) => { log += d; });
      proc.stderr!.on('data', (d) => { log += d; });
      for (let i = 0; i < 200; i++) {
        if (proc.exitCode !== null) break;
        if (await health(`http://${client}`)) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`etcd did not become healthy on ${client}: ${log.slice(-2000)}`);
    },
    async kill() {
      const p = proc;
      if (!p || p.exitCode !== null) return;
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await gone;
      proc = null;
    },
    log: () => log,
    async cleanup() {
      await e.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await e.start();
  return e;
}
