// gwStaleSyns: before a burst, how many of its records are a TCP SYN that meets a live connection entry
// no new connection may take over (§2.12: not TIME_WAIT or CLOSE). The gateway's fast path learns a
// flow's end from conntrack after the fact, so on such a SYN it reads the pending destroy events before
// gwBurst decides it (hosts/gateway/gateway.ts eventsFirst). It reads only: nothing in the table moves.
import { describe, expect, it } from 'vitest';
import { status as S, counters as C } from '../../sdk/core/abi.gen.js';
import type { Director } from '../../sdk/index.js';
import { coreOf } from '../../sdk/core/index.js';
import { v4, v6 } from './build.js';
import { STRIDE, burst, records, gateway, type BurstOptions } from './burst.js';

const VIP = '198.18.0.1', CLIENT = '198.18.9.9', RS1 = '198.18.1.1', RS2 = '198.18.1.2';
const SYN = 0x02, ACK = 0x10, RST = 0x04;
const tcp = (sport: number, flags: number, src = CLIENT) => v4({ src, dst: VIP }, { proto: 'tcp', sport, dport: 80, flags, payload: [] });

function stale(d: Director, pkts: Uint8Array[], o: BurstOptions = {}): number {
  records(d, pkts, o);
  return coreOf(d).x.gwStaleSyns(pkts.length, o.stride ?? STRIDE);
}

const snapshot = (d: Director) => [C.CNT_GW_PACKETS, C.CNT_CONN_REUSED, C.CNT_DROP_NODEST, C.CNT_PKT_MALFORMED_IP, C.CNT_PKT_TRUNC_L4].map((i) => d.counter(i));

describe('gwStaleSyns', () => {
  it('counts a SYN on a live SYN_RECV entry (a retransmission, or a reused port), not a new one, a non-SYN or a SYN-ACK', async () => {
    const d = await gateway({ vip: VIP, port: 80, rport: 8080, dests: [RS1, RS2] });
    expect(stale(d, [tcp(40000, SYN)])).toBe(0); // no entry yet
    const [first] = burst(d, [tcp(40000, SYN)]);
    expect(first.natIn).toBe(true);
    expect(stale(d, [tcp(40000, SYN)])).toBe(1);
    expect(stale(d, [tcp(40000, SYN | ACK), tcp(40000, ACK), tcp(40001, SYN), tcp(40000, SYN, '198.18.9.8')])).toBe(0);
    expect(stale(d, [tcp(40001, SYN), tcp(40000, SYN), tcp(40000, SYN)])).toBe(2);
    // UDP on the same ports is not a SYN.
    expect(stale(d, [v4({ src: CLIENT, dst: VIP }, { proto: 'udp', sport: 40000, dport: 80, payload: [1] })])).toBe(0);
  });

  it('reads only: no counter, entry or scheduler moves', async () => {
    const d = await gateway({ vip: VIP, port: 80, rport: 8080, dests: [RS1, RS2] });
    burst(d, [tcp(40000, SYN)]);
    const before = snapshot(d);
    const conns = d.connections().length;
    for (let i = 0; i < 5; i++) expect(stale(d, [tcp(40000, SYN), tcp(40010 + i, SYN), Uint8Array.of(0x45, 0, 0)])).toBe(1);
    expect(snapshot(d)).toEqual(before);
    expect(d.connections().length).toBe(conns);
    // Round-robin did not move either: the next new connection goes to the other real server.
    const [a] = burst(d, [tcp(40100, SYN)]);
    const [b] = burst(d, [tcp(40101, SYN)]);
    expect(a.dest).not.toBe(b.dest);
  });

  it('an ESTABLISHED entry is counted; a CLOSE one (after a reset) may be taken over: not counted', async () => {
    const d = await gateway({ vip: VIP, port: 80, rport: 8080, dests: [RS1] });
    burst(d, [tcp(40000, SYN)]);
    burst(d, [tcp(40000, ACK)]);
    expect(d.connections().find((c) => c.client.port === 40000)?.state).toBe('ESTABLISHED');
    expect(stale(d, [tcp(40000, SYN)])).toBe(1);
    burst(d, [tcp(40000, RST | ACK)]);
    expect(d.connections().find((c) => c.client.port === 40000)?.state).toBe('CLOSE');
    expect(stale(d, [tcp(40000, SYN)])).toBe(0);
  });

  it('IPv6 without extension headers; a truncated record is not read', async () => {
    const d = await gateway({ vip: '2001:2::1', port: 80, rport: 8080, dests: ['2001:2::10'] });
    const syn6 = (hopByHop = false) => v6({ src: '2001:2::9', dst: '2001:2::1', hopByHop }, { proto: 'tcp', sport: 40000, dport: 80, flags: SYN, payload: [] });
    burst(d, [syn6()]);
    expect(stale(d, [syn6()])).toBe(1);
    expect(stale(d, [syn6(true)])).toBe(0); // decided by gwBurst as before
    expect(stale(d, [syn6()], { recFlags: 1 })).toBe(0); // GW_RF_TRUNCATED
  });

  it('counts NAT entries only: a DR one is decided as before, with nothing to read first', async () => {
    const d = await gateway({ vip: VIP, port: 80, dests: [RS1], method: 'route' });
    burst(d, [tcp(40000, SYN)]);
    expect(d.connections()).toHaveLength(1);
    expect(stale(d, [tcp(40000, SYN)])).toBe(0);
  });

  it('refuses a stride or a packed layout gwBurst would refuse', async () => {
    const d = await gateway({ vip: VIP, port: 80, rport: 8080, dests: [RS1] });
    const x = coreOf(d).x;
    expect(x.gwStaleSyns(1, 2047)).toBe(S.E_INVAL);
    expect(x.gwStaleSyns(1, 8)).toBe(S.E_INVAL);
    expect(x.gwStaleSyns(1 << 20, STRIDE)).toBe(S.E_BATCH);
  });
});
