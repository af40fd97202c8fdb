// An in-process Backend over a ControlHandler: wasmvsadm's commands without a
// socket (tests, and the playground's console). Replies travel through JSON
// so callers see exactly what the socket would carry.
import type { Backend } from '../ipvsadm/run.js';
import { RemoteError } from '../ipvsadm/run.js';
import type { ConfigCmd, CmdResult, ServiceEntry, ConnEntry, Timeouts, DaemonInfo, Reply, Request } from '../ipvsadm/protocol.js';
import type { ServiceKey } from '../sdk/types.js';
import type { ControlHandler } from './handler.js';
import { replyTo } from './server-core.js';
import { encodePacked, type PackedResults } from '../ipvsadm/packed-wire.js';

export class LocalBackend implements Backend {
  private id = 1;
  constructor(readonly handler: ControlHandler, private readonly changed: (journal: string[] | null) => void = () => {}) {}

  private call(req: Omit<Request, 'id'>): Extract<Reply, { ok: true }> {
    const line = JSON.stringify({ ...req, id: this.id++ });
    const r = JSON.parse(JSON.stringify(replyTo(line, this.handler, { changed: this.changed, log: () => {} }))) as Reply;
    if (!r.ok) throw new RemoteError(r.error);
    return r;
  }

  async apply(cmds: ConfigCmd[], atomic = false): Promise<CmdResult[]> {
    return (this.call({ op: 'apply', cmds, atomic } as Omit<Request, 'id'>) as { results: CmdResult[] }).results;
  }
  async applyPacked(words: Uint32Array, count: number, atomic = false, more = false): Promise<PackedResults> {
    return this.call({ op: 'apply', packed: encodePacked(words), count, atomic, ...(more ? { more } : {}) } as Omit<Request, 'id'>) as unknown as PackedResults;
  }
  async list(svc?: ServiceKey): Promise<{ size: number; services: ServiceEntry[] }> {
    return this.call({ op: 'list', svc } as Omit<Request, 'id'>) as unknown as { size: number; services: ServiceEntry[] };
  }
  async connections(): Promise<ConnEntry[]> {
    return (this.call({ op: 'connections' }) as { connections: ConnEntry[] }).connections;
  }
  async timeouts(): Promise<Timeouts> {
    return (this.call({ op: 'timeouts' }) as { timeouts: Timeouts }).timeouts;
  }
  async daemons(): Promise<DaemonInfo[]> {
    return (this.call({ op: 'daemons' }) as { daemons: DaemonInfo[] }).daemons;
  }
}
