import { describe, it, expect } from 'vitest';
import { director, tcp80, flowFrom } from '../helpers.js';
import { InvalidOperationError } from '../../sdk/index.js';
import { layout } from '../../sdk/core/abi.gen.js';
import { coreOf } from '../../sdk/core/index.js';

describe('setDestConns', () => {
  it('is refused for a dest that real connections reference, and counters stay consistent', async () => {
    const d = await director();
    d.addService(tcp80, { scheduler: 'rr' });
    const id = d.addDest(tcp80, { address: '198.18.1.1' });
    d.setDestConns(id, 3, 4); // no connection yet: allowed (simulations)
    expect(d.destById(id)).toMatchObject({ activeconns: 3, inactconns: 4 });
    d.setDestConns(id, 0, 0);
    expect(d.schedule(flowFrom('198.18.9.9', 1000))).not.toBeNull();
    expect(() => d.setDestConns(id, 0, 0)).toThrow(InvalidOperationError);
    expect(d.destById(id)).toMatchObject({ activeconns: 1, inactconns: 0 }); // SYN: NONE → SYN_RECV, active
    d.advance(1000); // SYN_RECV (60 s) expires; the counters come back to zero, not below
    expect(d.destById(id)).toMatchObject({ activeconns: 0, inactconns: 0 });
    d.setDestConns(id, 1, 0);
    expect(d.destById(id).activeconns).toBe(1);
  });

  it('is allowed with connection tracking off', async () => {
    const d = await director(1, { connections: false });
    d.addService(tcp80, { scheduler: 'lc' });
    const id = d.addDest(tcp80, { address: '198.18.1.1' });
    expect(d.schedule(flowFrom('198.18.9.9', 1000))?.destId).toBe(id);
    d.setDestConns(id, 5, 0);
    expect(d.destById(id).activeconns).toBe(5);
  });
});

describe("connections: 'count'", () => {
  it('counts each decision as one new inactive connection and takes ends back', async () => {
    const d = await director(1, { connections: 'count' });
    d.addService(tcp80, { scheduler: 'lc', ops: false });
    const a = d.addDest(tcp80, { address: '198.18.1.1' });
    const b = d.addDest(tcp80, { address: '198.18.1.2', uThreshold: 2 });
    // List order b, a: b first, then a, then b again hits its threshold (2 connections).
    expect([1, 2, 3].map((p) => d.schedule(flowFrom('198.18.9.9', 1000 + p))?.destId)).toEqual([b, a, b]);
    expect(d.destById(b)).toMatchObject({ activeconns: 0, inactconns: 2, overloaded: true });
    expect(d.connections().length).toBe(0); // no entries
    expect(d.schedule(flowFrom('198.18.9.9', 1004))?.destId).toBe(a); // b is OVERLOADed
    expect(d.endDestConn(b)).toBe(true); // 1 < 2 * 3/4: OVERLOAD cleared, as an unbind does
    expect(d.destById(b)).toMatchObject({ inactconns: 1, overloaded: false });
    expect(d.endDestConn(b, true)).toBe(false); // no active connection counted: nothing changes
    expect(d.endDestConn(b)).toBe(true);
    expect(d.endDestConn(b)).toBe(false);
    expect(d.destById(b)).toMatchObject({ activeconns: 0, inactconns: 0 });
    expect(() => d.endDestConn(0x7fffff)).toThrow();
  });

  it('is refused while the table tracks connections to the dest, and a bad option is an error', async () => {
    const d = await director();
    d.addService(tcp80, { scheduler: 'rr' });
    const id = d.addDest(tcp80, { address: '198.18.1.1' });
    expect(d.schedule(flowFrom('198.18.9.9', 1000))).not.toBeNull();
    expect(() => d.endDestConn(id)).toThrow(InvalidOperationError);
    // Switched to counting with the entry still live: its count stays the table's.
    expect(coreOf(d).x.setOption(layout.OPT_TRACK_CONNS, 2)).toBeGreaterThanOrEqual(0);
    expect(() => d.endDestConn(id)).toThrow(InvalidOperationError);
    expect(d.destById(id).activeconns + d.destById(id).inactconns).toBe(1);
    await expect(director(1, { connections: 'yes' as unknown as boolean })).rejects.toThrow(InvalidOperationError);
  });
});
