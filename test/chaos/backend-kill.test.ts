// Chaos: a real server process SIGKILLed and restarted while clients stream
// through a real wasmvsd proxy. What may be lost: only connections the proxy
// scheduled to the dead server before health marked it down (they are reset,
// never left hanging). Nothing scheduled after the down-mark fails or lands on
// it until the up-mark, and wasmvsadm is answered throughout.
import { describe, it, expect, afterAll } from 'vitest';
import { lab, freePort, ask, until, listening, requireBuild, type Lab } from '../hosts/proxy/harness.js';
import { procBackend, logLines, sleep, type ProcBackend } from './kit.js';

interface Outcome { start: number; end: number; name: string | null; error: string | null }

/** Clients in `workers` parallel loops until `stop()` says so or `max` are done (each bounded by ask's 10 s). */
function load(port: number, workers: number, max: number) {
  const done: Outcome[] = [];
  let stopped = false;
  const loop = async () => {
    while (!stopped && done.length < max) {
      const start = Date.now();
      try {
        const name = await ask(port);
        done.push({ start, end: Date.now(), name, error: null });
      } catch (e) {
        done.push({ start, end: Date.now(), name: null, error: (e as Error).message });
      }
      await sleep(2);
    }
  };
  const running = Promise.all(Array.from({ length: workers }, loop));
  return { done, stop: async () => { stopped = true; await running; } };
}

describe('chaos: a backend killed and restarted under load', () => {
  let l: Lab;
  const backends: ProcBackend[] = [];
  afterAll(async () => {
    await l?.stop();
    for (const b of backends) await b.kill();
    l?.cleanup();
  });

  it('lost: only connections scheduled to the dead server before its down-mark (reset, none hung); none after it', async () => {
    requireBuild();
    l = lab('wasmvs-chaos-backend-');
    for (const n of ['a', 'b', 'c']) backends.push(await procBackend(n));
    const victim = backends[1];
    const port = await freePort();
    const vip = `127.0.0.1:${port}`;
    // rise=5: the restarted server stays marked down for about a second while it already answers.
    await l.start([
      `-A -t ${vip} -s rr`, ...backends.map((b) => `-a -t ${vip} -r 127.0.0.1:${b.port} -m -w 1`),
      `# wasmvs-proxy health -t ${vip} interval=0.2 timeout=2 rise=5 fall=2`,
    ].join('\n') + '\n');
    await listening(l, port);

    const traffic = load(port, 4, 20_000);
    const control: number[] = [];
    let controlStop = false;
    const controlLoop = (async () => {
      for (let i = 0; i < 200 && !controlStop; i++) {
        control.push((await l.adm('-L -n')).code);
        await sleep(100);
      }
    })();
    const named = (n: string) => traffic.done.filter((o) => o.name === n).length;
    try {
      await until(() => traffic.done.length >= 200 && named('b') > 0, 'load reaches every server');
      const killedAt = Date.now();
      await victim.kill();
      const victimDest = `127.0.0.1|${victim.port}`;
      const down = () => logLines(l.daemon!.log(), 'real server down');
      const victimDown = () => down().filter((x) => x.dest === victimDest);
      await until(() => victimDown().length > 0, 'health marks the killed server down');
      const downAt = victimDown()[0].time as number;
      const after = traffic.done.length;
      await until(() => traffic.done.length >= after + 200, '200 more clients after the down-mark');
      await victim.restart();
      const restartedAt = Date.now();
      const up = () => logLines(l.daemon!.log(), 'real server healthy again').filter((x) => x.dest === victimDest);
      await until(() => up().length > 0, 'health brings the restarted server back');
      const upAt = up()[0].time as number;
      await until(() => traffic.done.some((o) => o.start > upAt && o.name === 'b'), 'the restarted server takes clients again');
      await traffic.stop();
      controlStop = true;
      await controlLoop;

      const out = traffic.done;
      const failed = out.filter((o) => o.error !== null);
      // Scheduled after the down-mark (started strictly later, so accepted later): never failed, never the victim.
      const afterDown = out.filter((o) => o.start > downAt && o.end < upAt);
      const lostAfterDown = afterDown.filter((o) => o.error !== null || o.name === 'b');
      // Of those, the ones the restarted server could have answered had health not kept it out.
      const aliveButDown = afterDown.filter((o) => o.start > restartedAt);
      // Every failure is a connection the proxy had scheduled to the dead server: between the kill and the down-mark.
      const failedOutsideWindow = failed.filter((o) => o.end < killedAt || o.start > downAt);
      const hung = failed.filter((o) => /no answer/.test(o.error!));
      console.log(`chaos backend-kill: ${out.length} clients, ${failed.length} reset while the killed server was not yet marked down ` +
        `(${downAt - killedAt} ms), ${afterDown.length} between down- and up-mark (${aliveButDown.length} of them with the server back), ${control.length} wasmvsadm -L`);
      // Only the killed server was ever marked down, once.
      expect(down()).toEqual(victimDown());
      expect(victimDown()).toHaveLength(1);
      expect(afterDown.length).toBeGreaterThan(0);
      expect(aliveButDown.length).toBeGreaterThan(0);
      expect(lostAfterDown).toEqual([]);
      expect(failedOutsideWindow).toEqual([]);
      expect(hung).toEqual([]);
      expect(control.length).toBeGreaterThan(0);
      expect(control.every((c) => c === 0)).toBe(true);
      expect(l.daemon!.proc.exitCode).toBeNull();
    } finally {
      await traffic.stop();
      controlStop = true;
      await controlLoop;
    }
  });
});
