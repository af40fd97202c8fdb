import { describe, it, expect } from 'vitest';
import { director, tcp80, flowFrom } from '../helpers.js';
import { InvalidOperationError } from '../../sdk/src/index.js';

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
