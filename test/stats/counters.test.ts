// Per-dest, per-service and total counters: 64-bit, and what the feed refuses.
import { describe, it, expect } from 'vitest';
import { director } from '../helpers.js';
import { NoSuchDestError, NoSuchServiceError, OutOfRangeError } from '../../sdk/index.js';
import { statsRecord } from '../../sdk/stats.js';
import { status } from '../../sdk/core/abi.gen.js';
import { web, dns, feed, tick, oneDest } from './helpers.js';
import { coreOf } from '../../sdk/core/index.js';

const MAX32 = 0xFFFFFFFF;

describe('counters', () => {
  it('a dest, its service and the total each count; services are separate', async () => {
    const d = await director();
    d.addService(web);
    const a = d.addDest(web, { address: '198.18.1.1', method: 'masq' });
    const b = d.addDest(web, { address: '198.18.1.2', method: 'masq' });
    const c = oneDest(d, 0, dns, '198.18.1.3');
    feed(d, a, { conns: 1, inpkts: 2, inbytes: 120, outpkts: 1, outbytes: 60 });
    feed(d, b, { conns: 2, inpkts: 3, inbytes: 180 });
    feed(d, c, { conns: 4 });
    expect(d.destById(a).stats).toEqual({ conns: 1, inpkts: 2, outpkts: 1, inbytes: 120, outbytes: 60 });
    expect(d.service(web).stats).toEqual({ conns: 3, inpkts: 5, outpkts: 1, inbytes: 300, outbytes: 60 });
    expect(d.service(dns).stats.conns).toBe(4);
    expect(d.totals().stats).toEqual({ conns: 7, inpkts: 5, outpkts: 1, inbytes: 300, outbytes: 60 });
    const listed = d.dests(web).map((x) => [x.id, x.stats.conns]);
    expect(listed).toEqual([[b, 2], [a, 1]]);
    expect(d.services().map((s) => s.stats.conns)).toEqual([3, 4]);
  });

  it('counts beyond 2^32 are exact (64-bit counters)', async () => {
    const d = await director();
    const id = oneDest(d, 0);
    for (let i = 0; i < 3; i++) feed(d, id, { conns: MAX32, inpkts: MAX32, inbytes: MAX32, outpkts: MAX32, outbytes: MAX32 });
    const want = 3 * MAX32; // 12884901885 > 2^33
    expect(d.destById(id).stats).toEqual({ conns: want, inpkts: want, outpkts: want, inbytes: want, outbytes: want });
    expect(d.totals().stats.inbytes).toBe(want);
    tick(d, 2);
    // inbps = ((3·(2^32-1) << 4) >> 2 + 15) >> 5 = 3·(2^32-1) / 8 rounded as IPVS does.
    const avg = (BigInt(want) << 4n) >> 2n;
    expect(d.destById(id).rates.inbps).toBe(Number((avg + 15n) >> 5n));
    d.zero(web);
    feed(d, id, { inbytes: 5 });
    expect(d.destById(id).stats.inbytes).toBe(5);
  });

  it('a deleted dest is not fed, bad values are refused', async () => {
    const d = await director();
    const id = oneDest(d, 0);
    expect(() => feed(d, id, { inpkts: -1 })).toThrow(OutOfRangeError);
    expect(() => feed(d, id, { inpkts: 2 ** 32 })).toThrow(OutOfRangeError);
    expect(() => feed(d, 12345, { conns: 1 })).toThrow(NoSuchDestError);
    d.deleteDest(web, { address: '198.18.1.1' });
    expect(() => feed(d, id, { conns: 1 })).toThrow(NoSuchDestError);
    expect(d.totals().stats.conns).toBe(0);
  });

  it('statsGet refuses unknown kinds and ids', async () => {
    const d = await director();
    const id = oneDest(d, 0);
    expect(coreOf(d).x.statsGet(3, 0)).toBe(status.E_INVAL);
    expect(() => statsRecord(coreOf(d), 'service', 12345)).toThrow(NoSuchServiceError);
    expect(() => statsRecord(coreOf(d), 'dest', 12345)).toThrow(NoSuchDestError);
    expect(coreOf(d).x.statsZero(12345)).toBe(status.E_NOSERVICE);
    expect(statsRecord(coreOf(d), 'dest', id).conns).toBe(0n);
  });
});
