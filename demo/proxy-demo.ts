// The built-in demo behind `npm start`: three local HTTP backends that answer
// with their name, a wlc virtual service on 127.0.0.1 served by the real
// proxy data path, the control socket so `npx wasmvsadm` talks to it, and a
// live `-L -n --stats --rate` view. WASMVS_DEMO_ONCE=1: a few requests, one
// table, exit 0 (for tests and CI).
import { createServer, get, type Server } from 'node:http';
import { connect } from 'node:net';
import { mkdtempSync, unlinkSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { Director } from '../sdk/director.js';
import { version } from '../sdk/core/abi.gen.js';
import { ControlHandler } from '../daemon/handler.js';
import { listenControl } from '../daemon/server.js';
import { socketPath } from '../daemon/paths.js';
import { formatTable } from '../ipvsadm/format.js';
import type { ListFormat } from '../ipvsadm/command.js';
import { ProxyDataPath } from '../hosts/proxy/proxy.js';
import { createLogger } from '../daemon/logger.js';
import { drainRequest } from '../daemon/drain-control.js';

const HOST = '127.0.0.1';
const NAMES = ['backend-a', 'backend-b', 'backend-c'];
const FMT: ListFormat = { numeric: true, stats: false, rate: false, thresholds: false, persistentConn: false, nosort: false, exact: false, tunInfo: false };

function httpBackend(name: string): Promise<Server> {
  const srv = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' }).end(`hello from ${name}\n`);
  });
  return new Promise((resolve) => srv.listen(0, HOST, () => resolve(srv)));
}

const portOf = (s: Server) => (s.address() as { port: number }).port;

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, HOST, () => s.close(() => resolve(true)));
  });
}

/** The default socket when no daemon answers there, else a private one (told to the user). */
async function controlPath(): Promise<{ path: string; isDefault: boolean; dir?: boolean }> {
  const def = socketPath();
  const alive = existsSync(def) && await new Promise<boolean>((r) => {
    const s = connect(def);
    s.once('connect', () => { s.destroy(); r(true); });
    s.once('error', () => r(false));
  });
  if (!alive && !process.env.WASMVS_DEMO_PRIVATE_SOCKET) return { path: def, isDefault: true };
  return { path: join(mkdtempSync(join(tmpdir(), 'wasmvs-demo-')), 'wasmvsd.sock'), isDefault: false, dir: true };
}

/** GET / through the VIP; resolves with the body's first line. */
export function request(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get({ host: HOST, port, path: '/', agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve(body.trim()));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

function view(handler: ControlHandler, vip: string, backendPorts: number[], socket: string | null): string {
  const adm = 'npx wasmvsadm';
  const list = handler.list();
  const dests = backendPorts.map((p, i) => `${NAMES[i]} = ${HOST}:${p}`).join(', ');
  const tries: [string, string][] = [
    [`curl http://${vip}/`, 'answered by one backend, balanced by wlc'],
    [`${adm} -L -n`, 'the same table, as ipvsadm prints it'],
    [`${adm} -e -t ${vip} -r ${HOST}:${backendPorts[0]} -m -w 0`, `weight 0: ${NAMES[0]} gets no new connections`],
    [`${adm} --drain -t ${vip} -r ${HOST}:${backendPorts[1]} --deadline 10`, `drain ${NAMES[1]} as a state (weight kept)`],
    [`${adm} -L -n -c`, 'the connection table'],
  ];
  const w = Math.max(...tries.map(([c]) => c.length));
  return [
    `wasmvs demo — TCP ${vip} wlc → ${dests}`, '',
    formatTable(list, 4096, FMT), formatTable(list, 4096, { ...FMT, stats: true }), formatTable(list, 4096, { ...FMT, rate: true }),
    'Try, in another terminal:',
    ...(socket === null ? [] : [`  export WASMVS_SOCKET=${socket}`]),
    ...tries.map(([c, why]) => `  ${c.padEnd(w)}  # ${why}`),
    'Ctrl-C stops the demo.',
  ].join('\n');
}

export async function runDemo(env = process.env): Promise<number> {
  const once = env.WASMVS_DEMO_ONCE === '1';
  const backends = await Promise.all(NAMES.map(httpBackend));
  let port = Number(env.WASMVS_DEMO_PORT ?? 8080);
  if (!(await portFree(port))) port = 0;
  if (port === 0) { const s = await httpBackend('probe'); port = portOf(s); await new Promise((r) => s.close(r)); }
  const vip = `${HOST}:${port}`;
  const director = await Director.create();
  const proxy = new ProxyDataPath({ log: createLogger(env.WASMVS_LOG_LEVEL ?? 'error') });
  const handler = new ControlHandler(director, {
    size: 4096, mode: 'proxy', dataPath: 'proxy', abiVersion: version.ABI_VERSION, drain: (r) => drainRequest(proxy, r),
  });
  const svc = { protocol: 'tcp' as const, address: HOST, port };
  director.addService(svc, { scheduler: 'wlc' });
  for (const b of backends) director.addDest(svc, { address: HOST, port: portOf(b), weight: 1, method: 'masq' });
  await proxy.start(director);
  const ctl = await controlPath();
  const server = await listenControl(ctl.path, handler, { changed: () => proxy.configChanged(), log: () => {} });
  const socket = ctl.isDefault ? null : ctl.path;
  const stop = async () => {
    server.close();
    try { unlinkSync(ctl.path); } catch { /* already gone */ }
    if (ctl.dir) rmSync(dirname(ctl.path), { recursive: true, force: true });
    await proxy.stop(2000);
    await Promise.all(backends.map((b) => new Promise((r) => b.close(r))));
  };
  if (once) {
    const answers: string[] = [];
    for (let i = 0; i < 6; i++) answers.push(await request(port));
    // Let the proxy see the last closes and hand their bytes to the core (bounded).
    for (let i = 0; i < 40 && proxy.openFlows() > 0; i++) await new Promise((r) => setTimeout(r, 50));
    proxy.account.flush();
    process.stdout.write(answers.map((a) => `  ${a}`).join('\n') + '\n\n' + view(handler, vip, backends.map(portOf), socket) + '\n');
    await stop();
    return 0;
  }
  return live(handler, vip, backends.map(portOf), socket, port, stop);
}

/** The refreshing view (a gentle background load keeps the rates moving) until Ctrl-C. */
function live(handler: ControlHandler, vip: string, ports: number[], socket: string | null, port: number, stop: () => Promise<void>): Promise<number> {
  const tty = process.stdout.isTTY === true;
  const draw = () => process.stdout.write((tty ? '\x1b[H\x1b[2J' : '\n') + view(handler, vip, ports, socket) + '\n');
  const load = setInterval(() => { request(port).catch(() => {}); }, 500);
  const timer = setInterval(draw, tty ? 1000 : 5000);
  draw();
  return new Promise((resolve) => {
    const quit = () => {
      clearInterval(load);
      clearInterval(timer);
      void stop().then(() => resolve(0));
    };
    process.once('SIGINT', quit);
    process.once('SIGTERM', quit);
  });
}
