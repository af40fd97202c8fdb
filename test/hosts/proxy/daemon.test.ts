// The proxy daemon as an operator meets it: SIGKILL and restart on the same
// state file, bad input (non-local VIP, port in use, a refusing real server)
// reported clearly without disturbing the rest, PROXY protocol towards a
// real server, and the Prometheus endpoint.
import { describe, it, expect, afterEach } from 'vitest';
import { createServer, connect, type Server } from 'node:net';
import { get } from 'node:http';
import { lab, backend, freePort, ask, client, until, listening, requireBuild, teardown, type Lab, type Backend } from './harness.js';

function fetchText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let b = '';
      res.on('data', (c) => { b += c; });
      res.on('end', () => resolve(b));
    }).on('error', reject);
  });
}

describe('wasmvsd proxy: operations', () => {
  let l: Lab;
  const closers: (() => Promise<void> | void)[] = [];
  afterEach(() => teardown(l, closers));

  async function backends(n: number): Promise<Backend[]> {
    const bs = await Promise.all(Array.from({ length: n }, (_, i) => backend(`k${i}`, { close: true })));
    closers.push(...bs.map((b) => () => b.kill()));
    return bs;
  }

  it('SIGKILL, restart on the same state file: same configuration, new connections work', async () => {
    requireBuild();
    l = lab();
    const bs = await backends(2);
    const port = await freePort();
    const vip = `127.0.0.1:${port}`;
    await l.start();
    expect((await l.adm(`-A -t ${vip} -s rr`)).code).toBe(0);
    for (const b of bs) expect((await l.adm(`-a -t ${vip} -r 127.0.0.1:${b.port} -m -w 3`)).code).toBe(0);
    await listening(l, port);
    expect(await ask(port)).toMatch(/^k[01]$/);
    const before = (await l.adm('-S -n')).out;
    l.daemon!.proc.kill('SIGKILL');
    await l.daemon!.exited;
    await l.start();
    expect((await l.adm('-S -n')).out).toBe(before);
    await listening(l, port);
    const names = new Set([await ask(port), await ask(port)]);
    expect(names).toEqual(new Set(['k0', 'k1']));
  });

  it('bad input: non-local VIP, port in use and a refusing real server are clear errors; the rest keeps working', async () => {
    requireBuild();
    l = lab();
    const [good] = await backends(1);
    const busy: Server = createServer();
    const busyPort = await freePort();
    await new Promise<void>((r) => busy.listen(busyPort, '127.0.0.1', r));
    closers.push(() => new Promise<void>((r) => busy.close(() => r())));
    const refusing = await freePort();
    const okPort = await freePort();
    const bad = await freePort();
    await l.start([
      `-A -t 198.18.7.7:80 -s rr`, `-a -t 198.18.7.7:80 -r 127.0.0.1:${good.port} -m`,
      `-A -t 127.0.0.1:${busyPort} -s rr`, `-a -t 127.0.0.1:${busyPort} -r 127.0.0.1:${good.port} -m`,
      `-A -t 127.0.0.1:${okPort} -s rr`, `-a -t 127.0.0.1:${okPort} -r 127.0.0.1:${good.port} -m`,
      `-A -t 127.0.0.1:${bad} -s rr`, `-a -t 127.0.0.1:${bad} -r 127.0.0.1:${refusing} -m`,
    ].join('\n') + '\n');
    await listening(l, okPort);
    await until(() => l.daemon!.log().includes('198.18.7.7 is not a local address (EADDRNOTAVAIL)'), 'non-local VIP error');
    await until(() => l.daemon!.log().includes(`port ${busyPort} is already in use on 127.0.0.1 (EADDRINUSE)`), 'port in use error');
    expect(await ask(okPort)).toBe('k0');
    // The refusing real server: the client is closed at once, the daemon carries on.
    await expect(client(bad)).rejects.toThrow();
    await expect(client(bad)).rejects.toThrow();
    await until(() => l.daemon!.log().includes(`real server 127.0.0.1:${refusing} refuses connections (ECONNREFUSED)`), 'refusal logged');
    expect(l.daemon!.log().split('refuses connections').length).toBe(2);
    expect(await ask(okPort)).toBe('k0');
    // Every service stays configured (ipvsadm keeps them whether or not traffic can reach them).
    const list = (await l.adm('-L -n')).out;
    for (const s of ['198.18.7.7:80', `127.0.0.1:${busyPort}`, `127.0.0.1:${bad}`]) expect(list).toContain(`TCP  ${s} rr`);
    expect(l.daemon!.proc.exitCode).toBe(null);
  });

  it('PROXY protocol v1 towards a real server and Prometheus metrics', async () => {
    requireBuild();
    l = lab();
    let header = '';
    const pp = createServer((s) => {
      s.once('data', (d) => { header = String(d); s.end('pp\n'); });
      s.on('error', () => {});
    });
    await new Promise<void>((r) => pp.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise<void>((r) => pp.close(() => r())));
    const ppPort = (pp.address() as { port: number }).port;
    const port = await freePort();
    const vip = `127.0.0.1:${port}`;
    await l.start([`-A -t ${vip} -s rr`, `-a -t ${vip} -r 127.0.0.1:${ppPort} -m`,
      `# wasmvs-proxy proxy-protocol -t ${vip} v1`, '# wasmvs-proxy metrics 127.0.0.1:0'].join('\n') + '\n');
    await listening(l, port);
    const c = await client(port, '127.0.0.9');
    expect(c.name).toBe('pp');
    expect(header).toBe(`PROXY TCP4 127.0.0.9 127.0.0.1 ${c.sock.localPort} ${port}\r\n`);
    c.sock.destroy();
    await until(() => /"address":"127\.0\.0\.1:\d+","msg":"metrics on \/metrics"/.test(l.daemon!.log()), 'metrics listening');
    const mport = /"address":"127\.0\.0\.1:(\d+)"/.exec(l.daemon!.log())![1];
    const label = `service="tcp/127.0.0.1:${port}",dest="127.0.0.1:${ppPort}"`;
    await until(async () => (await fetchText(`http://127.0.0.1:${mport}/metrics`)).includes(`wasmvs_dest_conns_total{${label}} 1`), 'conns metric');
    // Bytes reach the core with the next 1 s tick.
    const outbytes = new RegExp(`wasmvs_dest_outbytes_total\\{${label.replace(/[.|/]/g, '\\$&')}\\} 3\n`);
    await until(async () => outbytes.test(await fetchText(`http://127.0.0.1:${mport}/metrics`)), 'outbytes metric');
    const text = await fetchText(`http://127.0.0.1:${mport}/metrics`);
    expect(text).toContain(`wasmvs_dest_weight{${label}} 1`);
    expect(text).toContain(`wasmvs_dest_healthy{${label}} 1`);
    expect(text).toContain(`wasmvs_listener_up{service="tcp/127.0.0.1:${port}"} 1`);
    // Totals since -Z are counters (rate() reads -Z as a counter reset); instantaneous values are gauges.
    for (const f of ['conns', 'inpkts', 'outpkts', 'inbytes', 'outbytes']) {
      expect(text).toContain(`# TYPE wasmvs_service_${f}_total counter`);
      expect(text).toContain(`# TYPE wasmvs_dest_${f}_total counter`);
    }
    expect(text).toContain('# TYPE wasmvs_dest_active_conns gauge');
    expect(text).toContain('# TYPE wasmvs_service_cps gauge');
    // Every series names a service the same way: the failure counters join the service gauges.
    const dead = await freePort();
    const port2 = await freePort();
    const vip2 = `127.0.0.1:${port2}`;
    expect((await l.adm(['-A', '-t', vip2, '-s', 'rr'])).code).toBe(0);
    expect((await l.adm(['-a', '-t', vip2, '-r', `127.0.0.1:${dead}`, '-m'])).code).toBe(0);
    await listening(l, port2);
    await new Promise<void>((r) => {
      const s = connect(port2, '127.0.0.1');
      s.on('error', () => {});
      s.on('close', () => r());
    });
    const fail = `wasmvs_upstream_connect_failures_total{service="tcp/127.0.0.1:${port2}",dest="127.0.0.1:${dead}"} 1`;
    await until(async () => (await fetchText(`http://127.0.0.1:${mport}/metrics`)).includes(fail), 'connect failure metric');
    const all = await fetchText(`http://127.0.0.1:${mport}/metrics`);
    const services = new Set([...all.matchAll(/^wasmvs_service_conns_total\{service="([^"]+)"\}/gm)].map((m) => m[1]));
    const named = new Set([...all.matchAll(/service="([^"]+)"/g)].map((m) => m[1]));
    expect(services).toEqual(new Set([`tcp/127.0.0.1:${port}`, `tcp/127.0.0.1:${port2}`]));
    expect([...named].filter((n) => !services.has(n))).toEqual([]);
  });
});
