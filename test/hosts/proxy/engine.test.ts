// The native connection engine (--engine native: hosts/proxy/engine.ts and
// the addon's engine threads), in process with real sockets on loopback:
// bytes arrive exactly both ways (copy, then splice past 64 KiB; copy only
// with --splice off), a FIN is passed on as a FIN while the other direction
// flows, a refused connect resets the client and is counted, so does a real
// server that never answers (at connect-timeout, the engine's deadline), rr and wlc
// choose as the core says over many connections (wlc exactly, with two
// engine threads too), the table's states and the statistics match what was
// sent, an idle connection is cut at the table's timeout, stopping resets
// what is open, a port in use is a clear listener error, and no fd is left.
import { describe, it, expect, afterEach } from 'vitest';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { existsSync, readdirSync } from 'node:fs';
import { Director } from '../../../sdk/director.js';
import type { SchedulerName } from '../../../sdk/types.js';
import { ProxyDataPath } from '../../../hosts/proxy/proxy.js';
import type { SpliceMode } from '../../../hosts/proxy/options.js';
import { silentLogger, type Logger } from '../../../daemon/logger.js';
import { spawn, type ChildProcess } from 'node:child_process';
import type { ProxySettings } from '../../../daemon/settings.js';
import { ADDON, inCI } from '../gateway/prereq.js';
import { loadNativeCore } from '../../../native/addon.js';
import type { CoreExports } from '../../../sdk/core/exports.js';
import { until, MB, bytes, digest, freePort } from './harness.js';
import { dial, collect, bulkServer, bulkExchange } from './inproc.js';

const built = existsSync(ADDON);
if (!built && !inCI) console.warn(`\n*** SKIPPING engine suite: addon not built (${ADDON}); npm run build:native ***\n`);
const suite = describe.skipIf(!built && !inCI);

interface Rig { director: Director; proxy: ProxyDataPath; port: number; servers: Server[]; ports: number[]; accepted: Socket[][] }

/** `backends` real servers on loopback running `onConn`, one service (`scheduler`) on a free port, the proxy on the native engine. */
async function rig(onConn: (s: Socket, backend: number) => void, opts: {
  backends?: number; scheduler?: SchedulerName; weights?: number[]; splice?: SpliceMode; workers?: number;
  settings?: (port: number) => Partial<ProxySettings>; deadPort?: boolean; destPort?: number; log?: Logger;
  /** The director on the addon's native core, which the engine's threads decide on (as wasmvsd proxy does with --workers 2+). */
  nativeCore?: boolean;
} = {}): Promise<Rig> {
  if (inCI && !built) throw new Error(`addon not built in CI: ${ADDON}`);
  const n = opts.backends ?? 1;
  const servers: Server[] = [], ports: number[] = [], accepted: Socket[][] = [];
  for (let i = 0; i < n; i++) {
    const got: Socket[] = [];
    const server = createServer({ allowHalfOpen: true }, (s) => { got.push(s); onConn(s, i); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    servers.push(server);
    accepted.push(got);
    ports.push((server.address() as { port: number }).port);
  }
  const native = opts.nativeCore ? loadNativeCore() : null;
  if (native !== null && native.exports === null) throw new Error(`native core: ${native.why}`);
  const director = native?.exports
    ? await Director.create({ exports: native.exports as unknown as CoreExports, clock: () => performance.now() / 1000 })
    : await Director.create({ flavor: 'debug' });
  const port = await freePort();
  const key = { protocol: 'tcp' as const, address: '127.0.0.1', port };
  director.addService(key, { scheduler: opts.scheduler ?? 'wlc' });
  // A real server that refuses: a port nobody listens on.
  const dests = opts.destPort !== undefined ? [opts.destPort] : opts.deadPort ? [await freePort()] : ports;
  dests.forEach((p, i) => director.addDest(key, { address: '127.0.0.1', port: p, method: 'masq', weight: opts.weights?.[i] ?? 1 }));
  const proxy = new ProxyDataPath({
    log: opts.log ?? silentLogger(), splice: opts.splice ?? 'auto', tickMs: 100, settings: opts.settings?.(port), engine: 'native', workers: opts.workers,
    nativeCore: native?.exports ? native.core : undefined,
  });
  await proxy.start(director);
  expect(proxy.engine).not.toBeNull();
  return { director, proxy, port, servers, ports, accepted };
}


/** One request, the whole answer, then close. */
async function exchange(port: number, text: string): Promise<string> {
  const c = await dial(port);
  const got = collect(c);
  c.end(text);
  const r = await got;
  c.destroy();
  if (r.error) throw new Error(`exchange: ${r.error}`);
  return r.data.toString();
}

const destsOf = (r: Rig) => r.director.dests({ protocol: 'tcp', address: '127.0.0.1', port: r.port });
const conns = (r: Rig) => r.director.connections().filter((x) => !x.template);
const fds = () => readdirSync('/proc/self/fd').length;

suite('proxy --engine native: the addon owns the TCP sockets, the core decides', () => {
  let r: Rig | null = null;
  const children: ChildProcess[] = [];
  afterEach(async () => {
    for (const p of children.splice(0)) p.kill('SIGKILL');
    if (!r) return;
    await r.proxy.stop(0);
    for (const list of r.accepted) for (const s of list) s.destroy();
    for (const s of r.servers) s.close();
    r = null;
  });

  it.each([['auto'], ['off']] as const)('16 MiB each way at once (--splice %s): exact bytes under backpressure, counted exactly at the end', async (splice) => {
    const up = bytes(16 * MB, 1), down = bytes(16 * MB, 2);
    r = await rig(bulkServer(down), { splice });
    await bulkExchange(r.port, up, down);
    await until(() => r!.proxy.openFlows() === 0, 'flow closed');
    const st = r.proxy.engine!.stats();
    expect(st.accepted).toBe(1);
    expect(st.closed).toBe(1);
    expect(st.spliced + st.copied).toBe(up.length + down.length + 65);
    // auto: past 64 KiB a direction moves by splice(2); off: never.
    if (splice === 'off') expect(st.spliced).toBe(0);
    else expect(st.spliced).toBeGreaterThan(up.length);
    const d = destsOf(r)[0];
    expect(d.stats).toMatchObject({ conns: 1, inbytes: up.length, outbytes: down.length + 65 });
    expect(d.stats.inpkts).toBeGreaterThan(0);
    expect(d.stats.outpkts).toBeGreaterThan(0);
  });

  it.each([['JS decides', false], ['the pump decides on the native core and gives the table its state changes', true]] as const)('half-close (%s): the client FIN reaches the real server, whose answer still flows back; states follow the table (ESTABLISHED → inactive → TIME_WAIT)', async (_, nativeCore) => {
    let serverEnded = false;
    let answer: () => void = () => {};
    r = await rig((s) => {
      const got: Buffer[] = [];
      s.on('data', (d: Buffer) => got.push(d));
      s.on('end', () => { serverEnded = true; answer = () => s.end(`got ${Buffer.concat(got)}`); });
    }, { nativeCore });
    const c = await dial(r.port);
    const reply = collect(c);
    c.write('hel');
    await until(() => conns(r!).map((x) => x.state).join() === 'ESTABLISHED', 'ESTABLISHED');
    expect(destsOf(r)[0]).toMatchObject({ activeconns: 1, inactconns: 0 });
    expect(conns(r)[0].client).toEqual({ address: '127.0.0.1', port: c.localPort });
    c.end('lo');
    await until(() => serverEnded, 'FIN at the real server');
    await until(() => destsOf(r!)[0].inactconns === 1 && destsOf(r!)[0].activeconns === 0, 'entry inactive after the client FIN');
    expect(c.destroyed).toBe(false);
    answer();
    expect(await reply).toEqual({ data: Buffer.from('got hello') });
    await until(() => r!.proxy.openFlows() === 0, 'flow closed');
    expect(conns(r).map((x) => x.state)).toEqual(['TIME_WAIT']);
    await until(() => destsOf(r!)[0].stats.inbytes === 5 && destsOf(r!)[0].stats.outbytes === 9, '--stats bytes');
  });

  it('a refused connect resets the client and is counted; the entry is CLOSE', async () => {
    r = await rig(() => {}, { deadPort: true });
    // The reset can reach the client before Node saw its connect complete: either way it is the reset.
    const c = connect({ host: '127.0.0.1', port: r.port, allowHalfOpen: true });
    const got = collect(c);
    c.write('ping');
    expect((await got).error).toBe('ECONNRESET');
    await until(() => r!.proxy.openFlows() === 0, 'flow closed');
    expect(r.proxy.engine!.stats().connectFailed).toBe(1);
    expect(conns(r).map((x) => x.state)).toEqual(['CLOSE']);
  });

  it('a real server that does not answer: the engine\'s connect deadline (connect-timeout) resets the client', async () => {
    // A listener whose accept queue is full and never drained: the kernel drops further SYNs, so a connect hangs.
    const py = spawn('python3', ['-c', [
      'import socket, time', 's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)',
      'fill = socket.create_connection(s.getsockname())',
      'print(s.getsockname()[1], flush=True); time.sleep(60)'].join('\n')], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(py);
    const port = await new Promise<number>((res, rej) => { py.stdout!.once('data', (d: Buffer) => res(Number(String(d).trim()))); py.once('error', rej); });
    const warned: string[] = [];
    const log = silentLogger();
    log.warn = ((o: unknown, m?: string) => { warned.push(String(m ?? o)); }) as typeof log.warn;
    r = await rig(() => {}, { destPort: port, log, settings: () => ({ limits: { connectTimeout: 0.5 } }) });
    const c = connect({ host: '127.0.0.1', port: r.port, allowHalfOpen: true });
    const got = collect(c);
    c.write('ping');
    expect((await got).error).toBe('ECONNRESET');
    await until(() => r!.proxy.openFlows() === 0, 'flow closed');
    expect(r.proxy.engine!.stats().connectFailed).toBe(1);
    expect(conns(r).map((x) => x.state)).toEqual(['CLOSE']);
    expect(warned.join('\n')).toContain(`real server 127.0.0.1:${port} does not answer (ETIMEDOUT)`);
  });

  it('a real server reset resets the client; a client reset resets the real server', async () => {
    const serverErrors: string[] = [];
    let mode: 'server-resets' | 'client-resets' = 'server-resets';
    r = await rig((s) => {
      s.on('error', (e: NodeJS.ErrnoException) => serverErrors.push(e.code ?? e.message));
      s.once('data', () => { if (mode === 'server-resets') s.resetAndDestroy(); });
    });
    const c1 = await dial(r.port);
    const got1 = collect(c1);
    c1.write('ping');
    expect((await got1).error).toBe('ECONNRESET');
    await until(() => r!.proxy.openFlows() === 0, 'first flow closed');
    mode = 'client-resets';
    const c2 = await dial(r.port);
    c2.on('error', () => {});
    c2.write('ping');
    await until(() => r!.accepted[0].length === 2 && r!.accepted[0][1].bytesRead === 4, 'bytes at the real server');
    c2.resetAndDestroy();
    await until(() => serverErrors.includes('ECONNRESET'), 'RST at the real server');
    await until(() => r!.proxy.openFlows() === 0, 'second flow closed');
    expect(conns(r).map((x) => x.state)).toEqual(['CLOSE', 'CLOSE']);
  });

  it.each([['one pump', false, 1], ['one pump deciding on the native core', true, 1], ['two pumps deciding on the native core', true, 2]] as const)('rr over 90 connections (%s): each of 3 real servers in turn, 30 each, and --stats counts every byte', async (_, nativeCore, workers) => {
    r = await rig((s, i) => { s.on('data', () => {}); s.on('end', () => s.end(`b${i}`)); }, { backends: 3, scheduler: 'rr', ...(nativeCore ? { workers, nativeCore } : {}) });
    // The real server each flow is booked against (a thread's decision: from its word, Director.decisionFor).
    const booked: number[] = [];
    const ok = r.proxy.connectOk.bind(r.proxy);
    r.proxy.connectOk = (key, dest) => { booked.push(dest.port); ok(key, dest); };
    const seen: string[] = [];
    for (let k = 0; k < 90; k++) seen.push(await exchange(r.port, `req${k % 10}`));
    // rr walks the list from its end (dests are listed newest first): a strict cycle over the three.
    for (let k = 3; k < 90; k++) expect(seen[k]).toBe(seen[k - 3]);
    expect(new Set(seen.slice(0, 3)).size).toBe(3);
    await until(() => r!.proxy.openFlows() === 0, 'flows closed');
    await until(() => destsOf(r!).every((d) => d.stats.inbytes === 30 * 4 && d.stats.outbytes === 30 * 2), '--stats bytes per dest');
    expect(destsOf(r).map((d) => d.stats.conns)).toEqual([30, 30, 30]);
    await until(() => booked.length === 90, 'every connection established');
    expect(r.ports.map((p) => booked.filter((b) => b === p).length)).toEqual([30, 30, 30]);
    // The kernel spreads the clients over the two pumps' listeners (SO_REUSEPORT): the thread decided its own.
    // One pump on the native core decides every client itself (the main thread's pump, no call into JS each).
    if (nativeCore && workers === 1) expect(r.proxy.engine!.stats().decidedHere).toBe(90);
    else if (nativeCore) expect(r.proxy.engine!.stats().decidedHere).toBeGreaterThan(0);
    else expect(r.proxy.engine!.stats().decidedHere ?? 0).toBe(0);
    // Every connection ended once in the table (the pump gave it the close; JS did not give it again).
    expect(conns(r).length).toBe(90);
    expect(conns(r).every((x) => x.state === 'TIME_WAIT')).toBe(true);
  });

  it.each([[1, false], [2, false], [1, true], [2, true]])('wlc with %s engine thread(s) (on the native core: %s): 30 open connections split 10/20 by weight, exactly', async (workers, nativeCore) => {
    r = await rig((s) => { s.on('data', () => {}); s.on('error', () => {}); }, { backends: 2, scheduler: 'wlc', weights: [1, 2], workers, nativeCore });
    expect(r.proxy.engine!.stats().threads).toBe(workers);
    const open: Socket[] = [];
    for (let k = 0; k < 30; k++) {
      const c = await dial(r.port);
      c.on('error', () => {});
      open.push(c);
      await until(() => destsOf(r!).reduce((n, d) => n + d.activeconns, 0) === k + 1, `connection ${k + 1} established`);
    }
    const byPort = new Map(destsOf(r).map((d) => [d.port, d.activeconns]));
    expect([byPort.get(r.ports[0]), byPort.get(r.ports[1])]).toEqual([10, 20]);
    await until(() => r!.accepted[0].length + r!.accepted[1].length === 30, 'all 30 at the real servers');
    expect(r.accepted.map((a) => a.length)).toEqual([10, 20]);
    // A reset each (a FIN would leave them half-closed: these real servers never end their side).
    for (const c of open) c.resetAndDestroy();
    await until(() => r!.proxy.openFlows() === 0, 'flows closed');
    if (nativeCore) expect(r.proxy.engine!.stats().decidedHere).toBeGreaterThan(0);
  });

  it('two pumps on the native core keep tcp_conns: the threads decide within the room admit() has, the rest is refused as before', async () => {
    r = await rig((s) => { s.on('data', () => {}); s.on('error', () => {}); }, { workers: 2, nativeCore: true, settings: () => ({ limits: { tcpConns: 6 } }) });
    // Twelve clients at once: whichever pump takes them, six are served and six reset.
    const open = Array.from({ length: 12 }, () => {
      const c = connect({ host: '127.0.0.1', port: r!.port });
      c.on('error', () => {});
      c.write('x');
      return c;
    });
    await until(() => r!.proxy.openFlows() === 6 && destsOf(r!)[0].activeconns === 6, 'six served');
    await until(() => open.filter((c) => c.destroyed).length === 6, 'six reset');
    expect(r.accepted[0].length).toBe(6);
    for (const c of open) c.resetAndDestroy();
    await until(() => r!.proxy.openFlows() === 0, 'flows closed');
  });

  it('two pumps on the native core, stopping: a client a thread decided just before keeps its connection until it ends', async () => {
    r = await rig((s) => { s.on('data', (d: Buffer) => s.write(d)); s.on('end', () => s.end()); s.on('error', () => {}); }, { workers: 2, nativeCore: true });
    const echo = (c: Socket, text: string) => new Promise<void>((resolve, reject) => {
      let got = '';
      const on = (d: Buffer) => { got += d; if (got.includes(text)) { c.off('data', on); resolve(); } };
      c.on('data', on);
      c.once('close', () => reject(new Error(`closed before the echo of ${text}`)));
      c.write(text);
    });
    // Clients until the last one was a thread's (its DECIDED event then waits in the pump: fewer than 16, within 250 ms).
    const open: Socket[] = [];
    for (let k = 0, before = 0; k < 12; k++) {
      const c = connect({ host: '127.0.0.1', port: r.port });
      c.on('error', () => {});
      open.push(c);
      await echo(c, `hi${k}`);
      const now = r.proxy.engine!.stats().decidedHere ?? 0;
      if (now > before) break;
      before = now;
    }
    expect(r.proxy.engine!.stats().decidedHere).toBeGreaterThan(0);
    // stop() closes the listeners first, then waits for the open connections (SIGTERM's drain).
    const stopping = r.proxy.stop(10_000);
    for (const [k, c] of open.entries()) await echo(c, `still${k}`);
    for (const c of open) c.end();
    await stopping;
    expect(open.every((c) => c.destroyed || c.readableEnded)).toBe(true);
  });

  it('a PROXY header and bytes sent before the real server accepted go first, in order', async () => {
    const payload = bytes(256 * 1024, 4);
    const seen: Promise<Buffer>[] = [];
    r = await rig((s) => { seen.push(collect(s).then((x) => { s.end(); return x.data; })); },
      { settings: (port) => ({ proxyProtocol: [{ scope: { svc: `tcp|127.0.0.1|${port}` }, version: 1 }] }) });
    const c = connect({ host: '127.0.0.1', port: r.port, allowHalfOpen: true });
    let local = 0;
    c.on('connect', () => { local = c.localPort!; });
    c.on('data', () => {});
    c.on('error', () => {});
    c.end(payload);
    await until(() => seen.length === 1, 'accepted');
    const got = await seen[0];
    const nl = got.indexOf('\r\n');
    expect(got.subarray(0, nl).toString()).toBe(`PROXY TCP4 127.0.0.1 127.0.0.1 ${local} ${r.port}`);
    expect(digest(got.subarray(nl + 2))).toBe(digest(payload));
    await until(() => r!.proxy.openFlows() === 0, 'flow closed');
    expect(destsOf(r)[0].stats.inbytes).toBe(payload.length);
  });

  it('an idle connection is reset at the table\'s ESTABLISHED timeout', async () => {
    r = await rig((s) => { s.on('data', () => {}); s.on('error', () => {}); });
    r.director.setTimeouts({ tcp: 1, tcpfin: 1, udp: 1 });
    const c = await dial(r.port);
    const got = collect(c);
    c.write('x');
    await until(() => r!.proxy.openFlows() === 1 && destsOf(r!)[0].activeconns === 1, 'established');
    expect((await got).error).toBe('ECONNRESET');
    await until(() => r!.proxy.openFlows() === 0, 'flow closed');
  });

  it('stop with connections open resets them; listeners, sockets and pipes are all closed (no fd left)', async () => {
    const before = fds();
    r = await rig((s) => { s.on('data', () => {}); s.on('error', () => {}); }, { workers: 2 });
    const open = await Promise.all(Array.from({ length: 6 }, () => dial(r!.port)));
    const results = open.map((c) => collect(c));
    open.forEach((c, k) => c.write(k % 2 ? bytes(200 * 1024, k) : 'short'));
    await until(() => r!.proxy.openFlows() === 6 && destsOf(r!)[0].activeconns === 6, '6 established');
    await r.proxy.stop(0);
    for (const g of await Promise.all(results)) expect(g.error).toBe('ECONNRESET');
    expect(r.proxy.openFlows()).toBe(0);
    for (const list of r.accepted) for (const s of list) s.destroy();
    for (const s of r.servers) s.close();
    r = null;
    await until(() => fds() <= before, `fds back to ${before}`);
  });

  it('IPv6: a listener on ::1, the client address from accept, a real server on ::1', async () => {
    const got: string[] = [];
    const server = createServer({ allowHalfOpen: true }, (s) => { s.on('data', (d: Buffer) => got.push(d.toString())); s.on('end', () => s.end('six')); });
    await new Promise<void>((res) => server.listen(0, '::1', res));
    const director = await Director.create({ flavor: 'debug' });
    const port = await freePort('::1');
    const key = { protocol: 'tcp' as const, address: '::1', port };
    director.addService(key, { scheduler: 'rr' });
    director.addDest(key, { address: '::1', port: (server.address() as { port: number }).port, method: 'masq', weight: 1 });
    const proxy = new ProxyDataPath({ log: silentLogger(), engine: 'native', tickMs: 100 });
    await proxy.start(director);
    try {
      const c = connect({ host: '::1', port, allowHalfOpen: true });
      let local = 0;
      c.on('connect', () => { local = c.localPort!; });
      const reply = collect(c);
      c.end('hello');
      expect(await reply).toEqual({ data: Buffer.from('six') });
      expect(got.join('')).toBe('hello');
      const entries = director.connections().filter((x) => !x.template);
      expect(entries.map((x) => [x.client.address, x.client.port, x.virtual.address])).toEqual([['::1', local, '::1']]);
    } finally {
      await proxy.stop(0);
      server.close();
    }
  });

  it('a port in use is a clear listener error; the service stays configured', async () => {
    const blocker = createServer();
    const port = await freePort();
    await new Promise<void>((res) => blocker.listen(port, '127.0.0.1', res));
    const errors: string[] = [];
    const director = await Director.create({ flavor: 'debug' });
    const key = { protocol: 'tcp' as const, address: '127.0.0.1', port };
    director.addService(key, { scheduler: 'rr' });
    const log = silentLogger();
    log.error = ((m: unknown) => { errors.push(String(m)); }) as typeof log.error;
    const proxy = new ProxyDataPath({ log, engine: 'native', tickMs: 100 });
    await proxy.start(director);
    try {
      expect(errors.join('\n')).toContain(`TCP 127.0.0.1:${port}: port ${port} is already in use on 127.0.0.1 (EADDRINUSE)`);
      expect(proxy.engine!.stats().listeners).toBe(0);
    } finally {
      await proxy.stop(0);
      blocker.close();
    }
  });
});
