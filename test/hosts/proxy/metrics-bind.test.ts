// WASMVS_METRICS without an address serves /metrics on loopback only: an
// empty host would have Node listen on every interface.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { metricsEndpoint } from '../../../daemon/metrics.js';
import { requireBuild, startDaemon } from '../../daemon/daemon.js';

/** Local addresses (hex, as /proc/net/tcp* write them) listening on `port`. */
function listenersOn(port: number): string[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const out: string[] = [];
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(f, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // st 0A = LISTEN
      if (cols.length > 3 && cols[3] === '0A' && cols[1].endsWith(`:${hexPort}`)) out.push(cols[1].split(':')[0]);
    }
  }
  return out;
}

describe('WASMVS_METRICS address', () => {
  it('parses :PORT and PORT as loopback; an explicit address is kept', () => {
    expect(metricsEndpoint(':9469')).toEqual({ host: '127.0.0.1', port: 9469 });
    expect(metricsEndpoint('9469')).toEqual({ host: '127.0.0.1', port: 9469 });
    expect(metricsEndpoint('0.0.0.0:9469')).toEqual({ host: '0.0.0.0', port: 9469 });
    expect(metricsEndpoint('[::1]:9469')).toEqual({ host: '::1', port: 9469 });
    expect(metricsEndpoint('198.18.0.1:80')).toEqual({ host: '198.18.0.1', port: 80 });
    expect(metricsEndpoint(undefined)).toBeUndefined();
    expect(metricsEndpoint('')).toBeUndefined();
    expect(metricsEndpoint(':70000')).toBeUndefined();
    expect(metricsEndpoint('host:')).toBeUndefined();
  });

  it('wasmvsd proxy with WASMVS_METRICS=:PORT listens on 127.0.0.1 only', async () => {
    requireBuild();
    const dir = mkdtempSync(join(tmpdir(), 'wasmvs-metrics-'));
    const sock = join(dir, 'wasmvsd.sock');
    const saved = process.env.WASMVS_METRICS;
    process.env.WASMVS_METRICS = ':0';
    let daemon: Awaited<ReturnType<typeof startDaemon>> | null = null;
    try {
      daemon = await startDaemon(['proxy', '--socket', sock, '--state', join(dir, 'rules')], sock);
      const re = /"address":"([^"]*):(\d+)","msg":"metrics on \/metrics"/;
      for (let i = 0; i < 200 && !re.test(daemon.log()); i++) await new Promise((r) => setTimeout(r, 50));
      const m = re.exec(daemon.log());
      expect(m?.[1]).toBe('127.0.0.1');
      // 0100007F is 127.0.0.1; 00000000 (or :: in tcp6) would be every interface.
      expect(listenersOn(Number(m![2]))).toEqual(['0100007F']);
    } finally {
      if (saved === undefined) delete process.env.WASMVS_METRICS; else process.env.WASMVS_METRICS = saved;
      daemon?.proc.kill('SIGKILL');
      if (daemon) await daemon.exited;
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
