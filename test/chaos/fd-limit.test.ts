// Chaos: a flood of TCP clients that hold their connections, into a wasmvsd
// proxy running under `prlimit --nofile=256`. What may be lost: only clients
// over the connection bound, each reset at once and counted; the ones within
// it keep working, and so do wasmvsadm, health checks and, once the flood
// leaves, new clients. A second case raises the bound past what the fds allow
// (a misconfiguration docs/limits.md warns about): the process then really
// runs out of fds, and must come through it alive and whole.
import { describe, it, expect, afterEach } from 'vitest';
import {
  lab, backend, freePort, client, ask, until, listening, fetchText, metricsPort, counter,
  requireBuild, type Lab, type Backend, type Client,
} from '../hosts/proxy/harness.js';
import { HealthCheck } from '../../daemon/health.js';
import { HEALTH_DEFAULTS } from '../../daemon/settings.js';
import { sleep, commandProblem, requireOrSkip } from './kit.js';

const NOFILE = 256;
const skip = requireOrSkip('chaos fd-limit suite', commandProblem('prlimit'));

interface Flood { held: Client[]; refused: number; errors: Map<string, number> }

/** `n` clients in batches of 25, each holding its connection when it got an answer (each bounded by client()'s 10 s). */
async function flood(port: number, n: number): Promise<Flood> {
  const f: Flood = { held: [], refused: 0, errors: new Map() };
  for (let done = 0; done < n; done += 25) {
    const batch = await Promise.allSettled(Array.from({ length: Math.min(25, n - done) }, () => client(port)));
    for (const r of batch) {
      if (r.status === 'fulfilled') { f.held.push(r.value); r.value.sock.on('error', () => {}); continue; }
      f.refused++;
      const why = String((r.reason as Error).message).replace(/\d+/g, 'N');
      f.errors.set(why, (f.errors.get(why) ?? 0) + 1);
    }
  }
  return f;
}

describe.skipIf(skip)(`chaos: a flood of held TCP clients into a ${NOFILE}-fd daemon`, () => {
  let l: Lab;
  let bs: Backend[] = [];
  let held: Client[] = [];
  afterEach(async () => {
    for (const h of held) h.sock.destroy();
    held = [];
    await l?.stop();
    for (const b of bs) await b.kill();
    bs = [];
    l?.cleanup();
  });

  async function start(extra: string[]): Promise<{ port: number; mport: number }> {
    requireBuild();
    l = lab('wasmvs-chaos-fd-');
    bs = [await backend('p'), await backend('q')];
    const port = await freePort();
    const vip = `127.0.0.1:${port}`;
    await l.start([
      `-A -t ${vip} -s rr`, ...bs.map((b) => `-a -t ${vip} -r 127.0.0.1:${b.port} -m -w 1`),
      `# wasmvs-proxy health -t ${vip} interval=0.2 timeout=1 rise=1 fall=2`,
      '# wasmvs-proxy metrics 127.0.0.1:0', ...extra,
    ].join('\n') + '\n', { nofile: NOFILE });
    await listening(l, port);
    return { port, mport: await metricsPort(l) };
  }

  it('lost: only the clients over tcp-conns (reset, counted); control, health and later clients unharmed', async () => {
    const { port, mport } = await start([]);
    // Defaults for 256 fds (docs/limits.md): reserve 64, tcp-conns (256 - 64) / 4 = 48.
    expect(l.daemon!.log()).toMatch(/"fds":256,"reserve":64,.*"tcpConns":48,/);
    const f = await flood(port, 150);
    held = f.held;
    console.log(`chaos fd-limit: 150 clients, ${f.held.length} held, ${f.refused} refused (${[...f.errors].map(([k, v]) => `${v}× ${k}`).join(', ')})`);
    expect(f.held.length).toBe(48);
    expect(f.refused).toBe(102);
    // Held clients still move bytes; health probes keep passing for several intervals while the flood holds.
    for (const h of held.slice(0, 5)) {
      const before = h.data().length;
      h.sock.write('still here\n');
      await until(() => h.data().slice(before).includes('still here'), 'a held client echoes');
    }
    await sleep(1000);
    const list = await l.adm('-L -n');
    expect(list.code).toBe(0);
    const active = list.out.split('\n').filter((x) => x.includes('Masq')).map((x) => Number(x.trim().split(/\s+/)[4]));
    expect(active.reduce((a, b) => a + b, 0)).toBe(48);
    const text = await fetchText(`http://127.0.0.1:${mport}/metrics`);
    expect(counter(text, 'wasmvs_tcp_conns_refused_total', `service="tcp/127.0.0.1:${port}"`)).toBe(102);
    for (const b of bs) expect(text).toContain(`wasmvs_dest_healthy{service="tcp/127.0.0.1:${port}",dest="127.0.0.1:${b.port}"} 1`);
    expect(l.daemon!.log()).not.toContain('real server down');
    expect(l.daemon!.log()).not.toContain('EMFILE');

    // The flood leaves: new clients are served again.
    for (const h of held) h.sock.destroy();
    held = [];
    await until(async () => { try { return ['p', 'q'].includes(await ask(port)); } catch { return false; } }, 'service resumes');
    for (let i = 0; i < 20; i++) expect(['p', 'q']).toContain(await ask(port));
    expect(l.daemon!.proc.exitCode).toBeNull();
  });

  it('tcp-conns past the fd limit: lost only clients libuv accepted and closed at once (uncounted); no healthy server marked down; all recovers', async () => {
    const { port, mport } = await start(['# wasmvs-proxy limits tcp-conns=1000']);
    // Node's sockets in worker processes (`--engine js --workers N`): the clients' fds are spread over
    // the N workers, each under the same limit, and the main process (health checks, wasmvsadm) keeps
    // its own. So the flood is N times as large, for every worker to run out, and the probes still run.
    const workers = process.env.WASMVS_ENGINE === 'js' ? Number(process.env.WASMVS_PROXY_WORKERS ?? 1) : 1;
    const n = 200 * workers;
    const f = await flood(port, n);
    held = f.held;
    const during = await l.adm('-L -n');
    // Several health intervals while the process has no fd to spare.
    await sleep(1000);
    const log = l.daemon!.log();
    console.log(`chaos fd-limit past the bound: ${n} clients, ${f.held.length} held, ${f.refused} closed unanswered and uncounted ` +
      `(${[...f.errors].map(([k, v]) => `${v}× ${k}`).join(', ')}); wasmvsadm -L meanwhile: exit ${during.code}`);
    expect(f.held.length).toBeGreaterThan(48);
    expect(f.refused).toBeGreaterThan(0);
    expect(f.held.length + f.refused).toBe(n);
    if (workers === 1) {
      // Out of fds, a probe cannot even open its socket: that is not the real server's fault.
      expect(log).toContain('health probe could not run');
    } else {
      expect(during.code).toBe(0);
      expect(log).not.toContain('health probe could not run');
    }
    expect(log).not.toContain('real server down');
    await Promise.all(held.map((h) => {
      const before = h.data().length;
      h.sock.write('still here\n');
      return until(() => h.data().slice(before).includes('still here'), `held client ${h.name} echoes`);
    }));
    for (const h of held) h.sock.destroy();
    held = [];
    await until(async () => { try { return ['p', 'q'].includes(await ask(port)); } catch { return false; } }, 'service resumes');
    await until(async () => (await l.adm('-L -n')).code === 0, 'wasmvsadm answered again');
    const text = await fetchText(`http://127.0.0.1:${mport}/metrics`);
    for (const b of bs) expect(text).toContain(`wasmvs_dest_healthy{service="tcp/127.0.0.1:${port}",dest="127.0.0.1:${b.port}"} 1`);
    for (let i = 0; i < 20; i++) expect(['p', 'q']).toContain(await ask(port));
    expect(l.daemon!.proc.exitCode).toBeNull();
  });
});

describe('health probes that fail for a local reason', () => {
  it('EMFILE, ENFILE, ENOBUFS, ENOMEM count towards neither fall nor rise, and are reported once a run', () => {
    const events: boolean[] = [];
    const reported: string[] = [];
    const hc = new HealthCheck({ address: '127.0.0.1', port: 1 }, { ...HEALTH_DEFAULTS, rise: 2, fall: 2 },
      (up) => events.push(up), undefined, (why) => reported.push(why));
    for (const why of ['EMFILE', 'EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM']) hc.record(why);
    expect([hc.up, hc.inconclusive, events, reported]).toEqual([true, 5, [], ['EMFILE']]);
    hc.record('ECONNREFUSED');
    hc.record('EMFILE');
    hc.record('ECONNREFUSED');
    expect([hc.up, events, reported]).toEqual([false, [false], ['EMFILE', 'EMFILE']]);
    hc.record(null);
    hc.record('EMFILE');
    hc.record(null);
    expect([hc.up, events]).toEqual([true, [false, true]]);
  });
});
