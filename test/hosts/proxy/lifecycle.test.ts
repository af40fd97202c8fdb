// The socket lifecycle as the connection table sees it through a real
// wasmvsd proxy: ESTABLISHED/ActiveConn while open, TIME_WAIT after a clean
// close, CLOSE after a reset, and counters that settle after a burst of
// connections ending in random ways (bounded, seeded).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { lab, backend, freePort, client, until, listening, requireBuild, type Lab, type Backend } from './harness.js';

describe('wasmvsd proxy: connection lifecycle in the table', () => {
  let l: Lab;
  let b: Backend;
  let port: number;
  let vip: string;

  beforeAll(async () => {
    requireBuild();
    l = lab();
    b = await backend('life');
    port = await freePort();
    vip = `127.0.0.1:${port}`;
    await l.start(`-A -t ${vip} -s rr\n-a -t ${vip} -r 127.0.0.1:${b.port} -m\n`);
    await listening(l, port);
  });
  afterAll(async () => {
    await l.stop();
    await b.kill();
    l.cleanup();
  });

  const entries = async (addr: string) => (await l.adm('-L -n -c')).out.split('\n').filter((x) => x.includes(`${addr}:`));
  const destLine = async () => (await l.adm('-L -n')).out.split('\n').find((x) => x.includes(`127.0.0.1:${b.port}`)) ?? '';

  it('open → ESTABLISHED (ActiveConn); clean close → TIME_WAIT; reset → CLOSE', async () => {
    const c = await client(port, '127.0.0.20');
    expect((await entries('127.0.0.20'))[0]).toMatch(/^TCP 1[45]:\d\d {2}ESTABLISHED /);
    expect(await destLine()).toMatch(/Masq {4}1 {6}1 {10}0/);
    c.sock.end();
    await until(async () => (await entries('127.0.0.20'))[0]?.includes('TIME_WAIT') ?? false, 'TIME_WAIT after both FINs');
    expect(await destLine()).toMatch(/Masq {4}1 {6}0 {10}1/);

    const r = await client(port, '127.0.0.21');
    r.sock.resetAndDestroy();
    await until(async () => (await entries('127.0.0.21'))[0]?.includes(' CLOSE ') ?? false, 'CLOSE after a reset');
  });

  it('a burst of 40 connections ending in random ways: the daemon stays up and ActiveConn settles to 0', async () => {
    let seed = 7;
    const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff; };
    const conns = await Promise.all(Array.from({ length: 40 }, (_, i) => client(port, `127.0.1.${i + 1}`)));
    for (const c of conns) {
      c.sock.on('error', () => {});
      const x = rnd();
      if (x < 0.3) c.sock.end();
      else if (x < 0.6) c.sock.resetAndDestroy();
      else if (x < 0.8) { c.sock.write('partial'); c.sock.destroy(); }
      else c.sock.end('bye\n');
    }
    await until(async () => /Masq {4}1 {6}0 /.test(await destLine()), 'ActiveConn back to 0');
    expect(l.daemon!.proc.exitCode).toBe(null);
    const again = await client(port);
    expect(again.name).toBe('life');
    again.sock.destroy();
  });
});
