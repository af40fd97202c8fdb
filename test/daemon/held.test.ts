// A streamed -R (apply requests marked `more`): every request is applied and
// made durable before its reply, but the data path is told once, after the
// client's last request, when the client goes, or when it waits too long.
import { describe, it, expect, vi, afterEach } from 'vitest';
import { ControlHandler } from '../../daemon/handler.js';
import { replyTo, HeldChanges, HOLD_MAX_MS, HOLD_TOTAL_MS, type ServerHooks } from '../../daemon/server-core.js';
import { director } from '../helpers.js';
import { packedServices as services } from './packed-services.js';

async function setup() {
  const h = new ControlHandler(await director(1), { size: 4096, mode: 'proxy', dataPath: 'none', abiVersion: 0x10000 });
  const told: (string[] | null)[] = [];
  const persisted: number[] = [];
  const hooks: ServerHooks = {
    persist: (j) => { persisted.push(j?.length ?? -1); },
    changed: (j) => { told.push(j); },
    log: () => {},
  };
  const held = new HeldChanges(hooks);
  const send = (req: object) => replyTo(JSON.stringify({ id: 1, op: 'apply', ...req }), h, hooks, held);
  return { h, told, persisted, held, send };
}

afterEach(() => { vi.useRealTimers(); });

describe('held data-path changes', () => {
  it('requests marked more are durable each, the data path hears once after the last', async () => {
    const { h, told, persisted, send } = await setup();
    expect(send({ packed: services(0, 3), count: 3, more: true })).toMatchObject({ ok: true, done: 3 });
    expect(send({ packed: services(3, 3), count: 3, more: true })).toMatchObject({ ok: true, done: 3 });
    expect(persisted).toEqual([3, 3]);
    expect(told).toEqual([]);
    expect(h.director.serviceCount()).toBe(6);
    expect(send({ packed: services(6, 2), count: 2 })).toMatchObject({ ok: true, done: 2 });
    expect(told).toHaveLength(1);
    expect(told[0]).toHaveLength(8);
  });

  it('a last request that changes nothing still releases what was held', async () => {
    const { told, send } = await setup();
    send({ packed: services(0, 2), count: 2, more: true });
    // The same services again: both fail, nothing changes.
    expect(send({ packed: services(0, 2), count: 2 })).toMatchObject({ ok: true, done: 2 });
    expect(told).toHaveLength(1);
    expect(told[0]).toHaveLength(2);
  });

  it('any other request, the client going away, or HOLD_MAX_MS release them', async () => {
    const a = await setup();
    a.send({ packed: services(0, 1), count: 1, more: true });
    replyTo(JSON.stringify({ id: 2, op: 'timeouts' }), a.h, { changed: () => {}, log: () => {} }, a.held);
    expect(a.told).toHaveLength(1);

    const b = await setup();
    b.send({ packed: services(0, 1), count: 1, more: true });
    b.held.release(); // what the session does on close
    b.held.release();
    expect(b.told).toHaveLength(1);

    vi.useFakeTimers();
    const c = await setup();
    c.send({ packed: services(0, 1), count: 1, more: true });
    expect(c.told).toHaveLength(0);
    vi.advanceTimersByTime(HOLD_MAX_MS + 1);
    expect(c.told).toHaveLength(1);
  });

  it('a client that keeps streaming keeps them held, up to HOLD_TOTAL_MS in all', async () => {
    vi.useFakeTimers();
    const { told, send } = await setup();
    const step = Math.floor(HOLD_MAX_MS * 0.6);
    let sent = 0, i = 0;
    // Requests closer together than HOLD_MAX_MS: held past HOLD_MAX_MS after the first.
    for (; sent + step < HOLD_MAX_MS * 3; sent += step) {
      send({ packed: services(i++, 1), count: 1, more: true });
      vi.advanceTimersByTime(step);
    }
    expect(told).toHaveLength(0);
    // Idle for HOLD_MAX_MS: released.
    vi.advanceTimersByTime(HOLD_MAX_MS);
    expect(told).toHaveLength(1);
    // A client that never stops is released HOLD_TOTAL_MS after its first request.
    const start = Date.now();
    while (told.length === 1 && Date.now() - start <= HOLD_TOTAL_MS + HOLD_MAX_MS) {
      send({ packed: services(i++, 1), count: 1, more: true });
      vi.advanceTimersByTime(step);
    }
    expect(told).toHaveLength(2);
    expect(Date.now() - start).toBeGreaterThanOrEqual(HOLD_TOTAL_MS);
    expect(Date.now() - start).toBeLessThanOrEqual(HOLD_TOTAL_MS + step);
  });

  it('more is refused when it is not a boolean, and ignored on an atomic request', async () => {
    const { told, send } = await setup();
    expect(send({ packed: services(0, 1), count: 1, more: 1 })).toMatchObject({ ok: false, error: { message: 'wasmvsd: more must be a boolean' } });
    expect(send({ packed: services(0, 1), count: 1, more: true, atomic: true })).toMatchObject({ ok: true, done: 1 });
    expect(told).toHaveLength(1);
  });
});
