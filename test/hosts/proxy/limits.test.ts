// The proxy's bounds under hostile or broken traffic, through a real wasmvsd:
// a flood of spoofed UDP client flows in a daemon with few file descriptors
// (TCP, health checks and the control socket keep working; what is refused
// is counted), the TCP connection cap, the connect timeout towards a real
// server that never answers, and idle connections that outlive their entry.
import { describe, it, expect, afterEach } from 'vitest';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';
import {
  lab, backend, freePort, ask, client, until, listening, udpBackend, fetchText, metricsPort, counter,
  requireBuild, teardown, type Lab, type Client,
} from './harness.js';

/** Send one datagram from each of `flows` fresh client sockets, `batch` sockets open at a time (bounded). */
async function spray(port: number, flows: number, batch = 50): Promise<void> {
  for (let done = 0; done < flows; done += batch) {
    const socks = Array.from({ length: Math.min(batch, flows - done) }, () => createSocket('udp4'));
    await Promise.all(socks.map((s) => new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()))));
    await Promise.all(socks.map((s, i) => new Promise<void>((r) => s.send(`f${done + i}`, port, '127.0.0.1', () => r()))));
    // Pace the flood so the VIP socket's receive buffer holds it (the kernel would drop the excess, not the proxy).
    await new Promise((r) => setTimeout(r, 20));
    for (const s of socks) s.close();
  }
}

type Closer = () => Promise<void> | void;

/**
 * A TCP listener that never accepts: a child process blocked right after listen() with a tiny backlog,
 * its never-accepted queue filled so that further SYNs are dropped and a connect hangs. Returns its port;
 * the process and the fillers are closed by what it pushes onto `closers`.
 */
async function blackHole(closers: Closer[]): Promise<number> {
  const code = "const s=require('net').createServer();s.listen({port:0,host:'127.0.0.1',backlog:1},()=>{" +
    "process.stdout.write(s.address().port+'\\n');Atomics.wait(new Int32Array(new SharedArrayBuffer(4)),0,0,60000)})";
  const proc = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('black hole did not start')), 10_000);
    proc.stdout!.once('data', (d) => { clearTimeout(t); resolve(Number(String(d).trim())); });
  });
  closers.push(() => { proc.kill('SIGKILL'); });
  const fillers = [connect(port, '127.0.0.1'), connect(port, '127.0.0.1')];
  for (const f of fillers) { f.on('error', () => {}); closers.push(() => { f.destroy(); }); }
  await Promise.all(fillers.map((f) => new Promise((r) => f.once('connect', r))));
  return port;
}

describe('wasmvsd proxy: limits and defenses', () => {
  let l: Lab;
  const closers: Closer[] = [];
  afterEach(() => teardown(l, closers));

  it('1,200 spoofed UDP flows in a 256-fd daemon: sessions capped and counted; TCP, health and control unharmed', async () => {
    requireBuild();
    l = lab();
    const ub = await udpBackend('u');
    const tb = await backend('t', { close: true });
    closers.push(() => ub.close(), () => tb.kill());
    const uport = await freePort();
    const tport = await freePort();
    await l.start([
      `-A -u 127.0.0.1:${uport} -s rr`, `-a -u 127.0.0.1:${uport} -r 127.0.0.1:${ub.port} -m`,
      `-A -t 127.0.0.1:${tport} -s rr`, `-a -t 127.0.0.1:${tport} -r 127.0.0.1:${tb.port} -m`,
      `# wasmvs-proxy health -t 127.0.0.1:${tport} interval=0.2 timeout=1 rise=1 fall=2`,
      '# wasmvs-proxy metrics 127.0.0.1:0',
    ].join('\n') + '\n', { nofile: 256 });
    await listening(l, uport);
    await listening(l, tport);
    const mport = await metricsPort(l);

    await spray(uport, 1200);
    // The TCP service, the control socket and the metrics endpoint still answer.
    for (let i = 0; i < 5; i++) expect(await ask(tport)).toBe('t');
    const list = await l.adm('-L -n -c');
    expect(list.code).toBe(0);
    const entries = list.out.split('\n').filter((x) => x.startsWith('UDP') && x.includes(`127.0.0.1:${uport} `)).length;
    expect(entries).toBeGreaterThan(0);
    expect(entries).toBeLessThan(1200);
    const text = await fetchText(`http://127.0.0.1:${mport}/metrics`);
    const svc = `service="udp/127.0.0.1:${uport}"`;
    const refused = counter(text, 'wasmvs_udp_datagrams_dropped_total', `${svc},limit="udp_sessions_per_service"`) +
      counter(text, 'wasmvs_udp_datagrams_dropped_total', `${svc},limit="udp_sessions"`);
    expect(refused).toBeGreaterThan(0);
    // A datagram that reached the proxy either made a tracked session (one socket to the real server) or was dropped and counted.
    expect(ub.sources.size).toBe(entries);
    expect(refused + entries).toBeLessThanOrEqual(1200);
    expect(text).toContain(`wasmvs_dest_healthy{service="tcp/127.0.0.1:${tport}",dest="127.0.0.1:${tb.port}"} 1`);
    expect(l.daemon!.log()).not.toContain('real server down');
    expect(l.daemon!.log()).not.toContain('EMFILE');
    expect(l.daemon!.log()).toContain('UDP session limit reached');
    expect(l.daemon!.proc.exitCode).toBe(null);
  });

  it('TCP connection cap: the connection over the cap is reset and counted; a freed slot is usable again', async () => {
    requireBuild();
    l = lab();
    const b = await backend('c');
    closers.push(() => b.kill());
    const port = await freePort();
    const vip = `127.0.0.1:${port}`;
    await l.start([`-A -t ${vip} -s rr`, `-a -t ${vip} -r 127.0.0.1:${b.port} -m`,
      '# wasmvs-proxy limits tcp-conns=2', '# wasmvs-proxy metrics 127.0.0.1:0'].join('\n') + '\n');
    await listening(l, port);
    const mport = await metricsPort(l);
    const held: Client[] = [await client(port), await client(port)];
    await expect(client(port)).rejects.toThrow(/ECONNRESET|closed without an answer/);
    const text = await fetchText(`http://127.0.0.1:${mport}/metrics`);
    expect(counter(text, 'wasmvs_tcp_conns_refused_total', `service="tcp/${vip}"`)).toBe(1);
    expect(b.accepted).toBe(2);
    held[0].sock.destroy();
    await until(async () => { try { return (await ask(port)) === 'c'; } catch { return false; } }, 'a freed slot takes a new connection');
    held[1].sock.destroy();
  });

  it('connect timeout: a real server that never answers the handshake; the client is reset, the failure logged', async () => {
    requireBuild();
    l = lab();
    const holePort = await blackHole(closers);
    const port = await freePort();
    const vip = `127.0.0.1:${port}`;
    await l.start([`-A -t ${vip} -s rr`, `-a -t ${vip} -r 127.0.0.1:${holePort} -m`, '# wasmvs-proxy limits connect-timeout=1'].join('\n') + '\n');
    await listening(l, port);
    await expect(client(port)).rejects.toThrow(/ECONNRESET|closed without an answer/);
    // With --workers the worker resets the client and the daemon logs one message later.
    await until(() => l.daemon!.log().includes(`real server 127.0.0.1:${holePort} does not answer (ETIMEDOUT)`), 'the failure logged');
  });

  it('tcp-pending: past the bound of connections waiting for a silent real server, a client is reset and counted', async () => {
    requireBuild();
    l = lab();
    const holePort = await blackHole(closers);
    const port = await freePort();
    const vip = `127.0.0.1:${port}`;
    await l.start([`-A -t ${vip} -s rr`, `-a -t ${vip} -r 127.0.0.1:${holePort} -m`,
      '# wasmvs-proxy limits tcp-pending=2 tcp-conns=10 connect-timeout=3', '# wasmvs-proxy metrics 127.0.0.1:0'].join('\n') + '\n');
    await listening(l, port);
    const mport = await metricsPort(l);
    const gauge = async () => Number(/^wasmvs_tcp_pending (\d+)$/m.exec(await fetchText(`http://127.0.0.1:${mport}/metrics`))?.[1] ?? -1);
    // Two clients wait for the real server's answer (held open by the proxy, no reply).
    const waiting = [connect(port, '127.0.0.1'), connect(port, '127.0.0.1')];
    const ends: string[] = [];
    for (const w of waiting) { w.on('error', (e: NodeJS.ErrnoException) => ends.push(e.code ?? e.message)); closers.push(() => { w.destroy(); }); }
    await until(async () => (await gauge()) === 2, 'two half-open connections');
    // The third is reset at once, not left waiting.
    await expect(client(port)).rejects.toThrow(/ECONNRESET|closed without an answer/);
    const text = await fetchText(`http://127.0.0.1:${mport}/metrics`);
    expect(counter(text, 'wasmvs_tcp_pending_refused_total', `service="tcp/${vip}"`)).toBe(1);
    expect(counter(text, 'wasmvs_tcp_conns_refused_total', `service="tcp/${vip}"`)).toBe(0);
    expect(l.daemon!.log()).toContain('TCP half-open limit reached (tcp_pending=2');
    // The connect timeout resets the waiting two and frees the slots.
    await until(() => ends.length === 2, 'waiting clients reset after connect-timeout', 15_000);
    expect(ends).toEqual(['ECONNRESET', 'ECONNRESET']);
    await until(async () => (await gauge()) === 0, 'no half-open connection left');
  });

  it('half-closed and idle: the real server FIN with a silent client ends when the FIN timeout (tcpfin) expires', async () => {
    requireBuild();
    l = lab();
    // A real server that half-closes its side at once and then keeps the connection, silent.
    const held = new Set<import('node:net').Socket>();
    const srv = createServer({ allowHalfOpen: true }, (s) => { held.add(s); s.on('error', () => {}); s.on('close', () => held.delete(s)); s.end(); });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    closers.push(() => { for (const s of held) s.destroy(); srv.close(); });
    const bport = (srv.address() as { port: number }).port;
    const port = await freePort();
    const vip = `127.0.0.1:${port}`;
    await l.start(`-A -t ${vip} -s rr\n-a -t ${vip} -r 127.0.0.1:${bport} -m\n`);
    await listening(l, port);
    expect((await l.adm('--set 600 2 600')).code).toBe(0);
    // The client never sends its FIN: the connection stays half-closed (IPVS: FIN_WAIT, timeout tcpfin).
    const c = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    let ended = false, closed = false;
    c.on('error', () => {});
    c.on('end', () => { ended = true; });
    c.on('close', () => { closed = true; });
    await until(() => ended, 'the real server\'s FIN reached the client');
    const state = async () => (await l.adm('-L -n -c')).out.split('\n').find((x) => x.includes(`${vip} `)) ?? '';
    expect(await state()).toMatch(/ FIN_WAIT /);
    expect(closed).toBe(false);
    // ESTABLISHED would keep it 600 s; the FIN timeout of 2 s ends it: the real server is reset, the
    // client's socket (which already got its FIN, so cannot be reset) is closed, and the client's next
    // bytes meet a reset.
    await until(() => held.size === 0, 'real server socket closed after the FIN timeout', 20_000);
    expect(await state()).not.toMatch(/ FIN_WAIT /);
    expect(closed).toBe(false);
    c.write('late\n');
    await until(() => closed, 'the client reset on its next send', 10_000);
  });

  it('idle timeout: traffic keeps a connection; once idle past the table timeout, its entry and both sockets go', async () => {
    requireBuild();
    l = lab();
    const b = await backend('i');
    closers.push(() => b.kill());
    const port = await freePort();
    const vip = `127.0.0.1:${port}`;
    await l.start(`-A -t ${vip} -s rr\n-a -t ${vip} -r 127.0.0.1:${b.port} -m\n`);
    await listening(l, port);
    expect((await l.adm('--set 3 3 3')).code).toBe(0);
    const c = await client(port);
    let closed = false;
    c.sock.on('close', () => { closed = true; });
    // Busy for longer than the timeout: each flush re-arms the entry, the connection stays.
    for (let i = 0; i < 10; i++) {
      const before = c.data().length;
      c.sock.write(`ping${i}\n`);
      await until(() => c.data().length > before, `echo ${i}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(closed).toBe(false);
    // Idle: the ESTABLISHED entry expires after 3 s and takes both sockets with it.
    await until(() => closed, 'client socket closed after the idle timeout', 30_000);
    await until(() => b.sockets.size === 0, 'real server socket closed', 10_000);
    const entries = (await l.adm('-L -n -c')).out.split('\n').filter((x) => x.includes(`${vip} `) && x.includes('ESTABLISHED'));
    expect(entries).toEqual([]);
  });
});
