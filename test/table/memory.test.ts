// The connection table's memory (target: ≤ 48 B per connection): record
// chunks and bucket arrays take whole pages with an exact memory.grow
// (assembly/mem/pages.ts), so wasm memory grows by what the table
// holds instead of the allocator doubling it, and superseded bucket arrays are
// reused rather than leaked. The bounds below follow from the layout: 10-page
// record chunks of 16,384 records, bucket arrays rounded up to whole pages.
import { describe, it, expect } from 'vitest';
import { Director } from '../../sdk/index.js';
import { coreOf } from '../../sdk/core/index.js';

const PAGE = 65536;
const CHUNK = 10 * PAGE;
const VIP = '198.18.0.1';
const svc = { protocol: 'tcp' as const, address: VIP, port: 80 };

function flows(n: number, port = 1000) {
  return Array.from({ length: n }, (_, i) => ({
    protocol: 'tcp' as const,
    client: { address: `198.18.${16 + (i >> 16)}.${(i >> 8) & 255}`, port: port + (i & 255) },
    virtual: { address: VIP, port: 80 },
  }));
}

async function make(connTabBits?: number): Promise<Director> {
  const d = await Director.create({ seed: 7, flavor: 'debug', connTabBits });
  d.addService(svc, { scheduler: 'rr' });
  d.addDest(svc, { address: '198.18.1.1', method: 'masq' });
  return d;
}

describe('connection table memory', () => {
  it('wasm memory grows by the table bytes, not by doubling', async () => {
    const d = await make();
    const before = coreOf(d).x.memory.buffer.byteLength;
    const n = 70_000; // 5 record chunks, bucket array doubled four times
    expect(d.scheduleBatch(flows(n), 0).every((r) => r.ok)).toBe(true);
    expect(d.connectionCount()).toBe(n);
    const table = coreOf(d).x.connMemory();
    const delta = coreOf(d).x.memory.buffer.byteLength - before;
    expect(delta).toBeLessThanOrEqual(table + PAGE);
    // 5 chunks + the arrays being moved (4 + 2 pages) + freed arrays kept (at most 1+1+2 pages)
    expect(table).toBeLessThanOrEqual(5 * CHUNK + 10 * PAGE);
  });

  it('reuses the pages of superseded bucket arrays', async () => {
    const d = await make(8);
    const before = coreOf(d).x.memory.buffer.byteLength;
    const n = 9000; // 256 → 8192 buckets: five doublings, every array one page
    expect(d.scheduleBatch(flows(n), 0).every((r) => r.ok)).toBe(true);
    // Leaking would take 6 array pages; reuse keeps the live one(s) and at most one spare.
    expect(coreOf(d).x.memory.buffer.byteLength - before).toBeLessThanOrEqual(CHUNK + 3 * PAGE);
    expect(coreOf(d).x.connMemory()).toBeLessThanOrEqual(CHUNK + 3 * PAGE);
    // Every entry is still found after the moves: the same flows hit their connections.
    const again = d.scheduleBatch(flows(n), 1);
    expect(again.every((r) => r.ok)).toBe(true);
    expect(d.connectionCount()).toBe(n);
  });

  it('keeps IPv6 addresses intact when the side table grows and is copied', async () => {
    const d = await Director.create({ seed: 7, flavor: 'debug' });
    const v6svc = { protocol: 'tcp' as const, address: '2001:db8::1', port: 80 };
    d.addService(v6svc, { scheduler: 'rr' });
    d.addDest(v6svc, { address: '2001:db8:1::1', method: 'masq' });
    const n = 5000; // side table: 2048 → 4096 → 8192 entries, two copies
    const v6flows = Array.from({ length: n }, (_, i) => ({
      protocol: 'tcp' as const, client: { address: `2001:db8:2::${(i + 1).toString(16)}`, port: 1024 + (i % 7) }, virtual: { address: '2001:db8::1', port: 80 },
    }));
    expect(d.scheduleBatch(v6flows, 0).every((r) => r.ok)).toBe(true);
    const seen = new Set(d.connections().map((c) => `${c.client.address}|${c.client.port}|${c.virtual.address}`));
    expect(seen.size).toBe(n);
    for (const f of v6flows) expect(seen.has(`${f.client.address}|${f.client.port}|2001:db8::1`)).toBe(true);
  });

  it('memory stays flat across fill/expire rounds', async () => {
    const d = await make(8);
    const sizes: number[] = [];
    for (let round = 0; round < 3; round++) {
      const t = round * 1000;
      expect(d.scheduleBatch(flows(20_000, 2000 + round), t).every((r) => r.ok)).toBe(true);
      d.advance(t + 200);
      expect(d.connectionCount()).toBe(0);
      sizes.push(coreOf(d).x.memory.buffer.byteLength);
    }
    expect(sizes[2]).toBe(sizes[0]);
  });
});
