// wasmvsadm's side of the control socket: one connection, requests in order,
// one reply line each. Implements the CLI's Backend.
import { connect, type Socket } from 'node:net';
import { MAX_LINE_BYTES, type Request, type Reply, type ConfigCmd, type CmdResult, type ServiceEntry, type ConnEntry, type Timeouts, type DaemonInfo } from '../ipvsadm/protocol.js';
import type { ServiceKey } from '../sdk/types.js';
import type { Backend } from '../ipvsadm/run.js';
import { RemoteError } from '../ipvsadm/run.js';
import { cantInitialize } from '../ipvsadm/messages.js';
import { LineSplitter } from '../daemon/lines.js';
import { encodePacked, type PackedResults } from '../ipvsadm/packed-wire.js';

const REASONS: Record<string, string> = {
  ENOENT: 'No such file or directory', ECONNREFUSED: 'Connection refused', EACCES: 'Permission denied',
  ENOTSOCK: 'Socket operation on non-socket', ENOTDIR: 'Not a directory', ETIMEDOUT: 'Connection timed out',
};

/**
 * The connection broke after requests were sent and before their answers: the
 * daemon may have applied (and made durable) a change it could not confirm.
 * Say so, rather than "Can't initialize", which reads as "nothing happened".
 */
function lost(reason: string): RemoteError {
  return new RemoteError({
    code: 'ECONNLOST',
    message: `wasmvsd: connection lost before the answer (${reason}); a change it carried may or may not have been applied: check with -L or -S`,
  });
}

type Body<K extends string> = Extract<Reply, { ok: true }> & Record<K, unknown>;

export class ControlClient implements Backend {
  private sock: Socket | null = null;
  private readonly lines = new LineSplitter();
  private nextId = 1;
  private waiting: { resolve: (r: Reply) => void; reject: (e: Error) => void }[] = [];

  constructor(readonly path: string) {}

  /** The connection being made: requests sent before it is up (a streamed -R) share it. */
  private opening: Promise<Socket> | null = null;

  private open(): Promise<Socket> {
    if (this.sock) return Promise.resolve(this.sock);
    this.opening ??= this.connect().finally(() => { this.opening = null; });
    return this.opening;
  }

  private connect(): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const s = connect(this.path);
      s.setEncoding('utf8');
      s.once('connect', () => { this.sock = s; resolve(s); });
      s.once('error', (e: NodeJS.ErrnoException) => {
        const err = this.sock === s ? lost(e.code ?? e.message) : cantInitialize(this.path, REASONS[e.code ?? ''] ?? e.message);
        reject(err);
        for (const w of this.waiting.splice(0)) w.reject(err);
      });
      s.on('data', (chunk: string) => this.onData(chunk));
      s.on('close', () => {
        const err = this.sock === s ? lost('the daemon closed the connection') : cantInitialize(this.path, 'the daemon closed the connection');
        for (const w of this.waiting.splice(0)) w.reject(err);
        this.sock = null;
      });
    });
  }

  private onData(chunk: string): void {
    for (const line of this.lines.push(chunk)) {
      const w = this.waiting.shift();
      if (!w) continue;
      try { w.resolve(JSON.parse(line) as Reply); } catch (e) { w.reject(e as Error); }
    }
  }

  async request(req: Omit<Request, 'id'> & { op: Request['op'] }): Promise<Reply> {
    const id = this.nextId++;
    const line = JSON.stringify({ ...req, id }) + '\n';
    // The daemon would read this far and refuse it: say so before sending anything.
    if (line.length > MAX_LINE_BYTES) {
      throw new RemoteError({ code: 'E2BIG', message: `wasmvsd: request too large (${line.length} bytes, limit ${MAX_LINE_BYTES}); restore it in parts or without --atomic` });
    }
    const s = await this.open();
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      s.write(line);
    });
  }

  private async ok<K extends string>(req: Omit<Request, 'id'>, key: K): Promise<Body<K>> {
    const r = await this.request(req as Request);
    if (!r.ok) throw new RemoteError(r.error);
    return r as Body<K>;
  }

  async apply(cmds: ConfigCmd[], atomic = false): Promise<CmdResult[]> {
    return (await this.ok({ op: 'apply', cmds, atomic } as Omit<Request, 'id'>, 'results')).results as CmdResult[];
  }
  async applyPacked(words: Uint32Array, count: number, atomic = false, more = false): Promise<PackedResults> {
    const req = { op: 'apply', packed: encodePacked(words), count, atomic, ...(more ? { more } : {}) } as Omit<Request, 'id'>;
    return (await this.ok(req, 'done')) as unknown as PackedResults;
  }
  async list(svc?: ServiceKey): Promise<{ size: number; services: ServiceEntry[] }> {
    const r = await this.ok({ op: 'list', svc } as Omit<Request, 'id'>, 'services');
    return { size: (r as unknown as { size: number }).size, services: r.services as ServiceEntry[] };
  }
  async connections(): Promise<ConnEntry[]> {
    return (await this.ok({ op: 'connections' }, 'connections')).connections as ConnEntry[];
  }
  async timeouts(): Promise<Timeouts> {
    return (await this.ok({ op: 'timeouts' }, 'timeouts')).timeouts as Timeouts;
  }
  async daemons(): Promise<DaemonInfo[]> {
    return (await this.ok({ op: 'daemons' }, 'daemons')).daemons as DaemonInfo[];
  }

  close(): void {
    this.sock?.end();
    this.sock = null;
  }
}
