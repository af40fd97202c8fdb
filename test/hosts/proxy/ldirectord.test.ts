// ldirectord (Debian package ldirectord, the real Perl daemon, unchanged) driving
// wasmvsd proxy through wasmvsadm, as it drives IPVS through ipvsadm: it runs
// /sbin/ipvsadm, parses `-L -n` and `-L -n --thresholds`, and adds, quiesces,
// deletes and restores real servers from its HTTP health checks. Here
// /usr/sbin/ipvsadm is wasmvsadm by a bind mount in a mount namespace of
// ldirectord's own (docs/ldirectord.md), so nothing on the machine changes.
// The real servers are HTTP servers on 127.0.0.2 and 127.0.0.3 whose check page
// the test turns from OK to DOWN and back; the clients go through the VIP.
import { describe, it, expect, afterEach } from 'vitest';
import { createServer, get, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import { missingLdirectord, startLdirectord, ldirectordCtl, ldirectordLog, ldirectordRunning, killLdirectord, listedWeight, type Ld } from '../../daemon/ldirectord.js';
import { lab, freePort, until, requireBuild, type Lab } from './harness.js';

const why = missingLdirectord();
if (why && process.env.CI === 'true') throw new Error(`ldirectord suite: ${why}`);
if (why) console.warn(`SKIPPING test/hosts/proxy/ldirectord: ${why}`);

/** An HTTP real server: `/alive.html` answers `alive` (the health check's page), anything else the name. */
interface Real { name: string; host: string; port: number; alive: string; hits: number; server: Server; close(): Promise<void> }

async function real(name: string, host: string): Promise<Real> {
  const r = { name, host, port: 0, alive: 'OK', hits: 0 } as Real;
  r.server = createServer((req, res) => {
    if (req.url === '/alive.html') { res.end(`${r.alive}\n`); return; }
    r.hits++;
    res.end(`${name}\n`);
  });
  await new Promise<void>((resolve) => r.server.listen(0, host, resolve));
  r.port = (r.server.address() as { port: number }).port;
  r.close = () => new Promise<void>((resolve) => { r.server.closeAllConnections(); r.server.close(() => resolve()); });
  return r;
}

/** One GET through the VIP on a connection of its own: the name of the real server that answered. */
function fetchName(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 5000 }, (res) => {
      let b = '';
      res.on('data', (c) => { b += c; });
      res.on('end', () => resolve(b.trim()));
    });
    req.on('timeout', () => req.destroy(new Error('GET timed out')));
    req.on('error', reject);
  });
}

/** A keep-alive connection through the VIP; `ask()` sends one GET / on it and resolves with the body. */
async function keepAlive(port: number): Promise<{ sock: Socket; ask(): Promise<string> }> {
  const sock = connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
  return {
    sock,
    ask: () => new Promise((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(() => { sock.off('data', onData); reject(new Error('no answer on the kept connection')); }, 5000);
      const onData = (d: Buffer) => {
        buf += d.toString();
        const head = buf.indexOf('\r\n\r\n');
        const len = /content-length: (\d+)/i.exec(buf);
        if (head >= 0 && len && buf.length >= head + 4 + Number(len[1])) {
          clearTimeout(timer);
          sock.off('data', onData);
          resolve(buf.slice(head + 4, head + 4 + Number(len[1])).trim());
        }
      };
      sock.on('data', onData);
      sock.write('GET / HTTP/1.1\r\nHost: vip\r\nConnection: keep-alive\r\n\r\n');
    }),
  };
}

const running: Ld[] = [];

/** `ldirectord start` on the lab's daemon (docs/ldirectord.md), killed after the test if still running. */
async function startLd(l: Lab, text: string): Promise<Ld> {
  const ld = await startLdirectord({ dir: l.dir, socket: l.sock, name: `wasmvs-ld-${process.pid}-${running.length}.cf`, text });
  running.push(ld);
  return ld;
}

/** The weight of one real server in `wasmvsadm -L -n`, or null when it is not listed. */
async function weight(l: Lab, rs: Real): Promise<number | null> {
  return listedWeight((await l.adm('-L -n')).out, `${rs.host}:${rs.port}`);
}

async function names(port: number, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(await fetchName(port));
  return out;
}

const count = (xs: string[], x: string) => xs.filter((y) => y === x).length;

describe.skipIf(why !== null)('ldirectord drives wasmvsd proxy through wasmvsadm', () => {
  let l: Lab | undefined;
  const closers: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const ld of running.splice(0)) killLdirectord(ld);
    for (const c of closers.splice(0)) await c();
    await l?.stop();
    l?.cleanup();
    l = undefined;
  });

  async function setup(): Promise<{ lab: Lab; a: Real; b: Real; c: Real; port: number; vip: string }> {
    requireBuild();
    l = lab('wasmvs-ld-');
    await l.start();
    const a = await real('a', '127.0.0.2');
    const b = await real('b', '127.0.0.3');
    const c = await real('c', '127.0.0.4');
    closers.push(() => a.close(), () => b.close(), () => c.close());
    const port = await freePort();
    return { lab: l, a, b, c, port, vip: `127.0.0.1:${port}` };
  }

  const service = (vip: string, reals: string, extra = '') => `checktimeout=2
checkinterval=1
autoreload=no
${extra}virtual=${vip}
${reals}	service=http
	request="alive.html"
	receive="OK"
	scheduler=wrr
	protocol=tcp
	checktype=negotiate
`;

  it('builds the configured service, quiesces a failed real server (weight 0) and restores it, and removes all at stop', async () => {
    const { lab: L, a, b, port, vip } = await setup();
    const ld = await startLd(L, service(vip, `	real=${a.host}:${a.port} masq 1\n	real=${b.host}:${b.port} masq 2\n`, 'quiescent=yes\n'));
    await until(async () => (await weight(L, a)) === 1 && (await weight(L, b)) === 2, 'both real servers added with their weights');
    expect((await L.adm('-L -n')).out).toBe([
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
      `TCP  ${vip} wrr`,
      // ipvsadm's "  -> %-28s %-7s %-6d %-10u %-10u"
      ...([[a, 1], [b, 2]] as const).map(([r, w]) => `  -> ${`${r.host}:${r.port}`.padEnd(28)} ${'Masq'.padEnd(7)} ${String(w).padEnd(6)} ${'0'.padEnd(10)} ${'0'.padEnd(10)}`),
      '',
    ].join('\n'));
    // wrr over weights 1 and 2: two of every three new connections to b.
    const before = await names(port, 6);
    expect(count(before, 'a')).toBe(2);
    expect(count(before, 'b')).toBe(4);

    // A client already on b before its check fails keeps its connection (IPVS keeps established flows of a weight 0 server).
    // wrr has sent it to a or b: up to three tries for one on b.
    let kept: Awaited<ReturnType<typeof keepAlive>> | undefined;
    for (let i = 0; i < 3 && !kept; i++) {
      const k = await keepAlive(port);
      closers.push(() => { k.sock.destroy(); });
      if (await k.ask() === 'b') kept = k;
      else k.sock.destroy();
    }
    expect(kept, 'a kept connection on b').toBeDefined();

    b.alive = 'DOWN';
    await until(async () => (await weight(L, b)) === 0, 'b quiesced (weight 0) after its check failed');
    expect(ldirectordLog(ld)).toMatch(new RegExp(`Quiescent real server: ${b.host.replace(/\./g, '\\.')}:${b.port} .*Weight set to 0`));
    const hitsB = b.hits;
    const during = await names(port, 6);
    expect(during).toEqual(['a', 'a', 'a', 'a', 'a', 'a']);
    expect(b.hits).toBe(hitsB);
    expect(await kept!.ask()).toBe('b');

    b.alive = 'OK';
    await until(async () => (await weight(L, b)) === 2, 'b restored to weight 2 after its check passed');
    expect(count(await names(port, 6), 'b')).toBe(4);

    ldirectordCtl(ld, 'stop');
    await until(() => !ldirectordRunning(ld), 'ldirectord exited after stop');
    expect((await L.adm('-L -n')).out).not.toContain(`TCP  ${vip}`);
    expect(ldirectordLog(ld)).toContain(`Purged virtual server (stop): ${vip}`);
    expect(ldirectordLog(ld)).not.toMatch(/system\(.*\) failed/);
  }, 90_000);

  it('quiescent=no deletes a failed real server and adds it back; with every real server down, the fallback serves', async () => {
    const { lab: L, a, b, c, port, vip } = await setup();
    const ld = await startLd(L, service(vip, `	real=${a.host}:${a.port} masq 1\n	real=${b.host}:${b.port} masq 1\n	fallback=${c.host}:${c.port} masq\n`, 'quiescent=no\n'));
    await until(async () => (await weight(L, a)) === 1 && (await weight(L, b)) === 1, 'both real servers added');
    expect(await weight(L, c)).toBeNull();

    b.alive = 'DOWN';
    await until(async () => (await weight(L, b)) === null, 'b deleted after its check failed');
    expect(await names(port, 4)).toEqual(['a', 'a', 'a', 'a']);

    a.alive = 'DOWN';
    await until(async () => (await weight(L, a)) === null && (await weight(L, c)) !== null, 'a deleted and the fallback added');
    expect(await names(port, 3)).toEqual(['c', 'c', 'c']);

    a.alive = 'OK';
    b.alive = 'OK';
    await until(async () => (await weight(L, a)) === 1 && (await weight(L, b)) === 1 && (await weight(L, c)) === null,
      'a and b added back, the fallback gone');
    const after = await names(port, 4);
    expect(count(after, 'a')).toBe(2);
    expect(count(after, 'b')).toBe(2);
    expect(ldirectordLog(ld)).not.toMatch(/system\(.*\) failed/);
  }, 90_000);

  it('reads back what it set (weights, thresholds, persistence): a reload with the same configuration edits no real server', async () => {
    const { lab: L, a, b, vip } = await setup();
    const ld = await startLd(L, service(vip, `	real=${a.host}:${a.port} masq 2 l:3 u:10\n	real=${b.host}:${b.port} masq 1\n`,
      'quiescent=yes\n').replace('scheduler=wrr', 'scheduler=wlc\n	persistent=300\n	netmask=255.255.255.0'));
    await until(async () => (await weight(L, a)) === 2 && (await weight(L, b)) === 1, 'both real servers added');
    const list = (await L.adm('-L -n --thresholds')).out;
    expect(list).toContain(`TCP  ${vip} wlc persistent 300 mask 255.255.255.0\n`);
    expect(list).toContain(`  -> ${`${a.host}:${a.port}`.padEnd(28)} ${'10'.padEnd(10)} ${'3'.padEnd(10)} `);
    // On reload ldirectord reads `-L -n` and `-L -n --thresholds` back: a service it finds gets `-E` with
    // its flags (one it missed would get `-A`, and fail), a real server whose weight, thresholds or
    // forwarding method read back other than configured gets `-e` (or `-a`). With the same configuration:
    // the `-E` alone.
    const changes = () => [...L.daemon!.log().matchAll(/"rule":"([^"]*)","msg":"config change"/g)].map((m) => m[1]);
    const settled = changes().length;
    ldirectordCtl(ld, 'reload');
    await until(() => ldirectordLog(ld).includes('Reloading Linux Director Daemon config on signal'), 'ldirectord to reload');
    await until(() => changes().length > settled, 'the -E of the reload');
    // Its checks after the reload (one a second) come and go with nothing more to change.
    await new Promise((r) => setTimeout(r, 3000));
    expect(changes().slice(settled)).toEqual([`-E -t ${vip} -s wlc -p 300 -M 255.255.255.0`]);
    expect(ldirectordLog(ld)).not.toMatch(/system\(.*\) failed|Unknown line/);
  }, 90_000);

  it('reload: a real server added to the configuration and a weight changed are applied without a restart', async () => {
    const { lab: L, a, b, port, vip } = await setup();
    const cfg = (reals: string) => service(vip, reals, 'quiescent=yes\n');
    const ld = await startLd(L, cfg(`	real=${a.host}:${a.port} masq 1\n`));
    await until(async () => (await weight(L, a)) === 1, 'a added');
    expect(await names(port, 2)).toEqual(['a', 'a']);
    writeFileSync(ld.cf, `logfile="${ld.log}"\n${cfg(`	real=${a.host}:${a.port} masq 3\n	real=${b.host}:${b.port} masq 1\n`)}`);
    ldirectordCtl(ld, 'reload');
    await until(async () => (await weight(L, a)) === 3 && (await weight(L, b)) === 1, 'a at weight 3 and b added after reload');
    const got = await names(port, 8);
    expect(count(got, 'a')).toBe(6);
    expect(count(got, 'b')).toBe(2);
    expect(ldirectordRunning(ld)).toBe(true);
  }, 90_000);
});
