// A deleted dest that connections still use waits in the trash with its
// counters; re-adding it revives the same object, counters and all.
import { describe, it, expect } from 'vitest';
import { director } from '../helpers.js';
import { NoSuchDestError } from '../../sdk/index.js';
import { web, feed, tick, avgs } from './helpers.js';

const rs = { address: '198.18.1.1', method: 'masq' } as const;
const flow = { protocol: 'tcp', client: { address: '198.18.9.9', port: 40000 }, virtual: { address: '198.18.0.1', port: 80 } } as const;

describe('trash and revival', () => {
  it('a revived dest keeps its stats; they freeze while it is in the trash', async () => {
    const d = await director();
    d.addService(web);
    const id = d.addDest(web, rs);
    tick(d, 0);
    // A real connection keeps the dest referenced, so -d moves it to the trash.
    expect(d.schedule({ ...flow, now: 0 })?.destId).toBe(id);
    feed(d, id, { conns: 9, inpkts: 19, inbytes: 1900 });
    tick(d, 2);
    const before = d.destById(id);
    expect(before.stats).toEqual({ conns: 10, inpkts: 20, outpkts: 0, inbytes: 1900, outbytes: 0 });
    const frozen = avgs(d, 'dest', id);
    expect(frozen.cps).toBe(1280n); // (10 << 9) >> 2

    d.deleteDest(web, { address: rs.address });
    const trashed = d.destById(id);
    expect(trashed.available).toBe(false);
    expect(trashed.stats).toEqual(before.stats);
    expect(() => feed(d, id, { conns: 1 })).toThrow(NoSuchDestError);
    // Packets of the old connection are not counted for an unavailable dest.
    d.schedule({ ...flow, now: 3 });
    expect(d.destById(id).stats).toEqual(before.stats);
    tick(d, 10);
    expect(avgs(d, 'dest', id)).toEqual(frozen); // not sampled in the trash
    expect(avgs(d, 'service', d.serviceId(web)).cps).toBeLessThan(frozen.cps); // the service decays

    expect(d.addDest(web, rs)).toBe(id);
    expect(d.destById(id).stats).toEqual(before.stats);
    expect(d.dests(web)[0]!.stats).toEqual(before.stats);
    tick(d, 12); // sampled again: nothing new since the last sample → decays
    expect(avgs(d, 'dest', id).cps).toBe(1280n - 320n);
    feed(d, id, { conns: 1 });
    expect(d.destById(id).stats.conns).toBe(11);
  });

  it('-Z on the service zeroes its live dests, not a trashed one', async () => {
    const d = await director();
    d.addService(web);
    const id = d.addDest(web, rs);
    d.schedule({ ...flow, now: 0 });
    d.deleteDest(web, { address: rs.address });
    d.zero(web);
    expect(d.destById(id).stats.conns).toBe(1);
    expect(d.service(web).stats.conns).toBe(0);
  });
});
