// TUN (IPIP) fixtures, reference §3.3: outer IPv4 header, protocol 4, DF
// copied, TTL = inner TTL, fresh id, checksum; frag-needed when DF and the
// packet does not fit the route MTU minus the outer header.
import { describe, expect, it } from 'vitest';
import { layout as L } from '../../sdk/src/core/abi.gen.js';
import { Harness } from './harness.js';
import { v4, v6, ipv4, csum, checksumsOk, addr } from './build.js';

const VIP = '198.18.0.1', RS = '198.18.1.1', CLIENT = '198.18.9.9', DIRECTOR = '198.18.1.254';
const SEED = 0x1000; // first IP id the core hands out is SEED + 1
const payload = (n: number) => Array.from({ length: n }, (_, i) => (i * 7) & 255);

function outer(inner: Uint8Array, o: { tos?: number; df: boolean; ttl: number; id: number }): Uint8Array {
  return ipv4({ src: DIRECTOR, dst: RS, tos: o.tos, df: o.df, ttl: o.ttl, id: o.id }, [...inner], 4);
}

describe('pktTunnel fixtures', () => {
  const cases = [
    { desc: 'DF TCP segment: wrapped, DF copied, TTL = inner TTL', ip: { src: CLIENT, dst: VIP, ttl: 64, tos: 0x10 }, outerTos: 0x10, flags: 0, ttlOut: 64 },
    { desc: 'inner TTL decremented first, outer TTL follows', ip: { src: CLIENT, dst: VIP, ttl: 30 }, outerTos: 0, flags: L.PKT_F_DEC_TTL, ttlOut: 29 },
    { desc: 'ECN CE inside becomes ECT(0) outside', ip: { src: CLIENT, dst: VIP, tos: 0xb8 | 3 }, outerTos: 0xb8 | 2, flags: 0, ttlOut: 64 },
    { desc: 'no DF inside: outer without DF', ip: { src: CLIENT, dst: VIP, df: false }, outerTos: 0, flags: 0, ttlOut: 64 },
  ];
  for (const c of cases) {
    it(c.desc, async () => {
      const h = await Harness.create(SEED);
      h.decision(0, RS, 80);
      const l4 = { proto: 'tcp' as const, sport: 40000, dport: 80, payload: payload(33) };
      const input = v4(c.ip, l4);
      const inner = v4({ ...c.ip, ttl: c.ttlOut }, l4);
      const r = h.tunnel(input, DIRECTOR, 1500, c.flags);
      expect(r.verdict).toBe(L.PKT_FORWARD);
      expect([...r.out]).toEqual([...outer(inner, { tos: c.outerTos, df: c.ip.df !== false, ttl: c.ttlOut, id: SEED + 1 })]);
      expect(checksumsOk(r.out.subarray(20))).toBe(true);
    });
  }

  it('a partial inner checksum is completed before wrapping', async () => {
    const h = await Harness.create(SEED);
    h.decision(0, RS, 80);
    const l4 = { proto: 'udp' as const, sport: 1, dport: 53, payload: payload(9) };
    const r = h.tunnel(v4({ src: CLIENT, dst: VIP }, { ...l4, csum: 'partial' }), DIRECTOR, 1500, L.PKT_F_CSUM_PARTIAL);
    expect([...r.out]).toEqual([...outer(v4({ src: CLIENT, dst: VIP }, l4), { df: true, ttl: 64, id: SEED + 1 })]);
  });

  it('ids are fresh per tunneled packet', async () => {
    const h = await Harness.create(SEED);
    h.decision(0, RS, 80);
    const p = v4({ src: CLIENT, dst: VIP }, { proto: 'udp', sport: 1, dport: 53 });
    const ids = [0, 1, 2].map(() => { const o = h.tunnel(p, DIRECTOR, 1500).out; return (o[4] << 8) | o[5]; });
    expect(ids).toEqual([SEED + 1, SEED + 2, SEED + 3]);
  });

  it('exactly fitting packet is tunneled; one byte more with DF gives ICMP frag-needed (MTU - 20)', async () => {
    const h = await Harness.create(SEED);
    h.decision(0, RS, 80);
    const fits = v4({ src: CLIENT, dst: VIP }, { proto: 'udp', sport: 1, dport: 53, payload: payload(1500 - 20 - 20 - 8) });
    expect(fits.length).toBe(1480);
    expect(h.tunnel(fits, DIRECTOR, 1500).verdict).toBe(L.PKT_FORWARD);
    const big = v4({ src: CLIENT, dst: VIP, ttl: 50 }, { proto: 'udp', sport: 1, dport: 53, payload: payload(1500 - 20 - 20 - 8 + 1) });
    const r = h.tunnel(big, DIRECTOR, 1500, L.PKT_F_DEC_TTL);
    expect(r.verdict).toBe(L.PKT_ICMP);
    expect(h.counter('CNT_PKT_FRAG_NEEDED')).toBe(1);
    // ICMP from the VIP to the client, quoting the original (TTL untouched) up to 576 bytes.
    const quoted = [...big.subarray(0, 576 - 28)];
    const icmp = [3, 4, 0, 0, 0, 0, 1480 >> 8, 1480 & 255, ...quoted];
    const c = csum(icmp);
    icmp[2] = c >> 8;
    icmp[3] = c & 255;
    const expected = ipv4({ src: VIP, dst: CLIENT, tos: 0xc0, df: false, ttl: 64, id: SEED + 2 }, icmp, 1);
    expect([...r.out]).toEqual([...expected]);
  });

  it('too big without DF, or GSO, is tunneled (the kernel fragments / segments)', async () => {
    const h = await Harness.create(SEED);
    h.decision(0, RS, 80);
    const noDf = v4({ src: CLIENT, dst: VIP, df: false }, { proto: 'udp', sport: 1, dport: 53, payload: payload(1600) });
    expect(h.tunnel(noDf, DIRECTOR, 1500).verdict).toBe(L.PKT_FORWARD);
    const gso = v4({ src: CLIENT, dst: VIP }, { proto: 'tcp', sport: 1, dport: 80, payload: payload(3000) });
    const r = h.tunnel(gso, DIRECTOR, 1500, L.PKT_F_GSO);
    expect(r.verdict).toBe(L.PKT_FORWARD);
    expect(r.out.length).toBe(gso.length + 20);
    expect([...r.out.subarray(16, 20)]).toEqual(addr(RS));
  });

  it('no room in the slot: dropped and counted, never written past cap', async () => {
    const h = await Harness.create(SEED);
    h.decision(0, RS, 80);
    const p = v4({ src: CLIENT, dst: VIP }, { proto: 'udp', sport: 1, dport: 53, payload: payload(100) });
    h.load(new Uint8Array(200).fill(0xee), 0);
    expect(h.tunnel(p, DIRECTOR, 1500, 0, p.length + 19).verdict).toBe(L.PKT_DROP);
    expect(h.counter('CNT_PKT_NO_ROOM')).toBe(1);
    expect(h.read(p.length, 20).every((b) => b === 0xee)).toBe(true);
  });

  it('IPv6 inner or real server is not tunneled yet: dropped and counted', async () => {
    const h = await Harness.create(SEED);
    h.decision(0, '2001:db8::2', 80);
    expect(h.tunnel(v4({ src: CLIENT, dst: VIP }, { proto: 'tcp', sport: 1, dport: 80 }), DIRECTOR, 1500).verdict).toBe(L.PKT_DROP);
    h.decision(0, RS, 80);
    expect(h.tunnel(v6({ src: '2001:db8::9', dst: '2001:db8::1' }, { proto: 'tcp', sport: 1, dport: 80 }), DIRECTOR, 1500).verdict).toBe(L.PKT_DROP);
    expect(h.counter('CNT_PKT_UNSUPPORTED')).toBe(2);
  });
});
