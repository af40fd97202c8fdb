// The table itself: growth with incremental bucket moves, paging of the
// listing, conn_tab_size, stale ids.
import { describe, it, expect } from 'vitest';
import { Director } from '../../sdk/index.js';

const svc = { protocol: 'tcp' as const, address: '198.18.0.1', port: 80 };

function flows(n: number, from = 0) {
  return Array.from({ length: n }, (_, k) => ({
    protocol: 'tcp' as const, client: { address: `198.18.${100 + ((k + from) >> 16)}.${((k + from) >> 8) & 255}`, port: 1024 + ((k + from) & 255) },
    virtual: { address: '198.18.0.1', port: 80 },
  }));
}

describe('connection table', () => {
  it('grows from 256 buckets to 20k entries while every entry stays findable; listing pages through all', async () => {
    const d = await Director.create({ seed: 11, flavor: 'debug', connTabBits: 8 });
    expect(d.connTabSize()).toBe(256);
    d.addService(svc, { scheduler: 'rr' });
    d.addDest(svc, { address: '198.18.1.1', method: 'masq' });
    d.addDest(svc, { address: '198.18.1.2', method: 'masq' });
    const first = d.scheduleBatch(flows(20000), 0);
    expect(first.every((r) => r.ok)).toBe(true);
    expect(d.connectionCount()).toBe(20000);
    // The same 5-tuples again: every one finds its entry (same id, same dest).
    const again = d.scheduleBatch(flows(20000), 1);
    expect(again.map((r) => (r.ok ? `${r.id}/${r.destId}` : '-'))).toEqual(first.map((r) => (r.ok ? `${r.id}/${r.destId}` : '-')));
    const listed = d.connections(1);
    expect(listed).toHaveLength(20000);
    expect(new Set(listed.map((c) => c.id)).size).toBe(20000);
    expect(d.dests(svc).map((x) => x.activeconns)).toEqual([10000, 10000]);
    expect(d.advance(61)).toBe(20000);
    expect(d.connectionCount()).toBe(0);
  });

  it('ids carry a generation: a freed slot reused by a new entry does not answer the old id', async () => {
    const d = await Director.create({ seed: 11, flavor: 'debug' });
    d.addService(svc, { scheduler: 'rr' });
    d.addDest(svc, { address: '198.18.1.1', method: 'masq' });
    const a = d.schedule({ ...flows(1)[0], now: 0 })!;
    d.advance(60);
    const b = d.schedule({ ...flows(1, 5)[0], now: 60 })!;
    expect(b.id & 0xffffff).toBe(a.id & 0xffffff);
    expect(b.id).not.toBe(a.id);
    expect(d.connection(a.id, 60)).toBeNull();
    expect(d.connection(b.id, 60)).not.toBeNull();
  });

  it('defaults: size=4096, options as IPVS', async () => {
    const d = await Director.create({ seed: 1, flavor: 'debug' });
    expect(d.connTabSize()).toBe(4096);
    expect(d.options()).toEqual({
      connReuseMode: 1, expireNodestConn: false, expireQuiescentTemplate: false, connLimit: 0, secureTcp: 0, dropEntry: 0, memoryLimit: 0, sloppyTcp: false,
    });
    expect(() => d.setOptions({ connReuseMode: 4 })).toThrow();
    await expect(Director.create({ seed: 1, flavor: 'debug', connTabBits: 30 })).rejects.toThrow();
  });
});
