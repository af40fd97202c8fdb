// A change's reply waits until the data path carries it (the gateway's rules
// round), as ipvsadm returns once the kernel has the change; a `more` request
// of a streamed -R does not wait, its last request does; a data path that
// never finishes costs the client at most APPLY_WAIT_MS.
import { describe, it, expect, vi, afterEach } from 'vitest';
import { ControlHandler } from '../../daemon/handler.js';
import { replyTo, HeldChanges, APPLY_WAIT_MS, type ServerHooks } from '../../daemon/server-core.js';
import type { Reply } from '../../ipvsadm/protocol.js';
import { director } from '../helpers.js';
import { packedServices as services } from './packed-services.js';

/** A data path whose changes are carried when the test says so (done()), or never. */
async function setup() {
  const h = new ControlHandler(await director(1), { size: 4096, mode: 'gateway', dataPath: 'test', abiVersion: 0x10000 });
  const pending: (() => void)[] = [];
  const logs: string[] = [];
  const hooks: ServerHooks = {
    changed: () => new Promise<void>((resolve) => { pending.push(resolve); }),
    log: (m) => { logs.push(m); },
  };
  const held = new HeldChanges(hooks);
  const line = (id: number, req: object) => JSON.stringify({ id, op: 'apply', ...req });
  const done = () => { for (const r of pending.splice(0)) r(); };
  return { h, hooks, held, line, done, pending, logs };
}

/** Whether `p` has settled after the microtasks queued so far. */
async function settled(p: Reply | Promise<Reply>): Promise<boolean> {
  let yes = false;
  void Promise.resolve(p).then(() => { yes = true; });
  for (let i = 0; i < 10; i++) await Promise.resolve();
  return yes;
}

afterEach(() => { vi.useRealTimers(); });

describe('a change is acknowledged once the data path carries it', () => {
  it('an ipvsadm command: the reply waits for the data path, the change is in the table meanwhile', async () => {
    const { h, hooks, line, done, pending } = await setup();
    const r = replyTo(line(7, { cmds: [{ op: 'add-service', svc: { protocol: 'tcp', address: '198.18.0.1', port: 80 }, opts: { scheduler: 'rr' } }] }), h, hooks);
    expect(r).toBeInstanceOf(Promise);
    expect(pending).toHaveLength(1);
    expect(h.director.serviceCount()).toBe(1);
    expect(await settled(r)).toBe(false);
    done();
    expect(await r).toMatchObject({ id: 7, ok: true });
  });

  it('a refused command does not wait (nothing changed)', async () => {
    const { h, hooks, line, pending } = await setup();
    const r = replyTo(line(8, { cmds: [{ op: 'delete-service', svc: { protocol: 'tcp', address: '198.18.0.1', port: 80 } }] }), h, hooks);
    expect(pending).toHaveLength(0);
    expect(await r).toMatchObject({ id: 8, ok: true, results: [{ ok: false }] });
  });

  it('a streamed -R: the requests marked more are answered at once, the last one once the data path has them all', async () => {
    const { h, hooks, held, line, done, pending } = await setup();
    const first = replyTo(line(1, { packed: services(0, 3), count: 3, more: true }), h, hooks, held);
    expect(first).toMatchObject({ ok: true, done: 3 });
    expect(pending).toHaveLength(0);
    const last = replyTo(line(2, { packed: services(3, 2), count: 2 }), h, hooks, held);
    expect(pending).toHaveLength(1);
    expect(await settled(last)).toBe(false);
    done();
    expect(await last).toMatchObject({ id: 2, ok: true, done: 2 });
    expect(h.director.serviceCount()).toBe(5);
  });

  it('a data path that never finishes: the reply goes after APPLY_WAIT_MS, with a log line', async () => {
    vi.useFakeTimers();
    const { h, hooks, line, logs } = await setup();
    const r = replyTo(line(9, { cmds: [{ op: 'add-service', svc: { protocol: 'tcp', address: '198.18.0.2', port: 80 }, opts: { scheduler: 'rr' } }] }), h, hooks);
    await vi.advanceTimersByTimeAsync(APPLY_WAIT_MS - 1);
    expect(await settled(r)).toBe(false);
    await vi.advanceTimersByTimeAsync(2);
    expect(await r).toMatchObject({ id: 9, ok: true });
    expect(logs.join('\n')).toMatch(/still applying a change after 10000 ms/);
  });

  it('a data path that fails is logged and the reply goes', async () => {
    const { h, line } = await setup();
    const logs: string[] = [];
    const hooks: ServerHooks = { changed: () => Promise.reject(new Error('nft said no')), log: (m) => { logs.push(m); } };
    const r = await replyTo(line(3, { cmds: [{ op: 'add-service', svc: { protocol: 'tcp', address: '198.18.0.3', port: 80 }, opts: { scheduler: 'rr' } }] }), h, hooks);
    expect(r).toMatchObject({ id: 3, ok: true });
    expect(logs.join('\n')).toMatch(/configuration change failed: Error: nft said no/);
  });
});
