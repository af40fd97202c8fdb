// ct_track: the fast flows the conntrack feed reads by tuple (one GET each) instead of walking the
// kernel's conntrack table. A flow gwBurst answers with a fast mark is tracked with its original
// tuple; ctTrackPrepare/ctTrackNext hand out the ones to read this tick, as conntrack records at
// REGION_CT: UDP flows at once, TCP flows once listed or from 2 s after they were queued, until the
// table has both FINs or a reset; a listed connection the table let go once more (for the host to
// delete its entry); a destroy event ends a flow's tracking. The connections are opened by real
// packets through gwBurst; conntrack's records are written by hand.
import { describe, expect, it } from 'vitest';
import { layout as L, status as S } from '../../sdk/core/abi.gen.js';
import type { Director } from '../../sdk/index.js';
import { coreOf } from '../../sdk/core/index.js';
import { v4 } from './build.js';
import { burst, gateway } from './burst.js';

const VIP = '198.18.0.1', CLIENT = '198.18.9.9', RS1 = '198.18.1.1';
const BASE = 0x57b00000, INVALID = 0x57c00000, YOUNG_BIT = 0x20000000;
const SETTLED = 0x00400000, YOUNG = 0xa0000000;
const SYN = 0x02;
/** nf_conntrack_tcp states. */
const ESTABLISHED = 3, TIME_WAIT = 7;
const ip4 = (a: string) => a.split('.').reduce((n, b) => (n * 256) + Number(b), 0) >>> 0;
const syn = (sport: number) => v4({ src: CLIENT, dst: VIP }, { proto: 'tcp', sport, dport: 80, flags: SYN, payload: [] });

async function fastGateway(protocol: 'tcp' | 'udp' = 'tcp'): Promise<Director> {
  const port = protocol === 'tcp' ? 80 : 53;
  const d = await gateway({ protocol, vip: VIP, port, rport: protocol === 'tcp' ? 8080 : undefined, dests: [RS1] });
  const x = coreOf(d).x;
  expect(x.gwFastParams(BASE, INVALID, YOUNG_BIT)).toBe(S.OK);
  expect(x.gwFastDest(d.dests({ protocol, address: VIP, port })[0].id, 1)).toBe(S.OK);
  return d;
}

/** The tuples a scan hands out at `now` (client ports, checked to be ours): prepare's count, then every ctTrackNext. */
function scan(d: Director, now: number, vport = 80, proto = 6): { counted: number; ports: number[] } {
  const core = coreOf(d);
  const counted = core.x.ctTrackPrepare(now);
  const ports: number[] = [];
  for (let guard = 0; guard < 100; guard++) {
    const n = core.x.ctTrackNext(4, now);
    const v = core.view();
    for (let k = 0; k < n; k++) {
      const o = core.base + L.REGION_CT + k * L.CT_REC_SIZE;
      expect({ proto: v.getUint8(o + L.CT_PROTO), family: v.getUint8(o + L.CT_FAMILY), src: v.getUint32(o + L.CT_OSRC, true),
        dst: v.getUint32(o + L.CT_ODST, true), dport: v.getUint16(o + L.CT_ODPORT, true) })
        .toEqual({ proto, family: 4, src: ip4(CLIENT), dst: ip4(VIP), dport: vport });
      ports.push(v.getUint16(o + L.CT_OSPORT, true));
    }
    if (n < 4) break;
  }
  return { counted, ports: ports.sort((a, b) => a - b) };
}

/** One conntrack record of client port `cport` applied (a listing, or with destroy a destroy event). */
function record(d: Director, cport: number, state: number, now: number, destroy = false, mark = BASE): number {
  const core = coreOf(d);
  const v = core.view();
  const o = core.base + L.REGION_CT;
  new Uint8Array(v.buffer, o, L.CT_REC_SIZE).fill(0);
  v.setUint8(o + L.CT_KIND, destroy ? L.CT_KIND_DESTROY : L.CT_KIND_DUMP);
  v.setUint8(o + L.CT_PROTO, 6);
  v.setUint8(o + L.CT_STATE, state);
  v.setUint32(o + L.CT_MARK, mark, true);
  v.setUint8(o + L.CT_FAMILY, 4);
  v.setUint32(o + L.CT_OSRC, ip4(CLIENT), true);
  v.setUint32(o + L.CT_ODST, ip4(VIP), true);
  v.setUint16(o + L.CT_OSPORT, cport, true);
  v.setUint16(o + L.CT_ODPORT, 80, true);
  v.setFloat64(o + L.CT_OPKTS, 1, true);
  return core.x.ctApply(1, now, SETTLED, YOUNG);
}

describe('ct_track', () => {
  it('a fast TCP flow is read from 2 s after its SYN, every tick while open, not after both FINs; a destroy event ends it', async () => {
    const d = await fastGateway();
    burst(d, [syn(41000), syn(41001), syn(41002)], { now: 10 });
    expect(coreOf(d).x.ctTrackState()).toBe(3);
    // Young: nothing to read at 10 or 11 (a short connection is over by then, its destroy event read).
    expect(scan(d, 10)).toEqual({ counted: 0, ports: [] });
    expect(scan(d, 11)).toEqual({ counted: 0, ports: [] });
    // 41001's destroy event comes first (a short connection): it is never read.
    expect(record(d, 41001, TIME_WAIT, 11, true)).toBeGreaterThanOrEqual(0);
    expect(scan(d, 12)).toEqual({ counted: 2, ports: [41000, 41002] });
    // Listed (ESTABLISHED), it is read every tick whatever its age; both FINs seen (TIME_WAIT): no more.
    record(d, 41000, ESTABLISHED, 12, false, (BASE | YOUNG_BIT) >>> 0);
    record(d, 41002, TIME_WAIT, 12, false, (BASE | YOUNG_BIT) >>> 0);
    expect(scan(d, 13)).toEqual({ counted: 1, ports: [41000] });
    expect(scan(d, 14)).toEqual({ counted: 1, ports: [41000] });
    expect(coreOf(d).x.ctTrackState()).toBe(1);
    record(d, 41000, TIME_WAIT, 15, true);
    expect(scan(d, 15)).toEqual({ counted: 0, ports: [] });
    expect(coreOf(d).x.ctTrackState()).toBe(0);
  });

  it('a listed connection the table let go is handed out once (the host deletes its entry); a never-listed one is not', async () => {
    const d = await fastGateway();
    d.setTimeouts({ tcp: 5 });
    burst(d, [syn(41100), syn(41101)], { now: 10 });
    record(d, 41100, ESTABLISHED, 12);
    expect(scan(d, 12).ports).toEqual([41100, 41101]); // 41101 by age
    // Both expire in the table (41100 idle past its 5 s, 41101 never answered: SYN_RECV's 60 s).
    d.advance(80);
    expect(d.connections(80)).toHaveLength(0);
    // 41100 once more: the feed's lookup finds its entry and ctApply asks for its deletion (no connection).
    expect(scan(d, 80)).toEqual({ counted: 1, ports: [41100] });
    expect(scan(d, 81)).toEqual({ counted: 0, ports: [] });
  });

  it('a UDP flow is read at once and every tick; a listing tracks a flow it lacks, not a settled one', async () => {
    const d = await fastGateway('udp');
    burst(d, [v4({ src: CLIENT, dst: VIP }, { proto: 'udp', sport: 41200, dport: 53, payload: [1, 2] })], { now: 10 });
    expect(scan(d, 10, 53, 17)).toEqual({ counted: 1, ports: [41200] });
    expect(scan(d, 11, 53, 17)).toEqual({ counted: 1, ports: [41200] });

    // A TCP connection that was not marked for the fast path (e.g. before a restart of the feed), listed by a walk: tracked from then on.
    const t = await gateway({ vip: VIP, port: 80, rport: 8080, dests: [RS1] });
    burst(t, [syn(41300)], { now: 10 });
    expect(coreOf(t).x.ctTrackState()).toBe(0);
    record(t, 41300, ESTABLISHED, 10);
    expect(coreOf(t).x.ctTrackState()).toBe(1);
    expect(scan(t, 10)).toEqual({ counted: 1, ports: [41300] });
    // A settled entry listed (closed, its destroy event to come): not tracked again.
    burst(t, [syn(41301)], { now: 10 });
    record(t, 41301, TIME_WAIT, 10, false, (BASE | SETTLED) >>> 0);
    expect(coreOf(t).x.ctTrackState()).toBe(1);
  });
});
