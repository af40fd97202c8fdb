// The 2-second rate estimator against the IPVS formula, sample by sample.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { director } from '../helpers.js';
import { web, feed, tick, avgs, oneDest } from './helpers.js';
import { sample, noDeltas, reportPps, reportBps, ZERO_AVGS, type Avgs } from './model.js';

describe('rate estimator', () => {
  it('100 connections in the first 2 s, then nothing: cps sample by sample', async () => {
    const d = await director();
    const id = oneDest(d, 0);
    feed(d, id, { conns: 100 });
    const cps: number[] = [];
    for (let t = 2; t <= 26; t += 2) {
      tick(d, t);
      cps.push(d.service(web).rates.cps);
    }
    // By hand: avg1 = (100 << 9) >> 2 = 12800 → (12800 + 511) >> 10 = 12;
    // then avg -= ceil(avg / 4): 9600 → 9, 7200 → 7, 5400 → 5, 4050 → 4,
    // 3037 → 3, 2277 → 2, 1707 → 2, 1280 → 1, 960, 720, 540 → 1, 405 → 0.
    expect(cps).toEqual([12, 9, 7, 5, 4, 3, 2, 2, 1, 1, 1, 1, 0]);
    expect(avgs(d, 'service', d.serviceId(web)).cps).toBe(405n);
  });

  it('bytes: 6000 in the first 2 s → inbps 750, 562, 422', async () => {
    const d = await director();
    const id = oneDest(d, 0);
    feed(d, id, { inpkts: 4, inbytes: 6000, outpkts: 2, outbytes: 3000 });
    const seen: number[][] = [];
    for (let t = 2; t <= 6; t += 2) {
      tick(d, t);
      const r = d.destById(id).rates;
      seen.push([r.inbps, r.outbps, r.inpps, r.outpps]);
    }
    // avg = (6000 << 4) >> 2 = 24000 → (24000 + 15) >> 5 = 750; 18000 → 562;
    // 13500 → 422. outbytes half of it: 12000 → 375; 9000 → 281; 6750 → 211.
    // pps: 4 pkts → 512 → (512 + 511) >> 10 = 0 (0.5 pkt/s rounds down).
    expect(seen).toEqual([[750, 375, 0, 0], [562, 281, 0, 0], [422, 211, 0, 0]]);
  });

  it('rounding: a steady 1 conn/s settles at avg = rate - 3 and shows 1', async () => {
    const d = await director();
    const id = oneDest(d, 0);
    let a: Avgs = ZERO_AVGS;
    for (let t = 2; t <= 100; t += 2) {
      feed(d, id, { conns: 2 });
      tick(d, t);
      a = sample(a, { ...noDeltas(), conns: 2n });
    }
    expect(avgs(d, 'dest', id).cps).toBe(a.cps);
    // (1024 - a) steps by floor((1024 - a) / 4): it stops once the gap is < 4.
    expect(a.cps).toBe(1021n);
    expect(d.destById(id).rates.cps).toBe(Number(reportPps(a.cps)));
    expect(d.destById(id).rates.cps).toBe(1);
  });

  it('samples only every 2 seconds of now, counted from the first tick after the first service', async () => {
    const d = await director();
    tick(d, 0); // no service yet: the clock does not start
    const id = oneDest(d, 5); // starts at 5: samples at 7, 9, 11 …
    feed(d, id, { conns: 8 });
    tick(d, 6);
    expect(d.totals().rates.cps).toBe(0);
    expect(avgs(d, 'total').cps).toBe(0n);
    tick(d, 7);
    expect(avgs(d, 'total').cps).toBe(1024n); // (8 << 9) >> 2
    tick(d, 8);
    expect(avgs(d, 'total').cps).toBe(1024n);
  });

  it('a long gap gives the same integers as taking every sample, with bounded work', async () => {
    const a = await director();
    const b = await director();
    const ia = oneDest(a, 0);
    const ib = oneDest(b, 0);
    const big = { conns: 0xFFFFFFFF, inpkts: 0xFFFFFFFF, inbytes: 0xFFFFFFFF, outpkts: 7, outbytes: 0xFFFFFFFF };
    feed(a, ia, big);
    feed(b, ib, big);
    for (let t = 2; t <= 100; t += 2) tick(a, t);
    tick(b, 101);
    expect(avgs(b, 'total')).toEqual(avgs(a, 'total'));
    expect(avgs(b, 'service', b.serviceId(web))).toEqual(avgs(a, 'service', a.serviceId(web)));
    expect(avgs(b, 'dest', ib)).toEqual(avgs(a, 'dest', ia));
    expect(avgs(a, 'dest', ia)).not.toEqual(ZERO_AVGS);
    // After ~160 empty samples every average is 0: a jump of 2^31 s is the same.
    tick(a, 400);
    expect(avgs(a, 'dest', ia)).toEqual(ZERO_AVGS);
    const c = await director();
    const ic = oneDest(c, 0);
    feed(c, ic, big);
    tick(c, 2 ** 31);
    expect(avgs(c, 'dest', ic)).toEqual(ZERO_AVGS);
  });

  it('real connections through schedule() and advance() follow the same formula', async () => {
    const d = await director();
    d.addService(web, { scheduler: 'rr' });
    d.addDest(web, { address: '198.18.1.1', method: 'masq' });
    d.addDest(web, { address: '198.18.1.2', method: 'masq' });
    const perSecond = [7, 0, 30, 3, 0, 0, 12, 1, 0, 5];
    const buckets = new Map<number, bigint>();
    let port = 10000;
    for (let t = 0; t < perSecond.length; t++) {
      d.advance(t);
      for (let i = 0; i < perSecond[t]!; i++) {
        const c = d.schedule({ protocol: 'tcp', client: { address: '198.18.9.9', port: port++ }, virtual: { address: '198.18.0.1', port: 80 }, now: t });
        expect(c).not.toBeNull();
      }
      const k = Math.floor(t / 2) + 1;
      buckets.set(k, (buckets.get(k) ?? 0n) + BigInt(perSecond[t]!));
    }
    d.advance(20);
    let a = ZERO_AVGS;
    for (let k = 1; k <= 10; k++) {
      const n = buckets.get(k) ?? 0n;
      a = sample(a, { ...noDeltas(), conns: n, inpkts: n }); // each new connection's first packet counts as inpkt
    }
    const got = avgs(d, 'service', d.serviceId(web));
    expect([got.cps, got.inpps]).toEqual([a.cps, a.inpps]);
    expect(d.service(web).stats.conns).toBe(58);
    expect(d.totals().rates.cps).toBe(Number(reportPps(a.cps)));
  });

  it('property: random histories match the kernel formula, whatever the tick pattern', async () => {
    const event = fc.record({
      dt: fc.integer({ min: 0, max: 9 }),
      conns: fc.nat(50), inpkts: fc.nat(5000), inbytes: fc.nat(4_000_000),
      outpkts: fc.nat(5000), outbytes: fc.nat(4_000_000),
    });
    await fc.assert(fc.asyncProperty(fc.array(event, { maxLength: 40 }), fc.boolean(), async (events, everySecond) => {
      const d = await director();
      const id = oneDest(d, 0);
      // Model: a feed at time t (after tick(t)) lands in the sample at the next even second > t.
      const buckets = new Map<number, ReturnType<typeof noDeltas>>();
      let t = 0;
      for (const e of events) {
        const to = t + e.dt;
        if (everySecond) for (let s = t + 1; s <= to; s++) tick(d, s);
        else tick(d, to);
        t = to;
        feed(d, id, e);
        const k = Math.floor(t / 2) + 1;
        const b = buckets.get(k) ?? noDeltas();
        buckets.set(k, {
          conns: b.conns + BigInt(e.conns), inpkts: b.inpkts + BigInt(e.inpkts), inbytes: b.inbytes + BigInt(e.inbytes),
          outpkts: b.outpkts + BigInt(e.outpkts), outbytes: b.outbytes + BigInt(e.outbytes),
        });
      }
      const end = t + 11;
      tick(d, end);
      let a = ZERO_AVGS;
      for (let k = 1; 2 * k <= end; k++) a = sample(a, buckets.get(k) ?? noDeltas());
      expect(avgs(d, 'dest', id)).toEqual(a);
      expect(avgs(d, 'total')).toEqual(a);
      const r = d.destById(id).rates;
      expect(r).toEqual({
        cps: Number(reportPps(a.cps)), inpps: Number(reportPps(a.inpps)), outpps: Number(reportPps(a.outpps)),
        inbps: Number(reportBps(a.inbps)), outbps: Number(reportBps(a.outbps)),
      });
    }), { numRuns: 60 });
  });
});
