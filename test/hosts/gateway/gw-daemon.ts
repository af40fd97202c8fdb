// A real `wasmvsd gateway` in a Topo's director namespace, real `wasmvsadm`
// commands, and the client/server exchanges of the gateway namespace suites.
// Every wait is bounded in count and time.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { missingNfqPrereq } from './prereq.js';
import { inNs, sh } from './netns.js';
import { VIP, waitLine, type Topo } from './gw-topo.js';
import { WASMVSD, WASMVSADM } from '../../daemon/daemon.js';

export const PEER = fileURLToPath(new URL('./gw-peer.mjs', import.meta.url));

/** Why the gateway namespace suites cannot run here (tools beyond the addon's), or null. */
export function missingGatewayPrereq(...tools: string[]): string | null {
  const m = missingNfqPrereq();
  if (m) return m;
  for (const t of ['tcpdump', ...tools]) {
    try { sh(t, t === 'socat' ? '-V' : '--version'); } catch { return `${t} not installed`; }
  }
  if (!existsSync(fileURLToPath(new URL('../../../dist/hosts/gateway/datapath.js', import.meta.url)))) return 'dist/ not built (npx tsc -p tsconfig.json)';
  return null;
}

export interface Daemon { proc: ChildProcess; log: () => string; exited: Promise<number | null> }

export function startGateway(topo: Topo, queue: number, ...extra: string[]): Promise<Daemon> {
  return startGatewayEnv(topo, queue, {}, ...extra);
}

/** The same with extra environment (WASMVS_METRICS=…). */
export async function startGatewayEnv(topo: Topo, queue: number, env: Record<string, string>, ...extra: string[]): Promise<Daemon> {
  const proc = spawn('ip', ['netns', 'exec', topo.ns.director, process.execPath, WASMVSD, 'gateway', '--socket', topo.socket,
    '--state', topo.state, '--queue', String(queue), ...extra], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let log = '';
  proc.stdout!.on('data', (d) => { log += d; });
  proc.stderr!.on('data', (d) => { log += d; });
  const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  for (let i = 0; i < 200 && !log.includes('control socket'); i++) {
    if (proc.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!log.includes('control socket')) {
    proc.kill('SIGKILL');
    throw new Error(`wasmvsd gateway did not start: ${log}`);
  }
  return { proc, log: () => log, exited };
}

/** SIGTERM, then SIGKILL if it has not exited within 10 s; returns its log. */
export async function stopGateway(d: Daemon): Promise<string> {
  d.proc.kill('SIGTERM');
  const done = await Promise.race([d.exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 10_000))]);
  if (!done) d.proc.kill('SIGKILL');
  return d.log();
}

export function adm(topo: Topo, ...args: string[]): string {
  return sh(process.execPath, WASMVSADM, '--socket', topo.socket, ...args);
}

/** TCP exchanges client → VIP:port; returns what the server got and what the client saw. */
export async function exchange(topo: Topo, listen: string, port: number, count = 1, size = 32) {
  const server = inNs(topo.ns.server, process.execPath, [PEER, 'tcp-server', listen, String(port), String(count)]);
  await waitLine(server, (l) => l === 'ready', 10_000);
  const lines: string[] = [];
  server.stdout!.on('data', (d) => lines.push(...String(d).split('\n').filter((l) => l.startsWith('got '))));
  const out = topo.in('client', process.execPath, PEER, 'tcp-client', VIP, String(port), String(count), String(size)).split('\n');
  await new Promise((r) => setTimeout(r, 200));
  server.kill();
  return { sent: out.filter((l) => l.startsWith('sent ')).map((l) => l.slice(5)), replies: out.filter((l) => l.startsWith('reply ')), got: lines };
}

/**
 * One UDP datagram client → VIP:port and its echo; `listen` is the server's bound address (or several:
 * a server on each, the echo then names the one that answered, and `got` is the first that got it).
 */
export async function udpExchange(topo: Topo, listen: string | readonly string[], port: number, size = 48) {
  const servers = (typeof listen === 'string' ? [listen] : listen).map((a) => inNs(topo.ns.server, process.execPath, [PEER, 'udp-server', a, String(port), '1']));
  try {
    await Promise.all(servers.map((s) => waitLine(s, (l) => l === 'ready', 10_000)));
    const got = Promise.any(servers.map((s) => waitLine(s, (l) => l.startsWith('got '), 15_000)));
    const out = topo.in('client', process.execPath, PEER, 'udp-client', VIP, String(port), String(size)).split('\n');
    const sent = out.find((l) => l.startsWith('sent '))?.slice(5) ?? '';
    return { sent, got: await got.catch((e: Error) => `none: ${e.message}`), reply: out.find((l) => l.startsWith('udp-reply ')) ?? 'no reply' };
  } finally {
    if (servers.length > 1) for (const s of servers) s.kill();
  }
}

/** GET /metrics from inside the director's namespace (the endpoint listens on its loopback). */
export function scrape(topo: Topo, port: number): string {
  return topo.in('director', process.execPath, '-e',
    `fetch('http://127.0.0.1:${port}/metrics').then((r) => r.text()).then((t) => process.stdout.write(t), (e) => { console.error(e); process.exit(1); })`);
}

/** The gateway's one-line counter summary (logged at stop) as numbers. */
export const summary = (log: string) => Object.fromEntries([...(/gateway: packets=.*$/m.exec(log)?.[0] ?? '').matchAll(/(\w+)=(\d+)/g)].map((m) => [m[1], Number(m[2])]));
