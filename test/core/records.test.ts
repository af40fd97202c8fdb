// The batch path over flow records: a record with no valid address family is
// refused on its own (E_INVAL, the bad-flow counter) without disturbing the
// decisions of its neighbours, with or without the connection table.
import { describe, it, expect } from 'vitest';
import { status, counters as CNT } from '../../sdk/core/abi.gen.js';
import { layout as L } from '../../sdk/core/abi.gen.js';
import { director, tcp80 } from '../helpers.js';
import { coreOf } from '../../sdk/core/index.js';

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
      const before = coreOf(d).x.counter(CNT.CNT_BAD_FLOW);
      const afs = [4, 0, 4, 5, 4];
      afs.forEach((af, i) => coreOf(d).writeFlow(i, flow(i, af)));
      expect(coreOf(d).x.schedule(afs.length, 1)).toBe(3);
      afs.forEach((af, i) => {
        const r = coreOf(d).readDecision(i);
        if (af === 4) {
          expect(r.status).toBeGreaterThanOrEqual(0);
          expect(r.daddr[0]).toBe(0xc6120101);
        } else {
          expect(r.status).toBe(status.E_INVAL);
          expect(r.dest).toBe(0);
        }
      });
      expect(coreOf(d).x.counter(CNT.CNT_BAD_FLOW) - before).toBe(2);
      expect(L.FLOW_AF).toBe(0);
    });
  }

  // Batches span several resolve chunks (32 flows, RESOLVE_CHUNK): bad records at the first
  // and last place of a chunk and of the batch, runs of them, a batch of one,
  // and a director with no service (every valid flow is "not ours").
  for (const connections of [false, true]) {
    it(`are refused across chunk edges, alone and with no service (connections ${connections ? 'on' : 'off'})`, async () => {
      const d = await director(1, { connections });
      const bad = new Set([0, 1, 2, 31, 32, 33, 63, 64, 65, 95, 96, 100, 127, 128, 129, 130, 131, 159, 160, 199]);
      const n = 200;
      const run = (expectOk: boolean) => {
        const before = coreOf(d).x.counter(CNT.CNT_BAD_FLOW);
        for (let i = 0; i < n; i++) coreOf(d).writeFlow(i, flow(i, bad.has(i) ? (i & 1 ? 6 + i : 0) : 4));
        expect(coreOf(d).x.schedule(n, 1)).toBe(expectOk ? n - bad.size : 0);
        for (let i = 0; i < n; i++) {
          const r = coreOf(d).readDecision(i);
          if (bad.has(i)) {
            expect(r.status).toBe(status.E_INVAL);
            expect(r.dest).toBe(0);
          } else if (expectOk) {
            expect(r.status).toBeGreaterThanOrEqual(0);
            expect(r.daddr[0]).toBe(0xc6120101);
          } else {
            expect(r.status).toBe(status.E_NOT_OURS);
          }
        }
        expect(coreOf(d).x.counter(CNT.CNT_BAD_FLOW) - before).toBe(bad.size);
      };
      run(false);
      d.addService(tcp80, { scheduler: 'rr' });
      d.addDest(tcp80, { address: '198.18.1.1' });
      run(true);
      // One record: the batch of one skips the resolve pass.
      const before = coreOf(d).x.counter(CNT.CNT_BAD_FLOW);
      coreOf(d).writeFlow(0, flow(0, 0));
      expect(coreOf(d).x.schedule(1, 1)).toBe(0);
      expect(coreOf(d).readDecision(0).status).toBe(status.E_INVAL);
      coreOf(d).writeFlow(0, flow(0, 4));
      expect(coreOf(d).x.schedule(1, 1)).toBe(1);
      expect(coreOf(d).readDecision(0).daddr[0]).toBe(0xc6120101);
      expect(coreOf(d).x.counter(CNT.CNT_BAD_FLOW) - before).toBe(1);
    });
  }
});
