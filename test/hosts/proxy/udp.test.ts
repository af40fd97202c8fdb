// UDP through a real wasmvsd proxy: echo replies come back from the VIP,
// a client flow keeps its real server while its entry lives, the entry
// expires with the UDP timeout (--set), -o schedules every datagram, and a
// session hears only its real server.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createSocket } from 'node:dgram';
import { lab, freePort, until, listening, udpBackend, requireBuild, type Lab, type UdpBackend } from './harness.js';

/** A client socket that sends one datagram and waits for one reply (bounded). */
function udpClient(): Promise<{ ask(port: number, text: string): Promise<{ text: string; from: string }>; close(): void }> {
  const s = createSocket('udp4');
  return new Promise((resolve) => s.bind(0, '127.0.0.1', () => resolve({
    ask: (port, text) => new Promise((res, rej) => {
      const t = setTimeout(() => { s.off('message', on); rej(new Error(`no UDP reply to ${text}`)); }, 5000);
      const on = (m: Buffer, r: { address: string; port: number }) => { clearTimeout(t); s.off('message', on); res({ text: String(m), from: `${r.address}:${r.port}` }); };
      s.on('message', on);
      s.send(text, port, '127.0.0.1');
    }),
    close: () => s.close(),
  })));
}

describe('wasmvsd proxy: UDP', () => {
  let l: Lab;
  let backs: UdpBackend[];

  beforeAll(async () => {
    requireBuild();
    l = lab();
    backs = await Promise.all(['u1', 'u2', 'u3'].map(udpBackend));
    await l.start();
  });
  afterAll(async () => {
    await l.stop();
    for (const b of backs) b.close();
    l.cleanup();
  });

  async function service(extra: string): Promise<number> {
    const port = await freePort();
    expect((await l.adm(`-A -u 127.0.0.1:${port} -s rr ${extra}`)).code).toBe(0);
    for (const b of backs) expect((await l.adm(`-a -u 127.0.0.1:${port} -r 127.0.0.1:${b.port} -m`)).code).toBe(0);
    await listening(l, port);
    return port;
  }

  it('echo through the VIP; one flow sticks to its real server; the entry expires with the UDP timeout', async () => {
    const port = await service('');
    const c = await udpClient();
    const first = await c.ask(port, 'hello');
    expect(first.from).toBe(`127.0.0.1:${port}`);
    expect(first.text).toMatch(/^u[123]:hello$/);
    const server = first.text.split(':')[0];
    for (let i = 0; i < 3; i++) expect((await c.ask(port, `again${i}`)).text).toBe(`${server}:again${i}`);
    const other = await udpClient();
    expect((await other.ask(port, 'x')).text.split(':')[0]).not.toBe(server);
    let conns = (await l.adm('-L -n -c')).out;
    expect(conns).toMatch(/UDP .* UDP +127\.0\.0\.1:\d+ +127\.0\.0\.1:\d+/);
    expect((await l.adm('--set 0 0 1')).code).toBe(0);
    // The next datagram of each flow re-arms it with the new 1 s timeout; then the entries go.
    await c.ask(port, 'rearm');
    await other.ask(port, 'rearm');
    await until(async () => {
      conns = (await l.adm('-L -n -c')).out;
      return conns.split('\n').filter((x) => x.startsWith('UDP')).length === 0;
    }, 'UDP entries expired', 20_000);
    const stats = (await l.adm('-L -n --stats')).out;
    expect(stats).toMatch(new RegExp(`UDP  127\\.0\\.0\\.1:${port} +2 +7 +7 `));
    // A new entry is scheduled: rr moves on from the last pick.
    const again = await c.ask(port, 'new');
    expect(again.text).toMatch(/^u[123]:new$/);
    expect((await l.adm('--set 0 0 300')).code).toBe(0);
    c.close();
    other.close();
  });

  it('-o: one-packet scheduling picks a real server per datagram', async () => {
    const port = await service('-o');
    const c = await udpClient();
    const names: string[] = [];
    for (let i = 0; i < 6; i++) names.push((await c.ask(port, `p${i}`)).text.split(':')[0]);
    expect(names.slice(0, 3).sort()).toEqual(['u1', 'u2', 'u3']);
    expect(names.slice(3)).toEqual(names.slice(0, 3));
    // No entry for this service (one-packet connections are never hashed); the
    // previous test's flow may still be listed under its own port.
    const mine = (await l.adm('-L -n -c')).out.split('\n').filter((x) => x.startsWith('UDP') && x.includes(`127.0.0.1:${port} `));
    expect(mine).toEqual([]);
    c.close();
  });

  it('a session relays replies from its real server only, not from any local socket', async () => {
    const port = await service('');
    const c = await udpClient();
    const first = await c.ask(port, 'hello');
    const server = first.text.split(':')[0];
    const real = backs[['u1', 'u2', 'u3'].indexOf(server)];
    const sessionPort = real.last;
    // Another local socket writes to the session's port before the next exchange:
    // were the session unconnected, this datagram would reach the client first, as if from the VIP.
    const rogue = createSocket('udp4');
    await new Promise<void>((r) => rogue.bind(0, '127.0.0.1', () => r()));
    await new Promise<void>((r, j) => rogue.send('spoof', sessionPort, '127.0.0.1', (e) => (e ? j(e) : r())));
    expect((await c.ask(port, 'second')).text).toBe(`${server}:second`);
    expect(real.last).toBe(sessionPort);
    rogue.close();
    c.close();
  });
});
