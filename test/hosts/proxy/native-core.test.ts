// wasmvsd proxy on the native core (--native-core, on by default with two pumps or more where the addon has it;
// docs/proxy.md "The native engine"): the daemon's director runs on the addon's native core and each engine pump
// decides its own clients on it and gives it their state changes. Through the real daemon, with one pump and with two: the
// start-up line says so, rr alternates exactly over 200 connections whichever pump took them, -L --stats counts
// every one, /metrics counts the pumps' share (all 200), and SIGTERM stops it cleanly; with --native-core off the
// main thread decides every one; without the flag, on with two pumps and off with one.
import { afterEach, describe, expect, it } from 'vitest';
import { ask, backend, counter, fetchText, freePort, lab, listening, metricsPort, requireBuild, teardown, until, type Lab } from './harness.js';
import { loadNativeCore } from '../../../native/addon.js';
import { inCI } from '../gateway/prereq.js';

const probe = loadNativeCore();
const have = probe.exports !== null;
if (!have && !inCI) console.warn(`\n*** SKIPPING proxy on the native core: ${(probe as { why: string }).why} ***\n`);
const suite = describe.skipIf(!have && !inCI);

suite('wasmvsd proxy, the pumps deciding on the native core (--native-core)', () => {
  let l: Lab | undefined;
  const closers: (() => Promise<void> | void)[] = [];
  afterEach(async () => { await teardown(l, closers); l = undefined; });

  // The default (no flag, WASMVS_NATIVE_CORE unset) is on with two pumps, off with one; npm test's runs set the
  // environment to off or on in places, which the default then follows.
  const env = process.env.WASMVS_NATIVE_CORE;
  const byDefault = (workers: number) => (env === 'on' ? 'on' : env === 'off' ? 'off' : workers > 1 ? 'on' : 'off');
  it.each([[1, 'on'], [2, 'on'], [2, 'off'], [1, 'default'], [2, 'default']] as const)('--workers %s, --native-core %s: rr exact over 200 connections, every one counted, clean stop', async (workers, flag) => {
    const mode = flag === 'default' ? byDefault(workers) : flag;
    requireBuild();
    if (!have) throw new Error(`native core missing in CI: ${(probe as { why: string }).why}`);
    const a = await backend('a', { close: true }), b = await backend('b', { close: true });
    closers.push(() => a.kill(), () => b.kill());
    const port = await freePort();
    const vip = `127.0.0.1:${port}`;
    l = lab();
    // The flag, where given, wins over the environment's WASMVS_NATIVE_CORE.
    await l.start([`-A -t ${vip} -s rr`, `-a -t ${vip} -r 127.0.0.1:${a.port} -m`, `-a -t ${vip} -r 127.0.0.1:${b.port} -m`,
      '# wasmvs-proxy metrics 127.0.0.1:0'].join('\n') + '\n',
      { args: ['--engine', 'native', '--workers', String(workers), ...(flag === 'default' ? [] : ['--native-core', flag])] });
    await listening(l, port);
    expect(l.daemon!.log()).toContain(`"nativeCore":${mode === 'on'}`);
    const seen: string[] = [];
    for (let i = 0; i < 200; i++) seen.push(await ask(port));
    // rr: a strict alternation, whichever pump (and thread) each connection came through.
    for (let i = 2; i < 200; i++) expect(seen[i]).toBe(seen[i - 2]);
    expect(seen.filter((n) => n === 'a').length).toBe(100);
    const stats = (await l.adm('-L -n --stats')).out;
    expect(stats).toMatch(new RegExp(`TCP  ${vip.replace(/\./g, '\\.')}\\s+200\\s`));
    expect(a.accepted + b.accepted).toBe(200);
    const url = `http://127.0.0.1:${await metricsPort(l)}/metrics`;
    if (mode === 'on') {
      // The pumps' share, on /metrics: with one pump all 200; with two, the kernel spreads the clients over both
      // pumps' listeners and each decided its own: all 200 too. None refused.
      let text = '';
      await until(async () => counter(text = await fetchText(url), 'wasmvs_engine_thread_decisions_total', 'outcome="scheduled"') === 200, 'pump decisions counted');
      expect(text).toContain('wasmvs_engine_thread_decisions_total{outcome="refused"} 0');
    } else {
      expect(await fetchText(url)).not.toContain('wasmvs_engine_thread_decisions_total');
    }
    const d = l.daemon!;
    d.proc.kill('SIGTERM');
    expect(await d.exited).toBe(0);
    l.daemon = null;
  });
});
