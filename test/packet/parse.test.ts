// Malformed and unusual packets: each gets a verdict and a counter, never a
// trap; well-formed ones produce the flow record the scheduler reads.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { layout as L, counters as C } from '../../sdk/src/core/abi.gen.js';
import { Harness } from './harness.js';
import { v4, v6, ipv4, csum, checksumsOk } from './build.js';

const VIP = '198.18.0.1', CLIENT = '198.18.9.9';
const tcp = v4({ src: CLIENT, dst: VIP }, { proto: 'tcp', sport: 40000, dport: 80, flags: 0x02, payload: [1, 2, 3] });
const udp = v4({ src: CLIENT, dst: VIP }, { proto: 'udp', sport: 5353, dport: 53, payload: [1, 2, 3] });
const tcp6 = v6({ src: '2001:db8:9::9', dst: '2001:db8::1', hopByHop: true }, { proto: 'tcp', sport: 40000, dport: 443 });

/** Copy of p with bytes changed; `fixIp` recomputes the IPv4 header checksum. */
function patch(p: Uint8Array, at: Record<number, number>, fixIp = true, cut?: number): Uint8Array {
  const q = p.slice(0, cut ?? p.length);
  for (const [i, b] of Object.entries(at)) q[Number(i)] = b;
  if (fixIp && (q[0] >> 4) === 4 && q.length >= 20) {
    const ihl = Math.min((q[0] & 15) * 4, q.length);
    q[10] = q[11] = 0;
    const c = csum(q.subarray(0, ihl));
    q[10] = c >> 8;
    q[11] = c & 255;
  }
  return q;
}

type Counter = keyof typeof C;
const malformed: Array<[string, Uint8Array, number, Counter]> = [
  ['one byte', tcp.slice(0, 1), L.PKT_DROP, 'CNT_PKT_MALFORMED_IP'],
  ['IP version 5', patch(tcp, { 0: 0x55 }), L.PKT_DROP, 'CNT_PKT_MALFORMED_IP'],
  ['IPv4 header cut at 19 bytes', tcp.slice(0, 19), L.PKT_DROP, 'CNT_PKT_MALFORMED_IP'],
  ['bad IHL 4', patch(tcp, { 0: 0x44 }), L.PKT_DROP, 'CNT_PKT_MALFORMED_IP'],
  ['IHL 15 beyond the bytes present', patch(tcp, { 0: 0x4f }, true, 40), L.PKT_DROP, 'CNT_PKT_MALFORMED_IP'],
  ['total length beyond the bytes present', patch(tcp, { 3: tcp.length + 1 }), L.PKT_DROP, 'CNT_PKT_MALFORMED_IP'],
  ['total length below the header', patch(tcp, { 3: 19 }), L.PKT_DROP, 'CNT_PKT_MALFORMED_IP'],
  ['bad IPv4 header checksum', patch(tcp, { 11: tcp[11] ^ 0xff }, false), L.PKT_DROP, 'CNT_PKT_BAD_CSUM'],
  ['TCP header truncated (10 bytes)', patch(tcp, { 3: 30 }, true, 30), L.PKT_DROP, 'CNT_PKT_TRUNC_L4'],
  ['TCP data offset 4', patch(tcp, { 32: 0x40 }), L.PKT_DROP, 'CNT_PKT_TRUNC_L4'],
  ['TCP data offset past the segment', patch(tcp, { 32: 0xf0 }), L.PKT_DROP, 'CNT_PKT_TRUNC_L4'],
  ['UDP header truncated (4 bytes)', patch(udp, { 3: 24 }, true, 24), L.PKT_DROP, 'CNT_PKT_TRUNC_L4'],
  ['UDP length 7', patch(udp, { 25: 7 }), L.PKT_DROP, 'CNT_PKT_TRUNC_L4'],
  ['UDP length past the datagram', patch(udp, { 25: 12 }), L.PKT_DROP, 'CNT_PKT_TRUNC_L4'],
  ['IPv4 first fragment (MF)', patch(tcp, { 6: 0x20 }), L.PKT_DROP, 'CNT_PKT_FRAGMENT'],
  ['IPv4 later fragment (offset)', patch(tcp, { 7: 0x10 }), L.PKT_DROP, 'CNT_PKT_FRAGMENT'],
  ['IPv6 header cut at 39 bytes', tcp6.slice(0, 39), L.PKT_DROP, 'CNT_PKT_MALFORMED_IP'],
  ['IPv6 payload length beyond the bytes present', patch(tcp6, { 5: tcp6[5] + 1 }), L.PKT_DROP, 'CNT_PKT_MALFORMED_IP'],
  ['IPv6 extension header past the payload', patch(tcp6, { 41: 200 }), L.PKT_DROP, 'CNT_PKT_MALFORMED_IP'],
  ['IPv6 fragment header', patch(tcp6, { 6: 44 }), L.PKT_DROP, 'CNT_PKT_FRAGMENT'],
  ['ICMP echo: valid, not balanced', ipv4({ src: CLIENT, dst: VIP }, [8, 0, 0xf7, 0xff, 0, 0, 0, 0], 1), L.PKT_PASS, 'CNT_PKT_NOT_BALANCED'],
];

describe('pktParse: malformed input gets a verdict and a counter', () => {
  it.each(malformed)('%s', async (_d, bytes, verdict, counter) => {
    const h = await Harness.create();
    expect(h.parse(bytes).verdict).toBe(verdict);
    expect(h.counter(counter)).toBe(1);
    // every other rewrite refuses it the same way and leaves the bytes alone
    h.decision(0, '198.18.1.1', 80);
    expect(h.nat(bytes, L.PKT_DIR_IN).verdict).toBe(verdict);
    expect(h.tunnel(bytes, '198.18.1.254', 1500).verdict).toBe(verdict);
    expect([...h.read(0, bytes.length)]).toEqual([...bytes]);
  });

  it('rejects offsets outside the packet region', async () => {
    const h = await Harness.create();
    expect(h.x.pktParse(L.REGION_PACKETS_SIZE - 10, 20, 0, 0)).toBe(-5);
    expect(h.x.pktParse(0, 0, 0, 0)).toBe(-5);
    expect(h.x.pktParse(0, 40, L.MAX_BATCH, 0)).toBe(-5);
    expect(h.x.pktTunnel(0, 100, 99, 0, 1, 1500, 0)).toBe(-5);
  });
});

describe('pktParse: flow record', () => {
  it('IPv4 TCP SYN', async () => {
    const h = await Harness.create();
    const f = h.flow(0);
    for (let i = 0; i < L.FLOW_SIZE; i++) f.setUint8(i, 0xff); // stale record: every unset byte must be cleared
    expect(h.parse(tcp, 7).verdict).toBe(L.PKT_CONTINUE);
    expect(f.getUint8(3)).toBe(0); // direction byte: client -> director
    expect([f.getUint8(L.FLOW_AF), f.getUint8(L.FLOW_PROTO), f.getUint8(L.FLOW_TCPFLAGS), f.getUint32(L.FLOW_FWMARK, true)]).toEqual([4, 6, 2, 7]);
    expect(f.getUint32(L.FLOW_CADDR, true)).toBe(0xc6120909);
    expect(f.getUint32(L.FLOW_VADDR, true)).toBe(0xc6120001);
    expect([f.getUint16(L.FLOW_CPORT, true), f.getUint16(L.FLOW_VPORT, true), f.getUint32(L.FLOW_LEN, true)]).toEqual([40000, 80, tcp.length]);
  });

  it('IPv6 TCP behind a hop-by-hop header', async () => {
    const h = await Harness.create();
    expect(h.parse(tcp6).verdict).toBe(L.PKT_CONTINUE);
    const f = h.flow(0);
    expect([f.getUint8(L.FLOW_AF), f.getUint8(L.FLOW_PROTO), f.getUint16(L.FLOW_VPORT, true)]).toEqual([6, 6, 443]);
    expect(f.getUint32(L.FLOW_VADDR, true)).toBe(0x20010db8);
    expect(f.getUint32(L.FLOW_VADDR + 12, true)).toBe(1);
  });

  it('trailing link-layer padding is ignored', async () => {
    const h = await Harness.create();
    const padded = Uint8Array.from([...udp, 0, 0, 0, 0]);
    expect(h.parse(padded).verdict).toBe(L.PKT_CONTINUE);
    expect(h.flow(0).getUint32(L.FLOW_LEN, true)).toBe(udp.length);
  });
});

describe('packet path properties', () => {
  it('arbitrary bytes never trap and never pass as balanced traffic unless they parse', async () => {
    const h = await Harness.create();
    h.decision(0, '198.18.1.1', 80);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 120 }), fc.constantFrom(4, 6), (bytes, v) => {
        bytes[0] = (v << 4) | (bytes[0] & 15);
        const verdicts = [h.parse(bytes).verdict, h.nat(bytes, L.PKT_DIR_IN, L.PKT_F_DEC_TTL).verdict, h.tunnel(bytes, '198.18.1.254', 576).verdict];
        for (const r of verdicts) expect([L.PKT_CONTINUE, L.PKT_PASS, L.PKT_FORWARD, L.PKT_DROP, L.PKT_ICMP]).toContain(r);
      }),
      { numRuns: 2000, seed: 42 },
    );
  });

  it('NAT of any valid TCP/UDP packet keeps every checksum valid', async () => {
    const h = await Harness.create();
    const ip4 = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 })).map(([a, b]) => `198.18.${a}.${b}`);
    const port = fc.integer({ min: 0, max: 65535 });
    fc.assert(
      fc.property(ip4, ip4, ip4, port, port, port, fc.boolean(), fc.boolean(), fc.uint8Array({ maxLength: 64 }), (s, d, to, sp, dp, tp, isTcp, dir, pl) => {
        const p = v4({ src: s, dst: d, ttl: 9 }, { proto: isTcp ? 'tcp' : 'udp', sport: sp, dport: dp, payload: [...pl] });
        h.decision(0, to, tp);
        const r = h.nat(p, dir ? L.PKT_DIR_IN : L.PKT_DIR_OUT, L.PKT_F_DEC_TTL);
        expect(r.verdict).toBe(L.PKT_FORWARD);
        expect(checksumsOk(r.out)).toBe(true);
      }),
      { numRuns: 1000, seed: 7 },
    );
  });
});
