// NAT, DR and TTL fixtures through gwBurst: (description, input, expected
// output, verdict). Expected packets are built from scratch by build.ts with
// full checksums, so a byte-for-byte match proves the core's incremental
// updates (RFC 1624). The burst leaves TTLs to the kernel's forwarding (the
// director routes the rewritten packet); only the tunnel path decrements.
import { describe, expect, it } from 'vitest';
import { layout as L } from '../../sdk/core/abi.gen.js';
import { v4, v6, checksumsOk, type Ip, type L4 } from './build.js';
import { ACCEPT, DROP, burst, counter, gateway, one } from './burst.js';

const VIP = '198.18.0.1', RS = '198.18.1.1', CLIENT = '198.18.9.9', DIRECTOR = '198.18.1.254';
const VIP6 = '2001:db8::1', RS6 = '2001:db8:1::1', CLIENT6 = '2001:db8:9::9';
const data = [1, 2, 3, 4, 5, 6, 7];
const SYN = 0x02;

interface Fixture { desc: string; mk: (ip: Ip, l4: L4) => Uint8Array; ip: Ip; l4: L4; dir: 'in' | 'out'; to: [string, number]; recFlags: number }

function natCase(desc: string, mk: Fixture['mk'], ip: Ip, l4: L4, dir: Fixture['dir'], to: [string, number], recFlags = 0): Fixture {
  return { desc, mk, ip, l4, dir, to, recFlags };
}

const IN = 'in', OUT = 'out', PARTIAL = L.GW_RF_CSUM_PARTIAL;
const fixtures: Fixture[] = [
  natCase('v4 TCP SYN inbound: dst -> real server', v4, { src: CLIENT, dst: VIP }, { proto: 'tcp', sport: 40000, dport: 80 }, IN, [RS, 8080]),
  natCase('v4 TCP data inbound on the connection, TTL left for the forwarding', v4, { src: CLIENT, dst: VIP, ttl: 17 }, { proto: 'tcp', sport: 40000, dport: 80, flags: 0x18, payload: data }, IN, [RS, 80]),
  natCase('v4 TCP with IP and TCP options, odd payload', v4, { src: CLIENT, dst: VIP, ipOptions: [1, 1, 1, 0] }, { proto: 'tcp', sport: 1, dport: 80, tcpOptions: [2, 4, 5, 0xb4], payload: data }, IN, ['198.19.255.254', 65535]),
  natCase('v4 TCP reply outbound: src -> VIP:vport', v4, { src: RS, dst: CLIENT }, { proto: 'tcp', sport: 8080, dport: 40000, flags: 0x12 }, OUT, [VIP, 80]),
  natCase('v4 UDP inbound with checksum', v4, { src: CLIENT, dst: VIP }, { proto: 'udp', sport: 5353, dport: 53, payload: data }, IN, [RS, 5300]),
  natCase('v4 UDP checksum 0 stays 0', v4, { src: CLIENT, dst: VIP }, { proto: 'udp', sport: 5353, dport: 53, payload: data, csum: 'none' }, IN, [RS, 5300]),
  natCase('v4 UDP reply outbound', v4, { src: RS, dst: CLIENT, df: false }, { proto: 'udp', sport: 5300, dport: 5353, payload: data }, OUT, [VIP, 53]),
  natCase('v4 TCP partial checksum: rewritten and completed', v4, { src: CLIENT, dst: VIP }, { proto: 'tcp', sport: 40000, dport: 80, csum: 'partial', payload: data }, IN, [RS, 8080], PARTIAL),
  natCase('v4 UDP partial checksum: rewritten and completed', v4, { src: CLIENT, dst: VIP }, { proto: 'udp', sport: 5353, dport: 53, csum: 'partial', payload: data }, IN, [RS, 5300], PARTIAL),
  natCase('v6 TCP partial checksum, reply outbound', v6, { src: RS6, dst: CLIENT6 }, { proto: 'tcp', sport: 8443, dport: 40000, csum: 'partial', payload: data }, OUT, [VIP6, 443], PARTIAL),
  natCase('v6 TCP inbound', v6, { src: CLIENT6, dst: VIP6 }, { proto: 'tcp', sport: 40000, dport: 443, payload: data }, IN, [RS6, 8443]),
  natCase('v6 TCP inbound, hop limit 2 left for the forwarding', v6, { src: CLIENT6, dst: VIP6, ttl: 2 }, { proto: 'tcp', sport: 40000, dport: 443 }, IN, [RS6, 443]),
  natCase('v6 UDP with hop-by-hop header', v6, { src: CLIENT6, dst: VIP6, hopByHop: true }, { proto: 'udp', sport: 999, dport: 53, payload: data }, IN, [RS6, 53]),
  natCase('v6 UDP reply outbound', v6, { src: RS6, dst: CLIENT6 }, { proto: 'udp', sport: 53, dport: 999, payload: data }, OUT, [VIP6, 53]),
];

/**
 * A director whose service and real server make the fixture's rewrite, and
 * the connection it rewrites on: inbound, the service is the packet's
 * destination and the real server `to`; a reply comes from the real server of
 * service `to`, after the client's first packet opened the connection. A TCP
 * fixture that is not a SYN follows a SYN of the same flow.
 */
async function setup(f: Fixture) {
  const client = f.dir === IN ? { addr: f.ip.src, port: f.l4.sport } : { addr: f.ip.dst, port: f.l4.dport };
  const vip = f.dir === IN ? { addr: f.ip.dst, port: f.l4.dport } : { addr: f.to[0], port: f.to[1] };
  const rs = f.dir === IN ? { addr: f.to[0], port: f.to[1] } : { addr: f.ip.src, port: f.l4.sport };
  const d = await gateway({ protocol: f.l4.proto, vip: vip.addr, port: vip.port, dests: [rs.addr], rport: rs.port });
  const opener = f.mk({ src: client.addr, dst: vip.addr }, { proto: f.l4.proto, sport: client.port, dport: vip.port, flags: SYN });
  const isSyn = f.l4.proto === 'tcp' && (f.l4.flags ?? SYN) === SYN;
  if (f.dir === OUT || !isSyn) expect(one(d, opener).flags & L.GW_VF_PAYLOAD).toBeTruthy();
  return d;
}

describe('gwBurst NAT fixtures', () => {
  for (const f of fixtures) {
    it(f.desc, async () => {
      const d = await setup(f);
      const out: Ip = { ...f.ip };
      // A partial checksum leaves the core complete (the kernel marks mangled packets CHECKSUM_NONE).
      const l4out: L4 = { ...f.l4, csum: f.l4.csum === 'partial' ? 'full' : f.l4.csum };
      if (f.dir === IN) { out.dst = f.to[0]; l4out.dport = f.to[1]; } else { out.src = f.to[0]; l4out.sport = f.to[1]; }
      const expected = f.mk(out, l4out);
      const v = one(d, f.mk(f.ip, f.l4), { recFlags: f.recFlags });
      expect(v).toMatchObject({ verdict: ACCEPT, flags: L.GW_VF_PAYLOAD });
      expect([...v.out]).toEqual([...expected]);
      expect(checksumsOk(v.out)).toBe(true);
    });
  }

  it('a real server of the other family cannot be a NAT target: refused at configuration, the packet is not balanced', async () => {
    const d = await gateway({ protocol: 'tcp', vip: VIP, port: 80, dests: [] });
    expect(() => d.addDest({ protocol: 'tcp', address: VIP, port: 80 }, { address: RS6, port: 80, method: 'masq' })).toThrow();
    const p = v4({ src: CLIENT, dst: VIP }, { proto: 'tcp', sport: 1, dport: 80 });
    const v = one(d, p);
    expect(v.flags & L.GW_VF_PAYLOAD).toBe(0);
    expect([...v.out]).toEqual([...p]);
  });
});

describe('TTL and DR', () => {
  // The TTL check belongs to the path that builds a new packet (the tunnel's
  // inner header); NAT and DR leave the TTL to the kernel's forwarding, which
  // answers time exceeded itself.
  it.each([
    ['v4 TTL 1', v4({ src: CLIENT, dst: VIP, ttl: 1 }, { proto: 'tcp', sport: 1, dport: 80 })],
    ['v4 TTL 0', v4({ src: CLIENT, dst: VIP, ttl: 0 }, { proto: 'udp', sport: 1, dport: 80 })],
  ])('%s through a tunnel server: dropped and counted', async (_d, p) => {
    const d = await gateway({ protocol: p[9] === 6 ? 'tcp' : 'udp', vip: VIP, port: 80, dests: [RS], method: 'tunnel', tunSrc: DIRECTOR });
    expect(one(d, p).verdict).toBe(DROP);
    expect(counter(d, 'CNT_PKT_TTL_EXPIRED')).toBe(1);
  });

  it.each([
    ['v4 TTL 1', v4({ src: CLIENT, dst: VIP, ttl: 1 }, { proto: 'tcp', sport: 1, dport: 80 }), RS],
    ['v6 hop limit 1', v6({ src: CLIENT6, dst: VIP6, ttl: 1 }, { proto: 'tcp', sport: 1, dport: 80 }), RS6],
  ])('%s through NAT: rewritten with the TTL as it came, nothing counted', async (_d, p, rs) => {
    const d = await gateway({ protocol: 'tcp', vip: p[0] >> 4 === 4 ? VIP : VIP6, port: 80, dests: [rs] });
    const v = one(d, p);
    expect(v).toMatchObject({ verdict: ACCEPT, flags: L.GW_VF_PAYLOAD });
    expect(v.out[p[0] >> 4 === 4 ? 8 : 7]).toBe(1);
    expect(counter(d, 'CNT_PKT_TTL_EXPIRED')).toBe(0);
  });

  it('DR keeps the packet (VIP stays the destination, TTL too): a mark verdict, no payload', async () => {
    const d = await gateway({ protocol: 'tcp', vip: VIP, port: 80, dests: [RS], method: 'route' });
    const p = v4({ src: CLIENT, dst: VIP, ttl: 9 }, { proto: 'tcp', sport: 40000, dport: 80, payload: data });
    const v = one(d, p);
    expect(v).toMatchObject({ verdict: ACCEPT, flags: L.GW_VF_MARK });
    expect(v.out).toEqual(p);
  });

  it('DR with a partial checksum leaves the bytes and their checksum state to the kernel', async () => {
    const d = await gateway({ protocol: 'tcp', vip: VIP, port: 80, dests: [RS], method: 'route' });
    const p = v4({ src: CLIENT, dst: VIP, ttl: 9 }, { proto: 'tcp', sport: 40000, dport: 80, payload: data, csum: 'partial' });
    const v = one(d, p, { recFlags: L.GW_RF_CSUM_PARTIAL });
    expect(v).toMatchObject({ verdict: ACCEPT, flags: L.GW_VF_MARK });
    expect(v.out).toEqual(p);
  });

  it('DR over IPv6: a mark verdict, the hop limit untouched', async () => {
    const d = await gateway({ protocol: 'udp', vip: VIP6, port: 53, dests: [RS6], method: 'route' });
    const p = v6({ src: CLIENT6, dst: VIP6, ttl: 5 }, { proto: 'udp', sport: 1, dport: 53 });
    const [v] = burst(d, [p]);
    expect(v).toMatchObject({ verdict: ACCEPT, flags: L.GW_VF_MARK });
    expect(v.out).toEqual(p);
  });
});
