// An in-process proxy for the data-path suites (pump, splice): a real server
// on loopback running `onConn` for each connection it accepts, a Director
// with one wlc TCP service on a free loopback port forwarding to it (masq),
// and a ProxyDataPath started on that director (Node's sockets unless `engine` says otherwise).
import { connect, createServer, type Server, type Socket } from 'node:net';
import { Director } from '../../../sdk/director.js';
import { ProxyDataPath } from '../../../hosts/proxy/proxy.js';
import type { EngineMode, SpliceMode } from '../../../hosts/proxy/options.js';
import { silentLogger } from '../../../daemon/logger.js';
import type { ProxySettings } from '../../../daemon/settings.js';
import { expect } from 'vitest';
import { freePort, digest } from './harness.js';

export interface Rig { director: Director; proxy: ProxyDataPath; port: number; server: Server; accepted: Socket[] }

/** `settings` gets the service's port (for settings keyed by the VIP). */
export async function proxyRig(
  onConn: (s: Socket) => void,
  opts: { splice: SpliceMode; settings?: (port: number) => Partial<ProxySettings>; engine?: EngineMode; workers?: number },
): Promise<Rig> {
  const accepted: Socket[] = [];
  const server = createServer({ allowHalfOpen: true }, (s) => { accepted.push(s); onConn(s); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const backendPort = (server.address() as { port: number }).port;
  const director = await Director.create({ flavor: 'debug' });
  const port = await freePort();
  const key = { protocol: 'tcp' as const, address: '127.0.0.1', port };
  director.addService(key, { scheduler: 'wlc' });
  director.addDest(key, { address: '127.0.0.1', port: backendPort, method: 'masq', weight: 1 });
  const proxy = new ProxyDataPath({ log: silentLogger(), splice: opts.splice, tickMs: 100, settings: opts.settings?.(port), engine: opts.engine ?? 'js', workers: opts.workers });
  await proxy.start(director);
  return { director, proxy, port, server, accepted };
}

/** A client connection to 127.0.0.1:port that may half-close (resolves once connected). */
export function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Everything a socket receives until its end (or error: then `error` is its code). */
export function collect(s: Socket): Promise<{ data: Buffer; error?: string }> {
  const parts: Buffer[] = [];
  s.on('data', (d: Buffer) => parts.push(d));
  return new Promise((resolve) => {
    s.once('end', () => resolve({ data: Buffer.concat(parts) }));
    s.once('error', (e: NodeJS.ErrnoException) => resolve({ data: Buffer.concat(parts), error: e.code }));
  });
}

/**
 * A real server for a bulk exchange both ways at once: it sends `down`, reads
 * the client's bytes (starting 300 ms late, so both directions meet
 * backpressure) and, at the client's FIN, answers with their digest.
 */
export function bulkServer(down: Buffer): (s: Socket) => void {
  return (s) => {
    const got: Buffer[] = [];
    s.pause();
    setTimeout(() => s.resume(), 300);
    s.on('data', (d: Buffer) => got.push(d));
    s.on('end', () => s.end(`\n${digest(Buffer.concat(got))}`));
    s.write(down);
  };
}

/** The client's side against bulkServer: `up` sent, `down` and the digest of `up` received exactly. */
export async function bulkExchange(port: number, up: Buffer, down: Buffer): Promise<void> {
  const c = await dial(port);
  c.pause();
  setTimeout(() => c.resume(), 300);
  const reply = collect(c);
  c.end(up);
  const { data, error } = await reply;
  expect(error).toBeUndefined();
  expect(data.length).toBe(down.length + 65);
  expect(digest(data.subarray(0, down.length))).toBe(digest(down));
  expect(data.subarray(down.length).toString()).toBe(`\n${digest(up)}`);
}
