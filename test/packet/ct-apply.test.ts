// ctApply: the gateway's fast-path feed in one core call. Conntrack records (as the addon writes
// them into REGION_CT) reach the connection table and the statistics: counters to the connection's
// real server, its service and the total; conntrack's TCP state as the connection events the
// table has not had yet; and what the host must do to the kernel's entry comes back as actions
// (delete, settle, promote). Here the records are written by hand, the connections opened by
// real SYNs through gwBurst.
import { describe, expect, it } from 'vitest';
import { layout as L, status as S } from '../../sdk/core/abi.gen.js';
import type { Director } from '../../sdk/index.js';
import { coreOf } from '../../sdk/core/index.js';
import { v4, v6 } from './build.js';
import { burst, gateway } from './burst.js';

const VIP = '198.18.0.1', CLIENT = '198.18.9.9', RS1 = '198.18.1.1';
const VIP6 = '2001:2::1', CLIENT6 = '2001:2::9', RS6 = '2001:2::100';
const SYN = 0x02;
const SETTLED = 0x00400000, YOUNG = 0xa0000000, MARK = 0x57b00001;
/** nf_conntrack_tcp states. */
const ESTABLISHED = 3, FIN_WAIT = 4, TIME_WAIT = 7, CLOSE = 8;

const ip4 = (a: string) => a.split('.').reduce((n, b) => (n * 256) + Number(b), 0) >>> 0;
/** Four words of an IPv6 address, each four bytes read big-endian (the core's form). */
function ip6(a: string): number[] {
  const [head, tail = ''] = a.split('::');
  const h = head ? head.split(':') : [], t = tail ? tail.split(':') : [];
  const g = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t].map((x) => parseInt(x, 16));
  return [0, 1, 2, 3].map((i) => ((g[2 * i] << 16) | g[2 * i + 1]) >>> 0);
}

interface Rec {
  kind?: number; proto?: number; state?: number; close?: number; mark?: number;
  client?: string; cport?: number; vip?: string; vport?: number;
  op?: number; ob?: number; rp?: number; rb?: number;
}

/** Records written into REGION_CT as ct_socket.cc encodes them. */
function write(d: Director, recs: Rec[]): void {
  const core = coreOf(d);
  const v = core.view();
  recs.forEach((r, k) => {
    const o = core.base + L.REGION_CT + k * L.CT_REC_SIZE;
    new Uint8Array(v.buffer, o, L.CT_REC_SIZE).fill(0);
    const client = r.client ?? CLIENT, vip = r.vip ?? VIP;
    v.setUint8(o + L.CT_KIND, r.kind ?? L.CT_KIND_DUMP);
    v.setUint8(o + L.CT_PROTO, r.proto ?? 6);
    v.setUint8(o + L.CT_STATE, r.state ?? 0);
    v.setUint8(o + L.CT_CLOSE, r.close ?? 0);
    v.setUint32(o + L.CT_MARK, r.mark ?? MARK, true);
    if (client.includes(':')) {
      v.setUint8(o + L.CT_FAMILY, 6);
      ip6(client).forEach((w, i) => v.setUint32(o + L.CT_OSRC6 + 4 * i, w, true));
      ip6(vip).forEach((w, i) => v.setUint32(o + L.CT_ODST6 + 4 * i, w, true));
    } else {
      v.setUint8(o + L.CT_FAMILY, 4);
      v.setUint32(o + L.CT_OSRC, ip4(client), true);
      v.setUint32(o + L.CT_ODST, ip4(vip), true);
    }
    v.setUint16(o + L.CT_OSPORT, r.cport ?? 40000, true);
    v.setUint16(o + L.CT_ODPORT, r.vport ?? 80, true);
    v.setFloat64(o + L.CT_OPKTS, r.op ?? 0, true);
    v.setFloat64(o + L.CT_OBYTES, r.ob ?? 0, true);
    v.setFloat64(o + L.CT_RPKTS, r.rp ?? 0, true);
    v.setFloat64(o + L.CT_RBYTES, r.rb ?? 0, true);
  });
}

interface Applied { status: number; actions: { rec: number; kind: number; mark: number }[]; fed: number; matched: number }

function apply(d: Director, recs: Rec[], now = 10): Applied {
  write(d, recs);
  const core = coreOf(d);
  const status = core.x.ctApply(recs.length, now, SETTLED, YOUNG);
  const v = core.view();
  const actions = [];
  for (let a = 0; a < Math.max(0, status); a++) {
    const p = core.base + L.REGION_LIST + a * L.CT_ACT_SIZE;
    actions.push({ rec: v.getUint32(p + L.CT_ACT_REC, true), kind: v.getUint32(p + L.CT_ACT_KIND, true), mark: v.getUint32(p + L.CT_ACT_MARK, true) });
  }
  return { status, actions, fed: v.getFloat64(core.base + L.REGION_SPEC + L.CT_SUM_FED, true), matched: v.getUint32(core.base + L.REGION_SPEC + L.CT_SUM_MATCHED, true) };
}

const syn = (cport: number) => v4({ src: CLIENT, dst: VIP }, { proto: 'tcp', sport: cport, dport: 80, flags: SYN, payload: [] });
const key = { protocol: 'tcp' as const, address: VIP, port: 80 };
const stateOf = (d: Director, cport: number) => d.connections().find((c) => c.client.port === cport)?.state;
const counts = (d: Director) => {
  const s = d.service(key).stats;
  return [s.inpkts, s.inbytes, s.outpkts, s.outbytes];
};

describe('ctApply', () => {
  it('hands each record\'s counters to the real server, its service and the total, and moves the connection through conntrack\'s TCP states', async () => {
    const d = await gateway({ vip: VIP, port: 80, rport: 8080, dests: [RS1] });
    burst(d, [syn(40000)]);
    expect(stateOf(d, 40000)).toBe('SYN_RECV');
    const before = counts(d);
    const est = apply(d, [{ state: ESTABLISHED, op: 3, ob: 180, rp: 2, rb: 120 }]);
    expect(est).toMatchObject({ status: 0, fed: 5, matched: 1 });
    expect(stateOf(d, 40000)).toBe('ESTABLISHED');
    expect(counts(d)).toEqual([before[0] + 3, before[1] + 180, before[2] + 2, before[3] + 120]);
    expect(d.totals().stats).toMatchObject({ inpkts: before[0] + 3, outpkts: before[2] + 2 });
    // The client's FIN first (CLOSE_INIT on the original side), then the real server's: TIME_WAIT.
    const closed = apply(d, [{ kind: L.CT_KIND_DESTROY, state: TIME_WAIT, close: 1, op: 2, ob: 104, rp: 2, rb: 104 }]);
    expect(closed).toMatchObject({ status: 0, fed: 4, matched: 1 });
    expect(stateOf(d, 40000)).toBe('TIME_WAIT');
    expect(counts(d)).toEqual([before[0] + 5, before[1] + 284, before[2] + 4, before[3] + 224]);
  });

  it('the first FIN by the side conntrack says sent it: the real server\'s alone gives FIN_WAIT, a reset CLOSE', async () => {
    const d = await gateway({ vip: VIP, port: 80, rport: 8080, dests: [RS1] });
    burst(d, [syn(40001), syn(40002)]);
    apply(d, [{ cport: 40001, state: FIN_WAIT, close: 2, op: 1, ob: 52 }, { cport: 40002, state: CLOSE, op: 1, ob: 40 }]);
    // IPVS's FIN_WAIT is the director having seen the real server's FIN (OUTPUT fin from ESTABLISHED).
    expect(stateOf(d, 40001)).toBe('FIN_WAIT');
    expect(stateOf(d, 40002)).toBe('CLOSE');
  });

  it('asks the host to delete an entry the table has no connection for, to settle a closed one and to promote a young one', async () => {
    const d = await gateway({ vip: VIP, port: 80, rport: 8080, dests: [RS1] });
    burst(d, [syn(40010), syn(40011)]);
    const young = (MARK | 0x20000000) >>> 0;
    const r = apply(d, [
      { cport: 49999, state: ESTABLISHED, op: 1 }, // no connection: delete
      { cport: 49998, kind: L.CT_KIND_DESTROY, state: TIME_WAIT, op: 1 }, // no connection, already gone: nothing
      { cport: 40010, state: TIME_WAIT, close: 1, mark: young, op: 4, ob: 200, rp: 3, rb: 150 }, // closed: settled, young bit off
      { cport: 40011, state: ESTABLISHED, mark: young, op: 1, ob: 52 }, // young, listed: promoted
    ]);
    expect(r.status).toBe(3);
    expect(r.matched).toBe(2);
    expect(r.actions).toEqual([
      { rec: 0, kind: L.CT_ACT_REMOVE, mark: 0 },
      { rec: 2, kind: L.CT_ACT_SETTLE, mark: (MARK | SETTLED) >>> 0 },
      { rec: 3, kind: L.CT_ACT_PROMOTE, mark: MARK },
    ]);
    // A settled entry is not settled again, and its destroy event with nothing new is passed over.
    const again = apply(d, [
      { cport: 40010, state: TIME_WAIT, close: 1, mark: (MARK | SETTLED) >>> 0 },
      { cport: 40010, kind: L.CT_KIND_DESTROY, state: TIME_WAIT, close: 1, mark: (MARK | SETTLED) >>> 0 },
    ]);
    expect(again).toMatchObject({ status: 0, matched: 1, fed: 0 });
  });

  it('a UDP flow that moved refreshes its timer; one that did not keeps it', async () => {
    const d = await gateway({ protocol: 'udp', vip: VIP, port: 53, dests: [RS1] });
    burst(d, [v4({ src: CLIENT, dst: VIP }, { proto: 'udp', sport: 40020, dport: 53, payload: [1, 2] })], { now: 10 });
    const expires = () => d.connections(20).find((c) => c.client.port === 40020)!.expires;
    const left = expires();
    apply(d, [{ proto: 17, cport: 40020, vport: 53, op: 0 }], 20);
    expect(expires()).toBe(left);
    apply(d, [{ proto: 17, cport: 40020, vport: 53, op: 1, ob: 30 }], 20);
    expect(expires()).toBeGreaterThan(left);
  });

  it('IPv6 records meet IPv6 connections', async () => {
    const d = await gateway({ vip: VIP6, port: 80, rport: 8080, dests: [RS6] });
    burst(d, [v6({ src: CLIENT6, dst: VIP6 }, { proto: 'tcp', sport: 40030, dport: 80, flags: SYN, payload: [] })]);
    const r = apply(d, [{ client: CLIENT6, vip: VIP6, cport: 40030, state: ESTABLISHED, op: 2, ob: 150, rp: 1, rb: 80 }]);
    expect(r).toMatchObject({ status: 0, matched: 1, fed: 3 });
    expect(d.connections().find((c) => c.client.port === 40030)?.state).toBe('ESTABLISHED');
  });

  it('counts nothing for a real server that is gone, and refuses a batch too large or mark bits that overlap', async () => {
    const d = await gateway({ vip: VIP, port: 80, rport: 8080, dests: [RS1, '198.18.1.2'] });
    burst(d, [syn(40040)]);
    const dest = d.connections().find((c) => c.client.port === 40040)!.dest.address;
    d.deleteDest(key, { address: dest, port: 8080 });
    const before = d.totals().stats.inpkts;
    expect(before).toBeGreaterThan(0);
    const r = apply(d, [{ cport: 40040, state: ESTABLISHED, op: 7, ob: 700 }]);
    expect(r.status).toBe(0);
    expect(d.totals().stats.inpkts).toBe(before);
    const core = coreOf(d);
    expect(core.x.ctApply(L.CT_MAX + 1, 10, SETTLED, YOUNG)).toBe(S.E_BATCH);
    expect(core.x.ctApply(1, 10, SETTLED, SETTLED)).toBe(S.E_INVAL);
  });
});
