// A listing (services with -L/--stats, connections with -c) asks the data path
// to bring the table up to date first (the gateway's fast path reads conntrack
// then); changes do not, and a failing hook still lists the table as it is.
import { describe, it, expect } from 'vitest';
import { ControlHandler } from '../../daemon/handler.js';
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
});
