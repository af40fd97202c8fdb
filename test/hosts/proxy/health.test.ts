// Health checks through a real wasmvsd proxy: a backend killed mid-transfer
// fails only its own connections, is marked down after `fall` failed checks
// (weight untouched), is avoided, and comes back after `rise` good checks.
import { describe, it, expect, afterAll } from 'vitest';
import { lab, backend, freePort, client, until, listening, requireBuild, type Lab, type Backend, type Client } from './harness.js';

describe('wasmvsd proxy: health checks', () => {
  let l: Lab;
  let bs: Backend[] = [];
  afterAll(async () => {
    await l?.stop();
    for (const b of bs) await b.kill();
    l?.cleanup();
  });

  it('backend killed mid-transfer: down within fall×interval, avoided, back after restart', async () => {
    requireBuild();
    l = lab();
    bs = await Promise.all(['x', 'y', 'z'].map((n) => backend(n)));
    const port = await freePort();
    const vip = `127.0.0.1:${port}`;
    await l.start([
      `-A -t ${vip} -s rr`, ...bs.map((b) => `-a -t ${vip} -r 127.0.0.1:${b.port} -m -w 1`),
      `# wasmvs-proxy health -t ${vip} interval=0.2 timeout=0.5 rise=2 fall=2`,
    ].join('\n') + '\n');
    await listening(l, port);
    const held: Client[] = [];
    for (let i = 0; i < 3; i++) held.push(await client(port));
    expect(new Set(held.map((h) => h.name)).size).toBe(3);
    const victim = bs.find((b) => b.name === 'y')!;
    const victimConn = held.find((h) => h.name === 'y')!;
    let victimClosed = false;
    victimConn.sock.on('error', () => {});
    victimConn.sock.on('close', () => { victimClosed = true; });

    await victim.kill();
    await until(() => victimClosed, 'the killed backend\'s connection fails');
    for (const h of held.filter((x) => x !== victimConn)) {
      const before = h.data().length;
      h.sock.write('alive\n');
      await until(() => h.data().slice(before).includes('alive'), `${h.name} still transfers`);
    }
    await until(() => /"dest":"127\.0\.0\.1\|\d+","healthy":false/.test(l.daemon!.log()), 'health marks y down');
    for (let i = 0; i < 6; i++) {
      const c = await client(port);
      expect(c.name).not.toBe('y');
      c.sock.destroy();
    }
    // The admin weight is never overwritten by health.
    expect((await l.adm('-L -n')).out).toContain(`127.0.0.1:${victim.port}              Masq    1 `);

    await victim.restart();
    await until(() => l.daemon!.log().includes('real server healthy again'), 'health brings y back');
    const names = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const c = await client(port);
      names.add(c.name);
      c.sock.destroy();
    }
    expect(names.has('y')).toBe(true);
    for (const h of held) h.sock.destroy();
  });
});
