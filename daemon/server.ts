// The control socket: newline-delimited JSON over a unix socket, mode 0600.
// Every line gets exactly one reply; a bad line gets an error reply and the
// daemon carries on. Accepted changes reach the state file before the reply.
// What clients may cost is bounded (bounds.ts, session.ts).
import { createServer, connect, type Server } from 'node:net';
import { chmodSync, unlinkSync, existsSync } from 'node:fs';
import { privateSocketDir } from './paths.js';
import { dirname } from 'node:path';
import type { ControlHandler } from './handler.js';
import type { ServerHooks } from './server-core.js';
import { DEFAULT_BOUNDS, RefusalLog, type ControlBounds, type RefusalReason } from './bounds.js';
import { ControlSession, refuseClient, type SharedState } from './session.js';

export type { ServerHooks, ControlBounds };

/** True when something answers on `path` (another daemon is running). */
function alive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

const refusalCounts = new WeakMap<Server, Readonly<Record<RefusalReason, number>>>();

/** Clients a control server refused, by reason (tests, diagnostics). */
export function controlRefusals(server: Server): Readonly<Record<RefusalReason, number>> | undefined {
  return refusalCounts.get(server);
}

export async function listenControl(path: string, handler: ControlHandler, hooks: ServerHooks,
  bounds: Partial<ControlBounds> = {}): Promise<Server> {
  // Created 0700 if missing; one that another user owns or may write to is refused (paths.ts).
  privateSocketDir(dirname(path), undefined, path);
  if (existsSync(path)) {
    if (await alive(path)) throw new Error(`another wasmvsd is already listening on ${path}`);
    unlinkSync(path);
  }
  const shared: SharedState = {
    bounds: { ...DEFAULT_BOUNDS, ...bounds }, refusals: new RefusalLog(hooks.log),
    pending: 0, clients: 0, listings: 0, waiting: [],
  };
  const server = createServer((sock) => {
    if (shared.clients >= shared.bounds.maxClients) {
      refuseClient(sock, shared, 'too-many-clients', `limit ${shared.bounds.maxClients}`);
      return;
    }
    shared.clients++;
    sock.once('close', () => { shared.clients--; });
    new ControlSession(sock, handler, hooks, shared);
  });
  refusalCounts.set(server, shared.refusals.counts);
  // The socket is created with the umask's mode: make it 0600 from the start.
  const old = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => { server.off('error', reject); resolve(); });
    });
  } finally {
    process.umask(old);
  }
  chmodSync(path, 0o600);
  // An accept that fails (EMFILE once libuv's spare fd is gone, ENFILE) is emitted
  // as 'error' on the server; unheard, it would kill the daemon. The server keeps listening.
  server.on('error', (e) => shared.refusals.note('accept-failed', e.message));
  return server;
}
