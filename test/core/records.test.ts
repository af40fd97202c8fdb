// The batch path over flow records: a record with no valid address family is
// refused on its own (E_INVAL, the bad-flow counter) without disturbing the
// decisions of its neighbours, with or without the connection table.
import { describe, it, expect } from 'vitest';
import { status, counters as CNT } from '../../sdk/src/core/abi.gen.js';
import { layout as L } from '../../sdk/src/core/abi.gen.js';
import { director, tcp80 } from '../helpers.js';

const flow = (k: number, af: number) => ({
  af, proto: 6, tcpflags: 0x02, fwmark: 0, len: 0,
  caddr: [(0xc6130000 | k) >>> 0, 0, 0, 0] as [number, number, number, number], cport: 2000 + k,
  vaddr: [0xc6120001, 0, 0, 0] as [number, number, number, number], vport: 80,
});

describe('flow records with a bad family', () => {
  for (const connections of [false, true]) {
    it(`are refused one by one (connections ${connections ? 'on' : 'off'})`, async () => {
      const d = await director(1, { connections });
      d.addService(tcp80, { scheduler: 'rr' });
      d.addDest(tcp80, { address: '198.18.1.1' });
      const before = d.core.x.counter(CNT.CNT_BAD_FLOW);
      const afs = [4, 0, 4, 5, 4];
      afs.forEach((af, i) => d.core.writeFlow(i, flow(i, af)));
      expect(d.core.x.schedule(afs.length, 1)).toBe(3);
      afs.forEach((af, i) => {
        const r = d.core.readDecision(i);
        if (af === 4) {
          expect(r.status).toBeGreaterThanOrEqual(0);
          expect(r.daddr[0]).toBe(0xc6120101);
        } else {
          expect(r.status).toBe(status.E_INVAL);
          expect(r.dest).toBe(0);
        }
      });
      expect(d.core.x.counter(CNT.CNT_BAD_FLOW) - before).toBe(2);
      expect(L.FLOW_AF).toBe(0);
    });
  }
});
