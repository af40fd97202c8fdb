// ipvsadm -Z: a baseline subtracted on display, and an estimator reset.
import { describe, it, expect } from 'vitest';
import { director } from '../helpers.js';
import { NoSuchServiceError } from '../../sdk/index.js';
import { web, dns, feed, tick, avgs, oneDest } from './helpers.js';
import { ZERO_AVGS } from './model.js';

const none = { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 };
const still = { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 };

describe('-Z (zero)', () => {
  it('counters show 0 after zero, then count up; rates restart from 0', async () => {
    const d = await director();
    const id = oneDest(d, 0);
    feed(d, id, { conns: 10, inpkts: 100, inbytes: 10_000, outpkts: 50, outbytes: 70_000 });
    tick(d, 2);
    expect(d.service(web).rates.cps).toBe(1); // avg = (10 << 9) >> 2 = 1280 → (1280 + 511) >> 10 = 1
    // Counted after the last sample and before -Z: must not leak into the next rate.
    feed(d, id, { conns: 6, inpkts: 6 });
    d.zero(web);
    expect(d.service(web).stats).toEqual(none);
    expect(d.service(web).rates).toEqual(still);
    expect(d.destById(id).stats).toEqual(none);
    expect(avgs(d, 'dest', id)).toEqual(ZERO_AVGS);
    // last := current at -Z, so the next sample sees only what came after it.
    feed(d, id, { conns: 4, inpkts: 8, inbytes: 800 });
    expect(d.dests(web)[0]!.stats).toEqual({ conns: 4, inpkts: 8, outpkts: 0, inbytes: 800, outbytes: 0 });
    tick(d, 4);
    expect(avgs(d, 'service', d.serviceId(web))).toEqual({ cps: 512n, inpps: 1024n, outpps: 0n, inbps: 3200n, outbps: 0n });
    // The total was not zeroed by a service -Z.
    expect(d.totals().stats).toEqual({ conns: 20, inpkts: 114, outpkts: 50, inbytes: 10_800, outbytes: 70_000 });
  });

  it('zeroing one service leaves the others alone', async () => {
    const d = await director();
    const a = oneDest(d, 0, web, '198.18.1.1');
    const b = oneDest(d, 0, dns, '198.18.1.2');
    feed(d, a, { conns: 3, inpkts: 3 });
    feed(d, b, { conns: 5, inpkts: 9 });
    tick(d, 2);
    const before = d.service(dns);
    d.zero(web);
    expect(d.service(web).stats.conns).toBe(0);
    expect(d.service(dns).stats).toEqual(before.stats);
    expect(d.service(dns).rates).toEqual(before.rates);
    expect(d.destById(b).stats.inpkts).toBe(9);
    expect(d.totals().stats.conns).toBe(8);
  });

  it('-Z without a service zeroes every service, dest and the total', async () => {
    const d = await director();
    const a = oneDest(d, 0, web, '198.18.1.1');
    const b = oneDest(d, 0, dns, '198.18.1.2');
    feed(d, a, { conns: 3 });
    feed(d, b, { conns: 5 });
    tick(d, 2);
    expect(d.totals().rates.cps).toBe(1); // avg = (8 << 9) >> 2 = 1024 → (1024 + 511) >> 10 = 1
    expect(d.totals().stats.conns).toBe(8);
    d.zero();
    for (const s of d.services()) {
      expect(s.stats).toEqual(none);
      expect(s.rates).toEqual(still);
    }
    expect(d.destById(a).stats).toEqual(none);
    expect(d.destById(b).stats).toEqual(none);
    expect(d.totals()).toEqual({ stats: none, rates: still });
    feed(d, b, { conns: 1 });
    expect(d.totals().stats.conns).toBe(1);
  });

  it('a missing service is NoSuchServiceError', async () => {
    const d = await director();
    oneDest(d, 0);
    expect(() => d.zero(dns)).toThrow(NoSuchServiceError);
  });
});
