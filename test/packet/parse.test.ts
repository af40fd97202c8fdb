// Malformed and unusual packets through gwBurst: each gets a verdict and a
// counter, never a trap, and its bytes stay as they came; well-formed ones
// open the connection the flow describes.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { layout as L, counters as C } from '../../sdk/core/abi.gen.js';
import { v4, v6, ipv4, csum, checksumsOk } from './build.js';
import { ACCEPT, DROP, STRIDE, burst, counter, gateway, one } from './burst.js';
import { coreOf } from '../../sdk/core/index.js';

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
  ['one byte', tcp.slice(0, 1), DROP, 'CNT_PKT_MALFORMED_IP'],
  ['IP version 5', patch(tcp, { 0: 0x55 }), DROP, 'CNT_PKT_MALFORMED_IP'],
  ['IPv4 header cut at 19 bytes', tcp.slice(0, 19), DROP, 'CNT_PKT_MALFORMED_IP'],
  ['bad IHL 4', patch(tcp, { 0: 0x44 }), DROP, 'CNT_PKT_MALFORMED_IP'],
  ['IHL 15 beyond the bytes present', patch(tcp, { 0: 0x4f }, true, 40), DROP, 'CNT_PKT_MALFORMED_IP'],
  ['total length beyond the bytes present', patch(tcp, { 3: tcp.length + 1 }), DROP, 'CNT_PKT_MALFORMED_IP'],
  ['total length below the header', patch(tcp, { 3: 19 }), DROP, 'CNT_PKT_MALFORMED_IP'],
  ['bad IPv4 header checksum', patch(tcp, { 11: tcp[11] ^ 0xff }, false), DROP, 'CNT_PKT_BAD_CSUM'],
  ['TCP header truncated (10 bytes)', patch(tcp, { 3: 30 }, true, 30), DROP, 'CNT_PKT_TRUNC_L4'],
  ['TCP data offset 4', patch(tcp, { 32: 0x40 }), DROP, 'CNT_PKT_TRUNC_L4'],
  ['TCP data offset past the segment', patch(tcp, { 32: 0xf0 }), DROP, 'CNT_PKT_TRUNC_L4'],
  ['UDP header truncated (4 bytes)', patch(udp, { 3: 24 }, true, 24), DROP, 'CNT_PKT_TRUNC_L4'],
  ['UDP length 7', patch(udp, { 25: 7 }), DROP, 'CNT_PKT_TRUNC_L4'],
  ['UDP length past the datagram', patch(udp, { 25: 12 }), DROP, 'CNT_PKT_TRUNC_L4'],
  ['IPv4 first fragment (MF)', patch(tcp, { 6: 0x20 }), DROP, 'CNT_PKT_FRAGMENT'],
  ['IPv4 later fragment (offset)', patch(tcp, { 7: 0x10 }), DROP, 'CNT_PKT_FRAGMENT'],
  ['IPv6 header cut at 39 bytes', tcp6.slice(0, 39), DROP, 'CNT_PKT_MALFORMED_IP'],
  ['IPv6 payload length beyond the bytes present', patch(tcp6, { 5: tcp6[5] + 1 }), DROP, 'CNT_PKT_MALFORMED_IP'],
  ['IPv6 extension header past the payload', patch(tcp6, { 41: 200 }), DROP, 'CNT_PKT_MALFORMED_IP'],
  ['IPv6 fragment header', patch(tcp6, { 6: 44 }), DROP, 'CNT_PKT_FRAGMENT'],
  ['ICMP echo: valid, not balanced', ipv4({ src: CLIENT, dst: VIP }, [8, 0, 0xf7, 0xff, 0, 0, 0, 0], 1), ACCEPT, 'CNT_PKT_NOT_BALANCED'],
];

describe('gwBurst: malformed input gets a verdict and a counter', () => {
  it.each(malformed)('%s', async (_d, bytes, verdict, name) => {
    // NAT and tunnel directors refuse it the same way and leave the bytes alone.
    for (const method of ['masq', 'tunnel'] as const) {
      const d = await gateway({ protocol: 'tcp', vip: VIP, port: 80, dests: ['198.18.1.1'], method, tunSrc: '198.18.1.254' });
      const v = one(d, bytes);
      expect(v.verdict).toBe(verdict);
      expect(v.flags).toBe(0);
      expect(counter(d, name)).toBe(1);
      expect([...v.out]).toEqual([...bytes]);
    }
  });

  it('refuses bursts outside the packet region; a record longer than its room is dropped and counted', async () => {
    const d = await gateway({ protocol: 'tcp', vip: VIP, port: 80, dests: ['198.18.1.1'] });
    const x = coreOf(d).x;
    expect(x.gwBurst(1, L.GW_REC_HEADER + 56, 1)).toBe(-5); // room below a minimal IPv4 TCP header with options
    expect(x.gwBurst(1, STRIDE + 2, 1)).toBe(-5); // not a multiple of 4
    expect(x.gwBurst(L.REGION_PACKETS_SIZE / STRIDE + 1, STRIDE, 1)).toBeLessThan(0);
    expect(x.gwBurst(L.MAX_BATCH + 1, STRIDE, 1)).toBeLessThan(0);
    // A packed record whose length runs past the region.
    new DataView(x.memory.buffer).setUint32(x.getIoBase() + L.REGION_PACKETS + L.GW_REC_LEN, L.REGION_PACKETS_SIZE, true);
    expect(x.gwBurst(1, L.GW_STRIDE_PACKED, 1)).toBe(-5);
    // A record claiming more bytes than its stride holds.
    const [v] = burst(d, [tcp], { stride: L.GW_REC_HEADER + 64 });
    expect(v.verdict).toBe(ACCEPT);
    const dv = new DataView(x.memory.buffer);
    dv.setUint32(x.getIoBase() + L.REGION_PACKETS + L.GW_REC_LEN, 65, true);
    expect(x.gwBurst(1, L.GW_REC_HEADER + 64, 1)).toBe(1);
    expect(dv.getUint32(x.getIoBase() + L.REGION_LIST + L.GW_VER_VERDICT, true)).toBe(DROP);
    expect(counter(d, 'CNT_GW_TRUNCATED')).toBe(1);
  });
});

describe('gwBurst: the flow a packet describes', () => {
  it('IPv4 TCP SYN with a mark: a connection of the fwmark service, client and virtual side from the packet', async () => {
    const d = await gateway({ fwmark: 7, dests: ['198.18.1.1'], rport: 80 });
    expect(one(d, tcp, { mark: 7 })).toMatchObject({ verdict: ACCEPT, flags: L.GW_VF_PAYLOAD });
    const [c] = d.connections();
    expect(c).toMatchObject({ protocol: 'tcp', state: 'SYN_RECV', client: { address: CLIENT, port: 40000 }, virtual: { address: VIP, port: 80 } });
    expect(d.service({ fwmark: 7, af: 4 }).stats).toMatchObject({ conns: 1, inpkts: 1, inbytes: tcp.length });
    // Without the mark the same packet belongs to no service.
    const other = await gateway({ fwmark: 7, dests: ['198.18.1.1'], rport: 80 });
    expect(one(other, tcp).flags).toBe(0);
    expect(other.connectionCount()).toBe(0);
  });

  it('IPv6 TCP behind a hop-by-hop header', async () => {
    const d = await gateway({ protocol: 'tcp', vip: '2001:db8::1', port: 443, dests: ['2001:db8:1::1'] });
    expect(one(d, tcp6).flags).toBe(L.GW_VF_PAYLOAD);
    const [c] = d.connections();
    expect(c).toMatchObject({ client: { address: '2001:db8:9::9', port: 40000 }, virtual: { address: '2001:db8::1', port: 443 } });
  });

  it('trailing link-layer padding is ignored', async () => {
    const d = await gateway({ protocol: 'udp', vip: VIP, port: 53, dests: ['198.18.1.1'] });
    const padded = Uint8Array.from([...udp, 0, 0, 0, 0]);
    const v = one(d, padded);
    expect(v.out.length).toBe(udp.length);
    expect(d.service({ protocol: 'udp', address: VIP, port: 53 }).stats).toMatchObject({ inpkts: 1, inbytes: udp.length });
  });
});

describe('packet path properties', () => {
  it('arbitrary bytes never trap: every record gets ACCEPT or DROP, NAT and tunnel alike', async () => {
    const nat = await gateway({ protocol: 'tcp', vip: VIP, port: 80, dests: ['198.18.1.1'] });
    const tun = await gateway({ protocol: 'tcp', vip: VIP, port: 80, dests: ['198.18.1.1'], method: 'tunnel', tunSrc: '198.18.1.254', mtu: 576 });
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 120 }), fc.constantFrom(4, 6), (bytes, v) => {
        bytes[0] = (v << 4) | (bytes[0] & 15);
        for (const d of [nat, tun]) {
          const r = one(d, bytes, { now: 5 });
          expect([ACCEPT, DROP]).toContain(r.verdict);
          if (r.flags & L.GW_VF_PAYLOAD) expect(r.out.length).toBeLessThanOrEqual(STRIDE - L.GW_REC_HEADER);
        }
      }),
      { numRuns: 2000, seed: 42 },
    );
  });

  it('NAT of any valid TCP/UDP packet keeps every checksum valid, both ways', async () => {
    const ip4 = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 })).map(([a, b]) => `198.18.${a}.${b}`);
    const port = fc.integer({ min: 1, max: 65535 });
    const d = await gateway({ fwmark: 1, dests: [] });
    const key = { fwmark: 1, af: 4 as const };
    await fc.assert(
      fc.asyncProperty(ip4, ip4, ip4, port, port, port, fc.boolean(), fc.uint8Array({ maxLength: 64 }), async (s, v, to, sp, vp, tp, isTcp, pl) => {
        // A fwmark service takes any address: the real server changes per run.
        d.clear();
        d.addService(key, { scheduler: 'rr' });
        d.addDest(key, { address: to, port: tp, method: 'masq' });
        const proto = isTcp ? 'tcp' as const : 'udp' as const;
        const p = v4({ src: s, dst: v, ttl: 9 }, { proto, sport: sp, dport: vp, payload: [...pl] });
        const [fwd] = burst(d, [p], { mark: 1 });
        expect(fwd.flags).toBe(L.GW_VF_PAYLOAD);
        expect(checksumsOk(fwd.out)).toBe(true);
        const reply = v4({ src: to, dst: s, ttl: 9 }, { proto, sport: tp, dport: sp, flags: 0x12, payload: [...pl] });
        const [back] = burst(d, [reply]);
        expect(back.flags).toBe(L.GW_VF_PAYLOAD);
        expect(checksumsOk(back.out)).toBe(true);
      }),
      { numRuns: 1000, seed: 7 },
    );
  });
});
