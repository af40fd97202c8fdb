// NAT, DR and TTL fixtures: (description, input, expected output, verdict).
// Expected packets are built from scratch by build.ts with full checksums, so
// a byte-for-byte match proves the core's incremental updates (RFC 1624).
import { describe, expect, it } from 'vitest';
import { layout as L } from '../../sdk/src/core/abi.gen.js';
import { Harness } from './harness.js';
import { v4, v6, checksumsOk, type Ip, type L4 } from './build.js';

const VIP = '198.18.0.1', RS = '198.18.1.1', CLIENT = '198.18.9.9';
const VIP6 = '2001:db8::1', RS6 = '2001:db8:1::1', CLIENT6 = '2001:db8:9::9';
const data = [1, 2, 3, 4, 5, 6, 7];

interface Fixture { desc: string; input: Uint8Array; expected: Uint8Array; verdict: number; dir: number; to: [string, number]; flags?: number }

function natCase(desc: string, mk: (ip: Ip, l4: L4) => Uint8Array, ip: Ip, l4: L4, dir: number, to: [string, number], flags = 0): Fixture {
  const out: Ip = { ...ip, ttl: (ip.ttl ?? 64) - (flags & L.PKT_F_DEC_TTL ? 1 : 0) };
  // A partial checksum leaves the core complete (the kernel marks mangled packets CHECKSUM_NONE).
  const l4out: L4 = { ...l4, csum: l4.csum === 'partial' ? 'full' : l4.csum };
  if (dir === L.PKT_DIR_IN) { out.dst = to[0]; l4out.dport = to[1]; } else { out.src = to[0]; l4out.sport = to[1]; }
  return { desc, input: mk(ip, l4), expected: mk(out, l4out), verdict: L.PKT_FORWARD, dir, to, flags };
}

const IN = L.PKT_DIR_IN, OUT = L.PKT_DIR_OUT, TTL = L.PKT_F_DEC_TTL;
const fixtures: Fixture[] = [
  natCase('v4 TCP SYN inbound: dst -> real server', v4, { src: CLIENT, dst: VIP }, { proto: 'tcp', sport: 40000, dport: 80 }, IN, [RS, 8080]),
  natCase('v4 TCP inbound with TTL decrement', v4, { src: CLIENT, dst: VIP, ttl: 17 }, { proto: 'tcp', sport: 40000, dport: 80, flags: 0x18, payload: data }, IN, [RS, 80], TTL),
  natCase('v4 TCP with IP and TCP options, odd payload', v4, { src: CLIENT, dst: VIP, ipOptions: [1, 1, 1, 0] }, { proto: 'tcp', sport: 1, dport: 80, tcpOptions: [2, 4, 5, 0xb4], payload: data }, IN, ['198.19.255.254', 65535]),
  natCase('v4 TCP reply outbound: src -> VIP:vport', v4, { src: RS, dst: CLIENT }, { proto: 'tcp', sport: 8080, dport: 40000, flags: 0x12 }, OUT, [VIP, 80]),
  natCase('v4 UDP inbound with checksum', v4, { src: CLIENT, dst: VIP }, { proto: 'udp', sport: 5353, dport: 53, payload: data }, IN, [RS, 5300]),
  natCase('v4 UDP checksum 0 stays 0', v4, { src: CLIENT, dst: VIP }, { proto: 'udp', sport: 5353, dport: 53, payload: data, csum: 'none' }, IN, [RS, 5300]),
  natCase('v4 UDP reply outbound', v4, { src: RS, dst: CLIENT, df: false }, { proto: 'udp', sport: 5300, dport: 5353, payload: data }, OUT, [VIP, 53]),
  natCase('v4 TCP partial checksum: rewritten and completed', v4, { src: CLIENT, dst: VIP }, { proto: 'tcp', sport: 40000, dport: 80, csum: 'partial', payload: data }, IN, [RS, 8080], L.PKT_F_CSUM_PARTIAL),
  natCase('v4 UDP partial checksum: rewritten and completed', v4, { src: CLIENT, dst: VIP }, { proto: 'udp', sport: 5353, dport: 53, csum: 'partial', payload: data }, IN, [RS, 5300], L.PKT_F_CSUM_PARTIAL),
  natCase('v6 TCP partial checksum, reply outbound', v6, { src: RS6, dst: CLIENT6 }, { proto: 'tcp', sport: 8443, dport: 40000, csum: 'partial', payload: data }, OUT, [VIP6, 443], L.PKT_F_CSUM_PARTIAL),
  natCase('v6 TCP inbound', v6, { src: CLIENT6, dst: VIP6 }, { proto: 'tcp', sport: 40000, dport: 443, payload: data }, IN, [RS6, 8443]),
  natCase('v6 TCP inbound with hop-limit decrement', v6, { src: CLIENT6, dst: VIP6, ttl: 2 }, { proto: 'tcp', sport: 40000, dport: 443 }, IN, [RS6, 443], TTL),
  natCase('v6 UDP with hop-by-hop header', v6, { src: CLIENT6, dst: VIP6, hopByHop: true }, { proto: 'udp', sport: 999, dport: 53, payload: data }, IN, [RS6, 53]),
  natCase('v6 UDP reply outbound', v6, { src: RS6, dst: CLIENT6 }, { proto: 'udp', sport: 53, dport: 999, payload: data }, OUT, [VIP6, 53]),
];

describe('pktNat fixtures', () => {
  for (const f of fixtures) {
    it(f.desc, async () => {
      const h = await Harness.create();
      h.decision(0, ...f.to);
      const r = h.nat(f.input, f.dir, f.flags);
      expect(r.verdict).toBe(f.verdict);
      expect([...r.out]).toEqual([...f.expected]);
      expect(checksumsOk(r.out)).toBe(true);
    });
  }

  it('refuses a decision of the other family (caller error, no rewrite)', async () => {
    const h = await Harness.create();
    h.decision(0, RS6, 80);
    const p = v4({ src: CLIENT, dst: VIP }, { proto: 'tcp', sport: 1, dport: 80 });
    expect(h.nat(p, IN).verdict).toBeLessThan(0);
    expect([...h.read(0, p.length)]).toEqual([...p]);
  });
});

describe('TTL and DR', () => {
  it.each([
    ['v4 TTL 1', v4({ src: CLIENT, dst: VIP, ttl: 1 }, { proto: 'tcp', sport: 1, dport: 80 })],
    ['v4 TTL 0', v4({ src: CLIENT, dst: VIP, ttl: 0 }, { proto: 'udp', sport: 1, dport: 80 })],
    ['v6 hop limit 1', v6({ src: CLIENT6, dst: VIP6, ttl: 1 }, { proto: 'tcp', sport: 1, dport: 80 })],
  ])('%s with TTL decrement: dropped and counted', async (_d, p) => {
    const h = await Harness.create();
    h.decision(0, RS, 80);
    h.decision(0, (p[0] >> 4) === 4 ? RS : RS6, 80);
    expect(h.nat(p, IN, TTL).verdict).toBe(L.PKT_DROP);
    expect(h.route(p, TTL).verdict).toBe(L.PKT_DROP);
    expect(h.counter('CNT_PKT_TTL_EXPIRED')).toBe(2);
  });

  it('DR keeps the packet (VIP stays the destination), TTL decremented on request', async () => {
    const h = await Harness.create();
    const p = v4({ src: CLIENT, dst: VIP, ttl: 9 }, { proto: 'tcp', sport: 40000, dport: 80, payload: data });
    expect(h.route(p)).toEqual({ verdict: L.PKT_FORWARD, out: p });
    const r = h.route(p, TTL);
    expect(r.verdict).toBe(L.PKT_FORWARD);
    expect([...r.out]).toEqual([...v4({ src: CLIENT, dst: VIP, ttl: 8 }, { proto: 'tcp', sport: 40000, dport: 80, payload: data })]);
  });

  it('DR with a partial checksum and a TTL change completes the L4 checksum', async () => {
    const h = await Harness.create();
    const l4: L4 = { proto: 'tcp', sport: 40000, dport: 80, payload: data };
    const r = h.route(v4({ src: CLIENT, dst: VIP, ttl: 9 }, { ...l4, csum: 'partial' }), TTL | L.PKT_F_CSUM_PARTIAL);
    expect([...r.out]).toEqual([...v4({ src: CLIENT, dst: VIP, ttl: 8 }, l4)]);
  });

  it('DR over IPv6 decrements the hop limit only', async () => {
    const h = await Harness.create();
    const p = v6({ src: CLIENT6, dst: VIP6, ttl: 5 }, { proto: 'udp', sport: 1, dport: 53 });
    const r = h.route(p, TTL);
    expect([...r.out]).toEqual([...v6({ src: CLIENT6, dst: VIP6, ttl: 4 }, { proto: 'udp', sport: 1, dport: 53 })]);
  });
});
