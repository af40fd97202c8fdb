// The Prometheus text both daemons serve, judged by Prometheus's own linter
// (`promtool check metrics`, Debian package prometheus): names, types, help and
// the counter conventions a scraper and PromQL rely on.
import { describe, it, expect, afterEach } from 'vitest';
import { spawnSync } from 'node:child_process';
import { Registry } from 'prom-client';
import { registerGatewayMetrics, type GatewaySource } from '../../../hosts/gateway/metrics.js';
import { lab, backend, freePort, ask, until, listening, fetchText, metricsPort, counter, requireBuild, type Lab, type Backend } from './harness.js';

const have = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;
if (!have && process.env.CI === 'true') throw new Error('promtool missing: apt-get install prometheus (see .ci/run)');
if (!have) console.warn('test/hosts/proxy/promtool: promtool not installed, skipped (apt-get install prometheus)');

function promtool(text: string): { code: number | null; out: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe.skipIf(!have)('promtool check metrics', () => {
  let l: Lab | undefined;
  let b: Backend | undefined;
  afterEach(async () => {
    await l?.stop();
    await b?.kill();
    l?.cleanup();
  });

  it('the linter itself rejects a total typed gauge (so a clean pass below means something)', () => {
    const bad = '# HELP x_total a total\n# TYPE x_total gauge\nx_total 1\n';
    const r = promtool(bad);
    expect(r.code, r.out).not.toBe(0);
    expect(r.out).toMatch(/non-counter metrics should not have "_total" suffix/);
  });

  it('wasmvsd proxy: every series passes, with traffic counted', async () => {
    requireBuild();
    l = lab();
    b = await backend('p0', { close: true });
    const port = await freePort();
    const dead = await freePort();
    const vip = `127.0.0.1:${port}`;
    await l.start([`-A -t ${vip} -s wlc`, `-a -t ${vip} -r 127.0.0.1:${b.port} -m`, `-a -t ${vip} -r 127.0.0.1:${dead} -m -w 0`,
      '# wasmvs-proxy metrics 127.0.0.1:0'].join('\n') + '\n');
    await listening(l, port);
    const mport = await metricsPort(l);
    for (let i = 0; i < 3; i++) expect(await ask(port)).toBe('p0');
    const url = `http://127.0.0.1:${mport}/metrics`;
    const label = `service="tcp/${vip}",dest="127.0.0.1:${b.port}"`;
    await until(async () => counter(await fetchText(url), 'wasmvs_dest_conns_total', label) === 3, 'three connections counted');
    const text = await fetchText(url);
    const r = promtool(text);
    expect(r.code, r.out).toBe(0);
    expect(r.out.trim()).toBe('');
  });

  it('wasmvsd gateway: the gateway series pass too', async () => {
    const stats = { packets: 9, enobufs: 1, nlErrors: 0, malformed: 0, verdictMsgs: 3, sends: 3, foreign: 0 };
    const src: GatewaySource = {
      counter: () => 2,
      queues: () => [{ queue: 0, stats }],
      kernelQueues: () => [{ queue: 0, waiting: 0, queueFull: 1, socketFull: 0 }],
      failedBursts: () => 0,
    };
    const registry = new Registry();
    registerGatewayMetrics(registry, src);
    const r = promtool(await registry.metrics());
    expect(r.code, r.out).toBe(0);
    expect(r.out.trim()).toBe('');
  });
});
