// wasmvsd proxy with WASMVS_NATIVE_CORE=on (experimental, docs/proxy.md): the
// daemon's director runs on the addon's native core and each of the two
// engine threads decides its own clients on it. Through the real daemon:
// the start-up line says so, rr alternates exactly over 200 connections
// whichever pump took them, -L --stats counts every one, /metrics counts the
// threads' share, and SIGTERM stops it cleanly.
import { afterEach, describe, expect, it } from 'vitest';
import { ask, backend, counter, fetchText, freePort, lab, listening, metricsPort, requireBuild, teardown, until, type Lab } from './harness.js';
import { loadNativeCore } from '../../../native/addon.js';
import { inCI } from '../gateway/prereq.js';

const probe = loadNativeCore();
const have = probe.exports !== null;
if (!have && !inCI) console.warn(`\n*** SKIPPING proxy on the native core: ${(probe as { why: string }).why} ***\n`);
const suite = describe.skipIf(!have && !inCI);

suite('wasmvsd proxy --workers 2, threads deciding on the native core (WASMVS_NATIVE_CORE=on)', () => {
  let l: Lab | undefined;
  const closers: (() => Promise<void> | void)[] = [];
  afterEach(async () => { await teardown(l, closers); l = undefined; });

  it('decides on both pumps: rr exact over 200 connections, every one counted, clean stop', async () => {
    requireBuild();
    if (!have) throw new Error(`native core missing in CI: ${(probe as { why: string }).why}`);
    const a = await backend('a', { close: true }), b = await backend('b', { close: true });
    closers.push(() => a.kill(), () => b.kill());
    const port = await freePort();
    const vip = `127.0.0.1:${port}`;
    l = lab();
    const before = process.env.WASMVS_NATIVE_CORE;
    process.env.WASMVS_NATIVE_CORE = 'on';
    try {
      await l.start([`-A -t ${vip} -s rr`, `-a -t ${vip} -r 127.0.0.1:${a.port} -m`, `-a -t ${vip} -r 127.0.0.1:${b.port} -m`,
        '# wasmvs-proxy metrics 127.0.0.1:0'].join('\n') + '\n',
        { args: ['--engine', 'native', '--workers', '2'] });
    } finally {
      if (before === undefined) delete process.env.WASMVS_NATIVE_CORE;
      else process.env.WASMVS_NATIVE_CORE = before;
    }
    await listening(l, port);
    expect(l.daemon!.log()).toContain('"nativeCore":true');
    const seen: string[] = [];
    for (let i = 0; i < 200; i++) seen.push(await ask(port));
    // rr: a strict alternation, whichever pump (and thread) each connection came through.
    for (let i = 2; i < 200; i++) expect(seen[i]).toBe(seen[i - 2]);
    expect(seen.filter((n) => n === 'a').length).toBe(100);
    const stats = (await l.adm('-L -n --stats')).out;
    expect(stats).toMatch(new RegExp(`TCP  ${vip.replace(/\./g, '\\.')}\\s+200\\s`));
    expect(a.accepted + b.accepted).toBe(200);
    // The threads' share, on /metrics: some of the 200 (the kernel spreads clients over both pumps' listeners), none refused.
    const url = `http://127.0.0.1:${await metricsPort(l)}/metrics`;
    let text = '';
    await until(async () => counter(text = await fetchText(url), 'wasmvs_engine_thread_decisions_total', 'outcome="scheduled"') > 0, 'thread decisions counted');
    expect(counter(text, 'wasmvs_engine_thread_decisions_total', 'outcome="scheduled"')).toBeLessThanOrEqual(200);
    expect(text).toContain('wasmvs_engine_thread_decisions_total{outcome="refused"} 0');
    const d = l.daemon!;
    d.proc.kill('SIGTERM');
    expect(await d.exited).toBe(0);
    l.daemon = null;
  });
});
