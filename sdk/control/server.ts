// The control socket: newline-delimited JSON over a unix socket, mode 0600.
// Every line gets exactly one reply; a bad line gets an error reply and the
// daemon carries on. Accepted changes reach the state file before the reply.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { chmodSync, unlinkSync, existsSync } from 'node:fs';
import { privateSocketDir } from './paths.js';
import { dirname } from 'node:path';
import { MAX_LINE_BYTES, type Reply } from './protocol.js';
import type { ControlHandler } from './handler.js';
import { replyTo, badRequest, type ServerHooks } from './server-core.js';
import { LineSplitter } from './lines.js';

export type { ServerHooks };

function serve(sock: Socket, handler: ControlHandler, hooks: ServerHooks): void {
  const lines = new LineSplitter();
  sock.setEncoding('utf8');
  sock.on('error', () => sock.destroy());
  sock.on('data', (chunk: string) => {
    for (const line of lines.push(chunk)) {
      if (line.trim() === '') continue;
      let reply: Reply;
      try {
        reply = replyTo(line, handler, hooks);
      } catch (e) {
        hooks.log(`control: request failed: ${e instanceof Error ? e.stack : String(e)}`);
        reply = { id: 0, ok: false, error: { code: 'EINTERNAL', message: 'wasmvsd: internal error' } };
      }
      sock.write(JSON.stringify(reply) + '\n');
    }
    if (lines.pending > MAX_LINE_BYTES) {
      sock.end(JSON.stringify(badRequest('request line too long')) + '\n');
      lines.reset();
    }
  });
}

/** True when something answers on `path` (another daemon is running). */
function alive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

export async function listenControl(path: string, handler: ControlHandler, hooks: ServerHooks): Promise<Server> {
  // Created 0700 if missing; one that another user owns or may write to is refused (paths.ts).
  privateSocketDir(dirname(path), undefined, path);
  if (existsSync(path)) {
    if (await alive(path)) throw new Error(`another wasmvsd is already listening on ${path}`);
    unlinkSync(path);
  }
  const server = createServer((sock) => serve(sock, handler, hooks));
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
  return server;
}
