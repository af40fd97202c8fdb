// A listing (services with -L/--stats, connections with -c) asks the data path
// to bring the table up to date first (the gateway's fast path reads conntrack
// then); changes do not, and a failing hook still lists the table as it is.
import { describe, it, expect } from 'vitest';
import { ControlHandler } from '../../daemon/handler.js';
import { replyTo } from '../../daemon/server-core.js';
import { director } from '../helpers.js';

describe('ControlHandler beforeRead', () => {
  it('runs before list and connections, not before apply, hello or timeouts; its failure does not fail the listing', async () => {
    const d = await director(4);
    const calls: string[] = [];
    let fail = false;
    const h = new ControlHandler(d, {
      size: 4096, mode: 'gateway', dataPath: 'gateway', abiVersion: 0,
      beforeRead: () => { calls.push('read'); if (fail) throw new Error('conntrack gone'); },
    });
    const ok = (r: { ok: boolean }) => expect(r.ok).toBe(true);
    ok(h.handle({ id: 1, op: 'apply', cmds: [{ op: 'add-service', svc: { protocol: 'tcp', address: '198.18.0.1', port: 80 }, opts: { scheduler: 'rr' } }] } as never));
    ok(h.handle({ id: 2, op: 'hello' } as never));
    ok(h.handle({ id: 3, op: 'timeouts' } as never));
    expect(calls).toEqual([]);
    const listed = h.handle({ id: 4, op: 'list' } as never) as { ok: boolean; services: unknown[] };
    ok(listed);
    expect(listed.services).toHaveLength(1);
    ok(h.handle({ id: 5, op: 'connections' } as never));
    expect(calls).toEqual(['read', 'read']);
    fail = true;
    const still = h.handle({ id: 6, op: 'list' } as never) as { ok: boolean; services: unknown[] };
    ok(still);
    expect(still.services).toHaveLength(1);
    expect(calls).toHaveLength(3);
  });

  it('beforeReadAsync: a listing through the control socket awaits it, then lists (the sync hook after it); other requests do not; its failure lists the table as it is', async () => {
    const d = await director(4);
    const calls: string[] = [];
    let fail = false;
    const h = new ControlHandler(d, {
      size: 4096, mode: 'gateway', dataPath: 'gateway', abiVersion: 0,
      beforeRead: () => { calls.push('read'); },
      beforeReadAsync: async () => {
        calls.push('async');
        await new Promise((r) => setTimeout(r, 5));
        // What the data path brought in shows in the listing that waited for it.
        if (!fail) d.addService({ protocol: 'tcp', address: '198.18.0.2', port: 80 + calls.length });
        calls.push('async done');
        if (fail) throw new Error('conntrack gone');
      },
    });
    const hooks = { changed: () => {}, log: () => {} };
    const send = (req: object) => replyTo(JSON.stringify({ id: 1, ...req }), h, hooks);
    expect(send({ op: 'hello' })).not.toBeInstanceOf(Promise);
    expect(send({ op: 'timeouts' })).not.toBeInstanceOf(Promise);
    expect(calls).toEqual([]);
    const pending = send({ op: 'list' });
    expect(pending).toBeInstanceOf(Promise);
    const listed = (await pending) as { ok: boolean; services: unknown[] };
    expect(listed.ok).toBe(true);
    expect(listed.services).toHaveLength(1);
    expect(calls).toEqual(['async', 'async done', 'read']);
    const conns = send({ op: 'connections' });
    expect(conns).toBeInstanceOf(Promise);
    expect(((await conns) as { ok: boolean }).ok).toBe(true);
    fail = true;
    const still = (await send({ op: 'list' })) as { ok: boolean; services: unknown[] };
    expect(still.ok).toBe(true);
    expect(still.services).toHaveLength(2); // the first listing's service and the one before -c, none now
    expect(calls.filter((c) => c === 'async')).toHaveLength(3);
  });
});
