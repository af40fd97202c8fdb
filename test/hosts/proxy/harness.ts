// Real sockets on loopback for the proxy's end-to-end tests: named backends,
// clients bound to chosen 127.x.y.z addresses, a wasmvsd process on a
// temporary socket/state/config, and bounded polling (no timing assertions).
import { createServer, connect, type Server, type Socket } from 'node:net';
import { createSocket, type Socket as Dgram } from 'node:dgram';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { get } from 'node:http';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { startDaemon, wasmvsadm, requireBuild, WASMVSD, type Daemon, type Run } from '../../daemon/daemon.js';

export { requireBuild };

export interface Backend {
  name: string;
  port: number;
  server: Server;
  /** Open sockets (held connections). */
  sockets: Set<Socket>;
  /** Accepted connections so far. */
  accepted: number;
  /** Close the listener and reset every open socket (a crash). */
  kill(): Promise<void>;
  /** Listen again on the same port. */
  restart(): Promise<void>;
}

/**
 * A backend that answers each connection with "NAME\n" and then echoes.
 * `close`: end the connection after the name (short request/response).
 */
export async function backend(name: string, opts: { close?: boolean; port?: number } = {}): Promise<Backend> {
  const sockets = new Set<Socket>();
  const b = { name, port: 0, sockets, accepted: 0 } as Backend;
  const handler = (s: Socket) => {
    b.accepted++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
    if (opts.close) { s.end(`${name}\n`); return; }
    s.write(`${name}\n`);
    s.pipe(s);
  };
  const listen = (port: number) => new Promise<Server>((resolve, reject) => {
    const srv = createServer(handler);
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });
  b.server = await listen(opts.port ?? 0);
  b.port = (b.server.address() as { port: number }).port;
  b.kill = async () => {
    await new Promise<void>((r) => { b.server.close(() => r()); for (const s of sockets) s.resetAndDestroy(); });
  };
  b.restart = async () => { b.server = await listen(b.port); };
  return b;
}

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, host, r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export interface Client { sock: Socket; name: string; data: () => string }

/** Connect through the VIP, optionally from a given local address; resolves with the backend's name. */
export function client(port: number, localAddress?: string, host = '127.0.0.1'): Promise<Client> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host, port, localAddress });
    let buf = '';
    let named = false;
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`no answer through ${host}:${port}`)); }, 10_000);
    sock.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (!named && nl >= 0) { named = true; clearTimeout(timer); resolve({ sock, name: buf.slice(0, nl), data: () => buf }); }
    });
    sock.on('error', (e) => { clearTimeout(timer); if (!named) reject(e); });
    sock.on('close', () => { clearTimeout(timer); if (!named) reject(new Error('closed without an answer')); });
  });
}

/** One short connection: the name of the backend that answered (`reset`: end it with an RST). */
export async function ask(port: number, localAddress?: string, reset = false): Promise<string> {
  const c = await client(port, localAddress);
  if (reset) c.sock.resetAndDestroy(); else c.sock.destroy();
  return c.name;
}

/** Poll `cond` every 50 ms, at most `ms` in total; throws with `what` when it never held. */
export async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const tries = Math.ceil(ms / 50);
  const end = Date.now() + ms;
  for (let i = 0; i < tries && Date.now() < end; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for: ${what}`);
}

export interface Lab {
  dir: string;
  sock: string;
  state: string;
  config: string;
  daemon: Daemon | null;
  adm(args: string | string[], stdin?: string): Promise<Run>;
  /** `nofile`: run the daemon under this open-files limit (soft and hard, via prlimit). */
  start(configText?: string, opts?: { nofile?: number; args?: string[]; dropCaps?: string[] }): Promise<Daemon>;
  stop(): Promise<void>;
  cleanup(): void;
}

/** A wasmvsd proxy process in a fresh temporary directory. */
export function lab(prefix = 'wasmvs-proxy-'): Lab {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const l: Lab = {
    dir, sock: join(dir, 'wasmvsd.sock'), state: join(dir, 'state.rules'), config: join(dir, 'config.rules'), daemon: null,
    adm: (args, stdin) => wasmvsadm(typeof args === 'string' ? args.split(' ').filter((w) => w) : args, { WASMVS_SOCKET: l.sock }, stdin),
    async start(configText, opts = {}) {
      if (configText !== undefined) writeFileSync(l.config, configText);
      const args = ['proxy', '--socket', l.sock, '--state', l.state];
      if (configText !== undefined) args.push('--config', l.config);
      args.push(...(opts.args ?? []));
      l.daemon = opts.nofile === undefined ? await startDaemon(args, l.sock) : await startLimited(opts.nofile, args, l.sock, opts.dropCaps);
      await until(() => l.daemon!.log().includes('control socket'), 'daemon ready');
      return l.daemon;
    },
    async stop() {
      const d = l.daemon;
      if (!d) return;
      d.proc.kill('SIGTERM');
      const killer = setTimeout(() => d.proc.kill('SIGKILL'), 15_000);
      await d.exited;
      clearTimeout(killer);
      l.daemon = null;
    },
    cleanup() {
      l.daemon?.proc.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return l;
}

/**
 * wasmvsd under `prlimit --nofile=N:N` (prlimit execs node, so signals reach the daemon itself);
 * `dropCaps` (e.g. ['sys_resource']): through setpriv(1), without those capabilities even as root.
 */
async function startLimited(nofile: number, args: string[], socket: string, dropCaps?: string[]): Promise<Daemon> {
  const limited = ['prlimit', `--nofile=${nofile}:${nofile}`, process.execPath, WASMVSD, ...args];
  const caps = (dropCaps ?? []).map((c) => `-${c}`).join(',');
  const argv = caps ? ['setpriv', '--bounding-set', caps, '--inh-caps', caps, ...limited] : limited;
  const proc = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout!.on('data', (d) => { log += d; });
  proc.stderr!.on('data', (d) => { log += d; });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  for (let i = 0; i < 200 && !log.includes('control socket') && proc.exitCode === null; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!existsSync(socket)) throw new Error(`wasmvsd (nofile ${nofile}) did not start: ${log}`);
  return { proc, log: () => log, exited };
}

/** A UDP real server on 127.0.0.1 answering "NAME:payload"; `seen` counts datagrams, `sources` their source ports, `last` the latest. */
export interface UdpBackend { sock: Dgram; port: number; seen: number; sources: Set<number>; last: number; close(): void }

export function udpBackend(name: string): Promise<UdpBackend> {
  const sock = createSocket('udp4');
  const b: UdpBackend = { sock, port: 0, seen: 0, sources: new Set(), last: 0, close: () => sock.close() };
  sock.on('message', (m, r) => { b.seen++; b.sources.add(r.port); b.last = r.port; sock.send(`${name}:${m}`, r.port, r.address); });
  return new Promise((resolve) => sock.bind(0, '127.0.0.1', () => { b.port = sock.address().port; resolve(b); }));
}

/** GET a URL on loopback; resolves with the body. */
export function fetchText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let b = '';
      res.on('data', (c) => { b += c; });
      res.on('end', () => resolve(b));
    }).on('error', reject);
  });
}

/** The port of the daemon's /metrics, from its log (after it says it listens). */
export async function metricsPort(l: Lab): Promise<number> {
  const re = /"address":"127\.0\.0\.1:(\d+)","msg":"metrics on \/metrics"/;
  await until(() => re.test(l.daemon!.log()), 'metrics listening');
  return Number(re.exec(l.daemon!.log())![1]);
}

/** A counter's value in Prometheus text (0 when the series is absent). */
export function counter(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((x) => x.startsWith(`${name}{${labels}} `));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

/** Wait until the daemon's log says it listens on `port`. */
export function listening(l: Lab, port: number): Promise<void> {
  return until(() => l.daemon!.log().includes(`|${port}","msg":"listening"`), `listener on ${port}`);
}

export const MB = 1024 * 1024;

/** Deterministic pseudo-random bytes (seeded, so a reordering or a loss changes the digest). */
export function bytes(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let s = seed;
  for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) & 0x7fffffff; b[i] = s >>> 16; }
  return b;
}

export const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** After a test: stop the lab's daemon, then run (and empty) the test's closers, then remove the lab's files. */
export async function teardown(l: Lab | undefined, closers: (() => Promise<void> | void)[]): Promise<void> {
  await l?.stop();
  for (const c of closers.splice(0)) await c();
  l?.cleanup();
}
