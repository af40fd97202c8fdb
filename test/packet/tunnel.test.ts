// TUN (IPIP) fixtures through gwBurst, reference §3.3: outer IPv4 header,
// protocol 4, DF copied, TTL = inner TTL, fresh id, checksum; frag-needed
// when DF and the packet does not fit the route MTU minus the outer header.
// The burst decrements the inner TTL (IPVS's own decrement before
// ip_vs_tunnel_xmit); the kernel's forwarding then decrements the outer one.
import { describe, expect, it } from 'vitest';
import { layout as L } from '../../sdk/core/abi.gen.js';
import { v4, v6, ipv4, csum, checksumsOk, addr, type Ip } from './build.js';
import { ACCEPT, DROP, counter, gateway, one, burst } from './burst.js';
import { coreOf } from '../../sdk/core/index.js';

const VIP = '198.18.0.1', RS = '198.18.1.1', CLIENT = '198.18.9.9', DIRECTOR = '198.18.1.254';
const SEED = 0x1000; // first IP id the core hands out is SEED + 1
const payload = (n: number) => Array.from({ length: n }, (_, i) => (i * 7) & 255);

function outer(inner: Uint8Array, o: { tos?: number; df: boolean; ttl: number; id: number }): Uint8Array {
  return ipv4({ src: DIRECTOR, dst: RS, tos: o.tos, df: o.df, ttl: o.ttl, id: o.id }, [...inner], 4);
}

/** A director with one tunnel real server RS behind VIP:port, tunnel source DIRECTOR, route MTU `mtu`. */
const tunnel = (protocol: 'tcp' | 'udp', port: number, mtu = 1500) =>
  gateway({ seed: SEED, protocol, vip: VIP, port, dests: [RS], method: 'tunnel', tunSrc: DIRECTOR, mtu });

describe('gwBurst TUN fixtures', () => {
  const cases: Array<{ desc: string; ip: Ip; outerTos: number; ttlOut: number }> = [
    { desc: 'DF TCP segment: wrapped, DF copied, TTL = inner TTL after the decrement', ip: { src: CLIENT, dst: VIP, ttl: 64, tos: 0x10 }, outerTos: 0x10, ttlOut: 63 },
    { desc: 'inner TTL decremented first, outer TTL follows', ip: { src: CLIENT, dst: VIP, ttl: 30 }, outerTos: 0, ttlOut: 29 },
    { desc: 'ECN CE inside becomes ECT(0) outside', ip: { src: CLIENT, dst: VIP, tos: 0xb8 | 3 }, outerTos: 0xb8 | 2, ttlOut: 63 },
    { desc: 'no DF inside: outer without DF', ip: { src: CLIENT, dst: VIP, df: false }, outerTos: 0, ttlOut: 63 },
  ];
  for (const c of cases) {
    it(c.desc, async () => {
      const d = await tunnel('tcp', 80);
      const l4 = { proto: 'tcp' as const, sport: 40000, dport: 80, payload: payload(33) };
      const inner = v4({ ...c.ip, ttl: c.ttlOut }, l4);
      const v = one(d, v4(c.ip, l4));
      expect(v).toMatchObject({ verdict: ACCEPT, flags: L.GW_VF_PAYLOAD });
      expect([...v.out]).toEqual([...outer(inner, { tos: c.outerTos, df: c.ip.df !== false, ttl: c.ttlOut, id: SEED + 1 })]);
      expect(checksumsOk(v.out.subarray(20))).toBe(true);
    });
  }

  it('a partial inner checksum is completed before wrapping', async () => {
    const d = await tunnel('udp', 53);
    const l4 = { proto: 'udp' as const, sport: 1, dport: 53, payload: payload(9) };
    const v = one(d, v4({ src: CLIENT, dst: VIP }, { ...l4, csum: 'partial' }), { recFlags: L.GW_RF_CSUM_PARTIAL });
    expect([...v.out]).toEqual([...outer(v4({ src: CLIENT, dst: VIP, ttl: 63 }, l4), { df: true, ttl: 63, id: SEED + 1 })]);
  });

  it('ids are fresh per tunneled packet', async () => {
    const d = await tunnel('udp', 53);
    const p = v4({ src: CLIENT, dst: VIP }, { proto: 'udp', sport: 1, dport: 53 });
    const ids = [0, 1, 2].map(() => { const o = one(d, p).out; return (o[4] << 8) | o[5]; });
    expect(ids).toEqual([SEED + 1, SEED + 2, SEED + 3]);
  });

  it('exactly fitting packet is tunneled; one byte more with DF gives ICMP frag-needed (MTU - 20)', async () => {
    const d = await tunnel('udp', 53);
    const fits = v4({ src: CLIENT, dst: VIP }, { proto: 'udp', sport: 1, dport: 53, payload: payload(1500 - 20 - 20 - 8) });
    expect(fits.length).toBe(1480);
    const ok = one(d, fits);
    expect(ok.flags).toBe(L.GW_VF_PAYLOAD);
    expect(ok.out.length).toBe(1500);
    const big = v4({ src: CLIENT, dst: VIP, ttl: 50 }, { proto: 'udp', sport: 1, dport: 53, payload: payload(1500 - 20 - 20 - 8 + 1) });
    const v = one(d, big);
    expect(v).toMatchObject({ verdict: ACCEPT, flags: L.GW_VF_PAYLOAD });
    expect(counter(d, 'CNT_PKT_FRAG_NEEDED')).toBe(1);
    expect(counter(d, 'CNT_GW_ICMP_SENT')).toBe(1);
    // ICMP from the VIP to the client, quoting the original (TTL untouched) up to 576 bytes.
    const quoted = [...big.subarray(0, 576 - 28)];
    const icmp = [3, 4, 0, 0, 0, 0, 1480 >> 8, 1480 & 255, ...quoted];
    const c = csum(icmp);
    icmp[2] = c >> 8;
    icmp[3] = c & 255;
    const expected = ipv4({ src: VIP, dst: CLIENT, tos: 0xc0, df: false, ttl: 64, id: SEED + 2 }, icmp, 1);
    expect([...v.out]).toEqual([...expected]);
  });

  it('too big without DF is tunneled (the kernel fragments); a GSO super-packet is refused (the host segments first)', async () => {
    const d = await tunnel('tcp', 80);
    const noDf = v4({ src: CLIENT, dst: VIP, df: false }, { proto: 'tcp', sport: 1, dport: 80, payload: payload(1600) });
    const v = one(d, noDf);
    expect(v.flags).toBe(L.GW_VF_PAYLOAD);
    expect(v.out.length).toBe(noDf.length + 20);
    expect([...v.out.subarray(16, 20)]).toEqual(addr(RS));
    const gso = v4({ src: CLIENT, dst: VIP }, { proto: 'tcp', sport: 2, dport: 80, payload: payload(1600) });
    expect(one(d, gso, { recFlags: L.GW_RF_GSO }).verdict).toBe(DROP);
    expect(counter(d, 'CNT_PKT_UNSUPPORTED')).toBe(1);
  });

  it('no room in the record: dropped and counted, never written past its room', async () => {
    const d = await tunnel('udp', 53);
    const p = v4({ src: CLIENT, dst: VIP }, { proto: 'udp', sport: 1, dport: 53, payload: payload(100) });
    const room = p.length + 16; // 20 would be needed, a multiple of 4 below it
    const stride = L.GW_REC_HEADER + room;
    const x = coreOf(d).x;
    new Uint8Array(x.memory.buffer, x.getIoBase() + L.REGION_PACKETS, 2 * stride + 20).fill(0xee);
    const [v, next] = burst(d, [p, p], { stride });
    expect(v.verdict).toBe(DROP);
    expect(next.verdict).toBe(DROP);
    expect(counter(d, 'CNT_PKT_NO_ROOM')).toBe(2);
    // Each record's room past the packet, and the bytes past the last record, stay as they were.
    const at = (off: number, n: number) => new Uint8Array(x.memory.buffer, x.getIoBase() + L.REGION_PACKETS + off, n);
    for (const off of [L.GW_REC_HEADER + p.length, stride + L.GW_REC_HEADER + p.length]) expect(at(off, 16).every((b) => b === 0xee)).toBe(true);
    expect(at(2 * stride, 20).every((b) => b === 0xee)).toBe(true);
    expect(next.id).toBe(101); // the second record's header was not overwritten by the first's packet
  });

  it('IPv6 inner or real server is not tunneled yet: dropped and counted', async () => {
    const d6 = await gateway({ seed: SEED, protocol: 'tcp', vip: VIP, port: 80, dests: ['2001:db8::2'], method: 'tunnel', tunSrc: DIRECTOR });
    expect(one(d6, v4({ src: CLIENT, dst: VIP }, { proto: 'tcp', sport: 1, dport: 80 })).verdict).toBe(DROP);
    expect(counter(d6, 'CNT_PKT_UNSUPPORTED')).toBe(1);
    const d = await gateway({ seed: SEED, protocol: 'tcp', vip: '2001:db8::1', port: 80, dests: [RS], method: 'tunnel', tunSrc: DIRECTOR });
    expect(one(d, v6({ src: '2001:db8::9', dst: '2001:db8::1' }, { proto: 'tcp', sport: 1, dport: 80 })).verdict).toBe(DROP);
    expect(counter(d, 'CNT_PKT_UNSUPPORTED')).toBe(1);
  });
});
