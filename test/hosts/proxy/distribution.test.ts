// Scheduling through a real wasmvsd proxy process: the order each IPVS
// scheduler gives over real sockets (list order = newest first).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { lab, backend, freePort, ask, client, until, listening, requireBuild, type Lab, type Backend, type Client } from './harness.js';

describe('wasmvsd proxy: distribution per scheduler', () => {
  let l: Lab;
  let a: Backend, b: Backend, c: Backend, ha: Backend, hb: Backend, hc: Backend;

  beforeAll(async () => {
    requireBuild();
    l = lab();
    [a, b, c] = await Promise.all(['a', 'b', 'c'].map((n) => backend(n, { close: true })));
    [ha, hb, hc] = await Promise.all(['ha', 'hb', 'hc'].map((n) => backend(n)));
    await l.start();
  });
  afterAll(async () => {
    await l.stop();
    for (const x of [a, b, c, ha, hb, hc]) await x?.kill();
    l.cleanup();
  });

  /** -A a service with scheduler args, then -a each backend (so the list is reversed). */
  async function service(sched: string, backs: Backend[], weights: number[] = [], extra = ''): Promise<number> {
    const port = await freePort();
    const vip = `127.0.0.1:${port}`;
    expect((await l.adm(`-A -t ${vip} ${sched} ${extra}`)).code).toBe(0);
    for (const [i, x] of backs.entries()) {
      expect((await l.adm(`-a -t ${vip} -r 127.0.0.1:${x.port} -m -w ${weights[i] ?? 1}`)).code).toBe(0);
    }
    await listening(l, port);
    return port;
  }

  async function sequence(port: number, n: number): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(await ask(port));
    return out;
  }

  it('rr: the list order (newest first), round and round', async () => {
    const port = await service('-s rr', [a, b, c]);
    expect(await sequence(port, 7)).toEqual(['c', 'b', 'a', 'c', 'b', 'a', 'c']);
  });

  // After -a a:3 alone di = 3, mw = 1, cw = 1; adding b:2 and c:1 keeps cw = 1
  // (IPVS's dest_changed), so a fresh service starts with a cw=1 pass.
  it('wrr: weights 3/2/1 give the IPVS interleaving', async () => {
    const port = await service('-s wrr', [a, b, c], [3, 2, 1]);
    expect(await sequence(port, 12)).toEqual(['c', 'b', 'a', 'a', 'b', 'a', 'c', 'b', 'a', 'a', 'b', 'a']);
  });

  it('lc: held-open connections steer new ones to the least loaded', async () => {
    const port = await service('-s lc', [ha, hb, hc]);
    const held: Client[] = [];
    for (let i = 0; i < 3; i++) held.push(await client(port));
    expect(held.map((h) => h.name)).toEqual(['hc', 'hb', 'ha']);
    // Close hb's connection: it drops to InActConn (overhead 1 < 256).
    held[1].sock.end();
    await until(async () => (await l.adm('-L -n')).out.includes(`127.0.0.1:${hb.port}              Masq    1      0`), 'hb inactive');
    const next = await client(port);
    expect(next.name).toBe('hb');
    // All at one active now: the first in list order with the least overhead wins (hc).
    const third = await client(port);
    expect(third.name).toBe('hc');
    for (const h of [...held, next, third]) h.sock.destroy();
  });

  it('wlc: overhead/weight with weights 3/2/1 and held connections', async () => {
    const port = await service('-s wlc', [ha, hb, hc], [3, 2, 1]);
    const held: Client[] = [];
    for (let i = 0; i < 6; i++) held.push(await client(port));
    expect(held.map((h) => h.name)).toEqual(['hc', 'hb', 'ha', 'ha', 'hb', 'ha']);
    for (const h of held) h.sock.destroy();
  });

  it('sed and nq: (active+1)/weight, nq taking idle real servers first', async () => {
    for (const [sched, want] of [['sed', ['ha', 'hb', 'ha', 'hc', 'hb', 'ha']], ['nq', ['hc', 'hb', 'ha', 'ha', 'hb', 'ha']]] as const) {
      const port = await service(`-s ${sched}`, [ha, hb, hc], [3, 2, 1]);
      const held: Client[] = [];
      for (let i = 0; i < 6; i++) held.push(await client(port));
      expect(held.map((h) => h.name), sched).toEqual(want);
      for (const h of held) h.sock.destroy();
    }
  });

  it('sh: each client address stays on one backend', async () => {
    const port = await service('-s sh', [a, b, c]);
    const seen = new Map<string, string>();
    for (let round = 0; round < 3; round++) {
      for (let i = 2; i < 10; i++) {
        const addr = `127.0.${i}.${i * 3}`;
        const name = await ask(port, addr);
        if (round === 0) seen.set(addr, name);
        else expect(name, addr).toBe(seen.get(addr));
      }
    }
    expect([...seen.values()].every((n) => ['a', 'b', 'c'].includes(n))).toBe(true);
  });

  it('mh: each client address stays on one backend', async () => {
    const port = await service('-s mh', [a, b, c]);
    const seen = new Map<string, string>();
    for (let round = 0; round < 2; round++) {
      for (let i = 2; i < 10; i++) {
        const addr = `127.1.${i}.7`;
        const name = await ask(port, addr);
        if (round === 0) seen.set(addr, name);
        else expect(name, addr).toBe(seen.get(addr));
      }
    }
  });

  it('persistence: one client stays on its backend for -p seconds, then moves', async () => {
    // Backends that keep the connection open, so the client's RST always meets open
    // sockets: the entries go to CLOSE (10 s). With -p 15 they are gone before the
    // template's timer fires, so it expires then (a template that still controls
    // connections is re-armed for 60 s instead, as in IPVS).
    const port = await service('-s rr', [ha, hb, hc], [], '-p 15');
    const first = await ask(port, '127.0.0.5', true);
    for (let i = 0; i < 3; i++) expect(await ask(port, '127.0.0.5', true)).toBe(first);
    // Another client is scheduled normally (rr moves on).
    expect(await ask(port, '127.0.0.6')).not.toBe(first);
    await until(async () => !(await l.adm('-L -n -c')).out.includes('127.0.0.5:'), 'template of 127.0.0.5 expired', 60_000);
    expect(await ask(port, '127.0.0.5', true)).not.toBe(first);
  }, 90_000);
});
