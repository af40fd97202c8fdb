// wasmvsd proxy --workers N: TCP in worker processes, every decision in the
// daemon's one core. The same deterministic sequence of opens and closes is
// run against a one-process daemon and a two-worker daemon: the real server
// each connection gets and the ActiveConn/InActConn each real server ends
// with must be equal (lc, wlc, sed, nq, an upper threshold). A killed worker's
// connections leave the table's active counts; a new worker takes its place.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { lab, backend, freePort, client, until, listening, requireBuild, type Lab, type Backend, type Client } from './harness.js';

/** Per real server port: [ActiveConn, InActConn] of one service in `-L -n`. */
function counts(listing: string, vipPort: number): Map<number, [number, number]> {
  const out = new Map<number, [number, number]>();
  let inside = false;
  for (const line of listing.split('\n')) {
    if (/^(TCP|UDP|FWM)/.test(line)) { inside = line.includes(`:${vipPort} `); continue; }
    const m = /->\s+127\.0\.0\.1:(\d+)\s+\S+\s+\d+\s+(\d+)\s+(\d+)/.exec(line);
    if (inside && m) out.set(Number(m[1]), [Number(m[2]), Number(m[3])]);
  }
  return out;
}

const sum = (c: Map<number, [number, number]>, i: 0 | 1) => [...c.values()].reduce((a, v) => a + v[i], 0);

/** The worker processes of a daemon (children running worker.js). */
function workerPids(daemonPid: number): number[] {
  let out = '';
  try { out = execFileSync('ps', ['--ppid', String(daemonPid), '-o', 'pid=,args='], { encoding: 'utf8' }); } catch { return []; }
  return out.split('\n').filter((l) => l.includes('proxy/worker.js')).map((l) => Number(l.trim().split(/\s+/)[0]));
}

interface Run { names: string[]; final: [number, number][] }

describe('wasmvsd proxy --workers', () => {
  const labs: Lab[] = [];
  let one: Lab, two: Lab, threads: Lab;
  let ha: Backend, hb: Backend, hc: Backend;

  beforeAll(async () => {
    requireBuild();
    [ha, hb, hc] = await Promise.all(['ha', 'hb', 'hc'].map((n) => backend(n)));
    one = lab('wasmvs-workers1-');
    two = lab('wasmvs-workers2-');
    threads = lab('wasmvs-threads2-');
    labs.push(one, two, threads);
    await one.start(undefined, { args: ['--workers', '1', '--splice', 'off'] });
    // Worker processes (the tests below kill them): Node's sockets, whatever $WASMVS_ENGINE says; `one` follows it.
    await two.start(undefined, { args: ['--workers', '2', '--splice', 'off', '--engine', 'js'] });
    // The native engine's --workers: two engine threads in one process, deciding through the one core.
    await threads.start(undefined, { args: ['--workers', '2', '--engine', 'native'] });
  }, 60_000);
  afterAll(async () => {
    for (const l of labs) { await l.stop(); l.cleanup(); }
    for (const x of [ha, hb, hc]) await x?.kill();
  });

  async function service(l: Lab, sched: string, thresholds: string[] = ['', '', '']): Promise<number> {
    const port = await freePort();
    const vip = `127.0.0.1:${port}`;
    expect((await l.adm(`-A -t ${vip} -s ${sched}`)).code).toBe(0);
    for (const [i, x] of [ha, hb, hc].entries()) {
      expect((await l.adm(`-a -t ${vip} -r 127.0.0.1:${x.port} -m -w ${3 - i} ${thresholds[i]}`)).code).toBe(0);
    }
    await listening(l, port);
    return port;
  }

  /** Wait until the service's table shows `active` active and `inact` inactive connections. */
  async function settle(l: Lab, port: number, active: number, inact: number): Promise<void> {
    await until(async () => {
      const c = counts((await l.adm('-L -n')).out, port);
      return sum(c, 0) === active && sum(c, 1) === inact;
    }, `${active} active / ${inact} inactive on ${port}`);
  }

  /**
   * Open 6 held connections one by one, close the 2nd and 4th, open 4 more:
   * after each step the daemon's table is waited for, so both daemons decide
   * on the same counts.
   */
  async function script(l: Lab, sched: string, thresholds?: string[]): Promise<Run> {
    const port = await service(l, sched, thresholds);
    const held: Client[] = [];
    const open = async () => { held.push(await client(port)); await settle(l, port, held.filter((h) => !h.sock.destroyed).length, closed); };
    let closed = 0;
    for (let i = 0; i < 6; i++) await open();
    for (const i of [1, 3]) { held[i].sock.end(); closed++; }
    // A client FIN leaves the entry inactive (FIN_WAIT/CLOSE_WAIT): 4 active, 2 inactive.
    await settle(l, port, 4, 2);
    for (const i of [1, 3]) held[i].sock.destroy();
    for (let i = 0; i < 4; i++) {
      held.push(await client(port));
      await settle(l, port, held.length - 2, 2);
    }
    const c = counts((await l.adm('-L -n')).out, port);
    for (const h of held) h.sock.destroy();
    return { names: held.map((h) => h.name), final: [ha, hb, hc].map((b) => c.get(b.port) ?? [-1, -1]) };
  }

  for (const sched of ['lc', 'wlc', 'sed', 'nq']) {
    it(`${sched}: the same real server for every connection and the same counts as one process`, async () => {
      const a = await script(one, sched);
      const b = await script(two, sched);
      expect(b).toEqual(a);
      expect(await script(threads, sched)).toEqual(a);
      expect(a.names).toHaveLength(10);
      expect(a.final.reduce((s, v) => s + v[0], 0)).toBe(8);
    }, 60_000);
  }

  it('an upper threshold (-x) holds across workers exactly as in one process', async () => {
    // ha has weight 3 and would take most; -x 2 stops it at two active connections.
    const a = await script(one, 'wlc', ['-x 2', '', '']);
    const b = await script(two, 'wlc', ['-x 2', '', '']);
    expect(b).toEqual(a);
    expect(await script(threads, 'wlc', ['-x 2', '', ''])).toEqual(a);
    expect(a.names.slice(0, 6).filter((n) => n === 'ha')).toHaveLength(2);
  }, 60_000);

  it.each([['worker processes'], ['engine threads']])('a burst of concurrent connections through two %s: each scheduled and counted once, none left active', async (what) => {
    const pair = what === 'worker processes' ? two : threads;
    const port = await service(pair, 'wlc');
    // 150 clients at once: the kernel spreads them over both workers, whose accepts, decisions and
    // events then travel many to a write; the table must count each exactly once.
    const held = await Promise.all(Array.from({ length: 150 }, () => client(port)));
    expect(held.every((h) => ['ha', 'hb', 'hc'].includes(h.name))).toBe(true);
    await settle(pair, port, 150, 0);
    const stats = () => pair.adm('-L -n --stats').then((r) => Number(r.out.split('\n').find((x) => x.includes(`:${port} `))?.trim().split(/\s+/)[2]));
    expect(await stats()).toBe(150);
    // Resets from the clients' side for half, clean closes for the rest: nothing stays active.
    held.forEach((h, i) => (i % 2 === 0 ? h.sock.resetAndDestroy() : h.sock.end()));
    await until(async () => sum(counts((await pair.adm('-L -n')).out, port), 0) === 0, 'no connection left active');
    expect(await stats()).toBe(150);
    for (const h of held) h.sock.destroy();
  }, 60_000);

  it('bytes and packets of worker flows reach the statistics', async () => {
    const port = await service(two, 'rr');
    const c = await client(port);
    c.sock.write('hello workers\n');
    await until(() => c.data().includes('hello workers'), 'echo through a worker');
    c.sock.end();
    await until(async () => {
      const line = (await two.adm('-L -n --stats')).out.split('\n').find((x) => x.includes(`:${port} `)) ?? '';
      const [conns, inpkts, outpkts, inbytes, outbytes] = line.trim().split(/\s+/).slice(2).map(Number);
      return conns === 1 && inpkts >= 1 && outpkts >= 1 && inbytes === 'hello workers\n'.length && outbytes >= 'hello workers\n'.length + 3;
    }, 'statistics of the worker flow');
  }, 30_000);

  it('IPv6 clients and real servers: the addresses cross the channel whole', async () => {
    // A real server on ::1 that names itself; the VIP on ::1 too.
    const srv = createServer((s) => { s.on('error', () => s.destroy()); s.end('v6\n'); });
    await new Promise<void>((r) => srv.listen(0, '::1', r));
    try {
      const rport = (srv.address() as { port: number }).port;
      const port = await freePort();
      expect((await two.adm(`-A -t [::1]:${port} -s rr`)).code).toBe(0);
      expect((await two.adm(`-a -t [::1]:${port} -r [::1]:${rport} -m`)).code).toBe(0);
      await until(async () => { try { return (await client(port, undefined, '::1')).name === 'v6'; } catch { return false; } }, 'an answer through [::1]');
      const c = await client(port, undefined, '::1');
      expect(c.name).toBe('v6');
      const local = c.sock.localPort;
      // The table holds the client's own address and port (as the worker read them), to the IPv6 real server.
      const conns = (await two.adm('-L -n -c')).out;
      expect(conns).toContain(`[::1]:${local}`);
      expect(conns).toContain(`[::1]:${rport}`);
      c.sock.destroy();
    } finally {
      srv.close();
    }
  }, 30_000);

  it('a client FIN that comes while the worker waits for the decision is passed on', async () => {
    const port = await service(two, 'rr');
    // Each client connects and half-closes at once, sending nothing: the real server must see the FIN
    // (its echo ends), so the client gets the name and a clean close, and no entry stays ESTABLISHED.
    const one = () => new Promise<string>((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => s.end());
      let got = '';
      s.on('data', (d) => { got += d; });
      s.on('error', reject);
      s.on('close', () => resolve(got));
    });
    const names = await Promise.all(Array.from({ length: 60 }, one));
    expect(names.every((n) => ['ha\n', 'hb\n', 'hc\n'].includes(n))).toBe(true);
    await until(async () => sum(counts((await two.adm('-L -n')).out, port), 0) === 0, 'no connection left active');
  }, 30_000);

  it('killed workers: their connections leave the table, new workers take over', async () => {
    const port = await service(two, 'rr');
    const pids = workerPids(two.daemon!.proc.pid!);
    expect(pids).toHaveLength(2);
    const held: Client[] = [];
    for (let i = 0; i < 6; i++) held.push(await client(port));
    await settle(two, port, 6, 0);
    // Which worker accepted which connection is the kernel's choice: kill both.
    for (const p of pids) process.kill(p, 'SIGKILL');
    await until(() => (two.daemon!.log().match(/proxy worker died/g) ?? []).length === 2, 'the daemon sees the workers die');
    // Their connections are reset in the table (CLOSE: inactive), none stays active.
    expect(sum(counts((await two.adm('-L -n')).out, port), 0)).toBe(0);
    await until(() => held.every((h) => h.sock.destroyed || h.sock.readableEnded), 'the clients see their connections end');
    await until(() => workerPids(two.daemon!.proc.pid!).length === 2, 'a replacement worker');
    // The replacements listen again (with every worker gone the shared socket closed: until then connections are refused).
    await until(async () => { try { held.push(await client(port)); return true; } catch { return false; } }, 'a replacement accepts');
    for (let i = 0; i < 3; i++) held.push(await client(port));
    await until(async () => sum(counts((await two.adm('-L -n')).out, port), 0) === held.filter((h) => !h.sock.destroyed && !h.sock.readableEnded).length, 'active count matches the live connections');
    for (const h of held) h.sock.destroy();
    await settle(two, port, 0, sum(counts((await two.adm('-L -n')).out, port), 1));
  }, 60_000);

  it('--splice on in the workers: the pumps move the bytes exactly, and their counts reach the table', async () => {
    const l = lab('wasmvs-workers4-');
    labs.push(l);
    await l.start(undefined, { args: ['--workers', '2', '--splice', 'on', '--engine', 'js'] });
    const port = await service(l, 'rr');
    const size = 1 << 20;
    const payload = Buffer.alloc(size, 0x5a);
    const c = await client(port);
    c.sock.write(payload);
    // The echo comes back whole after the name line.
    await until(() => c.data().length >= c.name.length + 1 + size, 'the 1 MiB echo through a worker pump', 30_000);
    expect(c.data().slice(c.name.length + 1)).toBe(payload.toString('latin1'));
    c.sock.end();
    await until(async () => {
      const line = (await l.adm('-L -n --stats --exact')).out.split('\n').find((x) => x.includes(`:${port} `)) ?? '';
      const [conns, , , inbytes, outbytes] = line.trim().split(/\s+/).slice(2).map(Number);
      return conns === 1 && inbytes === size && outbytes === size + c.name.length + 1;
    }, 'the pump byte counts in the statistics', 30_000);
    // Each worker loaded its own pump (with --splice on a worker that cannot would die at its configuration).
    expect(l.daemon!.log()).not.toMatch(/proxy worker died/);
  }, 60_000);

  it('SIGTERM stops the workers with the daemon', async () => {
    const l = lab('wasmvs-workers3-');
    labs.push(l);
    await l.start(undefined, { args: ['--workers', '2', '--engine', 'js'] });
    const pids = workerPids(l.daemon!.proc.pid!);
    expect(pids).toHaveLength(2);
    await l.stop();
    for (const p of pids) {
      await until(() => { try { process.kill(p, 0); return false; } catch { return true; } }, `worker ${p} gone`);
    }
  }, 30_000);

  it('--workers takes a count or auto; anything else is a clear error', async () => {
    const { parseDaemonArgs } = await import('../../../cli/wasmvsd.js');
    expect(parseDaemonArgs(['proxy', '--workers', '3'])).toMatchObject({ dataPathOptions: { workers: 3 } });
    expect(parseDaemonArgs(['proxy', '--workers=auto'])).toMatchObject({ mode: 'proxy' });
    expect(parseDaemonArgs(['proxy', '--workers', '0'])).toBe('invalid --workers 0 (1..256 or auto)');
    expect(parseDaemonArgs(['proxy', '--workers', 'many'])).toBe('invalid --workers many (1..256 or auto)');
    expect(parseDaemonArgs(['gateway', '--workers', '2'])).toBe('--workers is a proxy option');
  });
});
