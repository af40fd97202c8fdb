// Property: random feeds, ticks and -Z on two services with two dests each
// give the counters and scaled averages of a plain model of IPVS stats.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { director } from '../helpers.js';
import { web, dns, feed, tick, avgs } from './helpers.js';
import { sample, noDeltas, ZERO_AVGS, type Avgs, type Deltas } from './model.js';

/** One stats object: shown counters, Δ since the last sample (or -Z), averages. */
class Obj {
  shown = noDeltas();
  pending = noDeltas();
  avg: Avgs = ZERO_AVGS;
  add(d: Deltas): void {
    for (const k of Object.keys(d) as (keyof Deltas)[]) {
      this.shown[k] += d[k];
      this.pending[k] += d[k];
    }
  }
  zero(): void {
    this.shown = noDeltas();
    this.pending = noDeltas();
    this.avg = ZERO_AVGS;
  }
  sample(): void {
    this.avg = sample(this.avg, this.pending);
    this.pending = noDeltas();
  }
}

const op = fc.oneof(
  fc.record({ kind: fc.constant('feed' as const), dest: fc.nat(3), conns: fc.nat(20), inpkts: fc.nat(900), inbytes: fc.nat(90_000) }),
  fc.record({ kind: fc.constant('tick' as const), dt: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('zero' as const), svc: fc.integer({ min: -1, max: 1 }) }),
);

describe('stats model', () => {
  it('counters, -Z and averages match the model for random histories', async () => {
    await fc.assert(fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
      const d = await director();
      const keys = [web, dns];
      const destIds: number[] = [];
      for (const key of keys) {
        d.addService(key);
        destIds.push(d.addDest(key, { address: '198.18.1.1', method: 'masq' }));
        destIds.push(d.addDest(key, { address: '198.18.1.2', method: 'masq' }));
      }
      tick(d, 0);
      const total = new Obj();
      const svcs = [new Obj(), new Obj()];
      const dsts = [new Obj(), new Obj(), new Obj(), new Obj()];
      let now = 0;
      let next = 2;
      for (const o of ops) {
        if (o.kind === 'feed') {
          feed(d, destIds[o.dest]!, o);
          const delta = { ...noDeltas(), conns: BigInt(o.conns), inpkts: BigInt(o.inpkts), inbytes: BigInt(o.inbytes) };
          for (const x of [dsts[o.dest]!, svcs[o.dest >> 1]!, total]) x.add(delta);
        } else if (o.kind === 'tick') {
          now += o.dt;
          tick(d, now);
          for (; next <= now; next += 2) for (const x of [total, ...svcs, ...dsts]) x.sample();
        } else if (o.svc < 0) {
          d.zero();
          for (const x of [total, ...svcs, ...dsts]) x.zero();
        } else {
          d.zero(keys[o.svc]!);
          for (const x of [svcs[o.svc]!, dsts[2 * o.svc]!, dsts[2 * o.svc + 1]!]) x.zero();
        }
      }
      const num = (x: Obj) => ({
        conns: Number(x.shown.conns), inpkts: Number(x.shown.inpkts), outpkts: 0,
        inbytes: Number(x.shown.inbytes), outbytes: 0,
      });
      expect(d.totals().stats).toEqual(num(total));
      expect(avgs(d, 'total')).toEqual(total.avg);
      keys.forEach((key, i) => {
        expect(d.service(key).stats).toEqual(num(svcs[i]!));
        expect(avgs(d, 'service', d.serviceId(key))).toEqual(svcs[i]!.avg);
      });
      destIds.forEach((id, i) => {
        expect(d.destById(id).stats).toEqual(num(dsts[i]!));
        expect(avgs(d, 'dest', id)).toEqual(dsts[i]!.avg);
      });
    }), { numRuns: 80 });
  });
});
