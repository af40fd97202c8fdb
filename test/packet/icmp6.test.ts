// gwBurst and ICMPv6 errors about connections (reference §2.9, the kernel's
// ip_vs_in_icmp_v6 / ip_vs_out_icmp_v6): the expected messages are rebuilt
// from scratch here (outer IPv6 header, the quote as the other side sent it
// with its L4 checksum as it was, the ICMPv6 checksum over RFC 8200's
// pseudo-header computed by build.ts's sum16), never by the core's code.
import { describe, expect, it } from 'vitest';
import { layout as L, counters as C } from '../../sdk/core/abi.gen.js';
import type { Director } from '../../sdk/index.js';
import { director } from '../helpers.js';
import { v4, v6, addr, csum, sum16, checksumsOk, type Ip, type L4 } from './build.js';
import { burst as run } from './burst.js';

const VIP = '2001:2:0:42::1', CLIENT = '2001:2:0:40::2', RS = '2001:2:0:41::2';
const SYN = 0x02, SYNACK = 0x12, ACK = 0x10;

/** One burst of `pkts` with GW_RF_* flags and a mark on every record. */
const burst = (d: Director, pkts: Uint8Array[], recFlags = 0, mark = 0) => run(d, pkts, { recFlags, mark });

/**
 * An ICMPv6 message from `src` to `dst` (RFC 4443: type, code, checksum, 32
 * bits of type-specific data, then the body), optionally behind a hop-by-hop
 * header. `check` overrides the checksum field (a partial one).
 */
function icmp6(src: string, dst: string, type: number, code: number, data: number, body: ArrayLike<number>, opts: { hopByHop?: boolean; check?: number } = {}): Uint8Array {
  const m = [type, code, 0, 0, (data >>> 24) & 255, (data >>> 16) & 255, (data >>> 8) & 255, data & 255, ...Array.from(body)];
  const len = m.length;
  const c = opts.check ?? csum(m, sum16([...addr(src), ...addr(dst), (len >>> 24) & 255, (len >>> 16) & 255, (len >>> 8) & 255, len & 255, 0, 0, 0, 58]));
  m[2] = c >> 8;
  m[3] = c & 255;
  const ext = opts.hopByHop ? [58, 0, 1, 4, 0, 0, 0, 0] : [];
  const plen = ext.length + m.length;
  return Uint8Array.from([0x60, 0, 0, 0, plen >> 8, plen & 255, opts.hopByHop ? 0 : 58, 64, ...addr(src), ...addr(dst), ...ext, ...m]);
}

/** The independent check: the ICMPv6 checksum over the pseudo-header of the outer addresses is right. */
function icmp6Ok(p: Uint8Array): boolean {
  let off = 40;
  if (p[6] === 0) off += (p[41] + 1) * 8;
  const m = p.subarray(off, 40 + ((p[4] << 8) | p[5]));
  const len = m.length;
  return sum16(m, sum16([...p.subarray(8, 40), (len >>> 24) & 255, (len >>> 16) & 255, (len >>> 8) & 255, len & 255, 0, 0, 0, 58])) === 0xffff;
}

/** `orig` rebuilt with `ip`/`l4` (the other side's view) but orig's own L4 checksum, as IPVS leaves it. */
function quote(orig: Uint8Array, ip: Ip, l4: L4): Uint8Array {
  const q = v6(ip, l4);
  const at = 40 + (ip.hopByHop ? 8 : 0) + (l4.proto === 'tcp' ? 16 : 6);
  q.set(orig.subarray(at, at + 2), at);
  return q;
}

const addrAt = (p: Uint8Array, at: number) => [...p.subarray(at, at + 16)].join('.');
const is = (a: string) => addr(a).join('.');

async function natDirector(proto: 'tcp' | 'udp', vport: number, rport: number, method: 'masq' | 'route' = 'masq') {
  const d = await director(11);
  const key = { protocol: proto, address: VIP, port: vport };
  d.addService(key, { scheduler: 'rr' });
  const id = d.addDest(key, { address: RS, port: rport, method });
  return { d, key, id };
}

describe('gwBurst: ICMPv6 errors about a NAT connection', () => {
  it('port unreachable from the real server leaves from the VIP, quoting VIP:53, ICMPv6 checksum recomputed; counted out', async () => {
    const { d, key } = await natDirector('udp', 53, 5353);
    const origIp = { src: CLIENT, dst: VIP }, origL4: L4 = { proto: 'udp', sport: 40000, dport: 53, payload: [1, 2, 3, 4, 5] };
    const [fwd] = burst(d, [v6(origIp, origL4)]);
    expect(is(RS)).toBe(addrAt(fwd.out, 24));
    const err = icmp6(RS, CLIENT, 1, 4, 0, fwd.out);
    const [v] = burst(d, [err]);
    expect(v).toMatchObject({ id: 100, verdict: 1, flags: L.GW_VF_PAYLOAD });
    const expected = icmp6(VIP, CLIENT, 1, 4, 0, quote(fwd.out, origIp, origL4));
    expect([...v.out]).toEqual([...expected]);
    expect(icmp6Ok(v.out)).toBe(true);
    expect(d.service(key).stats).toMatchObject({ inpkts: 1, outpkts: 1 });
    expect(d.counter(C.CNT_GW_REPLIES)).toBe(1);
  });

  it('packet too big from the client about a reply goes to the real server: outer dst and quoted source become RS:8080, MTU kept', async () => {
    const { d } = await natDirector('tcp', 80, 8080);
    burst(d, [v6({ src: CLIENT, dst: VIP }, { proto: 'tcp', sport: 40000, dport: 80, flags: SYN })]);
    // The reply as the client saw it (from the VIP), with 1,200 bytes of data.
    const replyIp = { src: VIP, dst: CLIENT, ttl: 63 }, replyL4: L4 = { proto: 'tcp', sport: 80, dport: 40000, flags: ACK, payload: Array.from({ length: 1200 }, (_, i) => i & 255) };
    const reply = v6(replyIp, replyL4);
    const [v] = burst(d, [icmp6(CLIENT, VIP, 2, 0, 1280, reply.subarray(0, 1280 - 48))]);
    expect(v).toMatchObject({ verdict: 1, flags: L.GW_VF_PAYLOAD });
    const expected = icmp6(CLIENT, RS, 2, 0, 1280, quote(reply, { ...replyIp, src: RS }, { ...replyL4, sport: 8080 }).subarray(0, 1280 - 48));
    expect([...v.out]).toEqual([...expected]);
    expect(icmp6Ok(v.out)).toBe(true);
  });

  it('time exceeded quoting a packet with a hop-by-hop header, itself behind one: the port after the extension is rewritten', async () => {
    const { d } = await natDirector('tcp', 80, 8080);
    const origIp = { src: CLIENT, dst: VIP, hopByHop: true }, origL4: L4 = { proto: 'tcp', sport: 40001, dport: 80, flags: SYN };
    const [fwd] = burst(d, [v6(origIp, origL4)]);
    expect(checksumsOk(fwd.out)).toBe(true);
    const [v] = burst(d, [icmp6(RS, CLIENT, 3, 0, 0, fwd.out, { hopByHop: true })]);
    expect([...v.out]).toEqual([...icmp6(VIP, CLIENT, 3, 0, 0, quote(fwd.out, origIp, origL4), { hopByHop: true })]);
    expect(icmp6Ok(v.out)).toBe(true);
  });

  it('with checksum offload (CHECKSUM_PARTIAL) the field is rewritten whole, whatever it held', async () => {
    const { d } = await natDirector('udp', 53, 5353);
    const [fwd] = burst(d, [v6({ src: CLIENT, dst: VIP }, { proto: 'udp', sport: 40002, dport: 53, csum: 'partial' })], L.GW_RF_CSUM_PARTIAL);
    expect(checksumsOk(fwd.out)).toBe(true);
    const [v] = burst(d, [icmp6(RS, CLIENT, 1, 4, 0, fwd.out, { check: 0x1234 })], L.GW_RF_CSUM_PARTIAL);
    expect(v.flags & L.GW_VF_PAYLOAD).toBeTruthy();
    expect(icmp6Ok(v.out)).toBe(true);
  });
});

describe('gwBurst: ICMPv6 errors, DR and the ones that are not ours', () => {
  it('DR: an error from the client about a reply gets the real server mark, bytes untouched', async () => {
    const { d, id } = await natDirector('tcp', 80, 80, 'route');
    burst(d, [v6({ src: CLIENT, dst: VIP }, { proto: 'tcp', sport: 40000, dport: 80, flags: SYN })]);
    const err = icmp6(CLIENT, VIP, 1, 4, 0, v6({ src: VIP, dst: CLIENT }, { proto: 'tcp', sport: 80, dport: 40000, flags: SYNACK }));
    const [v] = burst(d, [err]);
    expect(v).toMatchObject({ verdict: 1, flags: L.GW_VF_MARK, mark: (L.GW_DR_MARK_BASE + (id & L.GW_DR_SLOT_MASK)) >>> 0 });
    expect([...v.out]).toEqual([...err]);
  });

  it('informational messages, quotes of ICMPv6 or of a later fragment, and errors about no connection pass untouched', async () => {
    const { d } = await natDirector('udp', 53, 5353);
    burst(d, [v6({ src: CLIENT, dst: VIP }, { proto: 'udp', sport: 40000, dport: 53 })]);
    const echo = icmp6(CLIENT, VIP, 128, 0, 0x00010001, [1, 2, 3, 4]);
    const ns = icmp6(CLIENT, VIP, 135, 0, 0, addr(VIP));
    const aboutEcho = icmp6(RS, CLIENT, 1, 4, 0, icmp6(CLIENT, RS, 128, 0, 0, [9, 9]));
    const sent = v6({ src: CLIENT, dst: RS }, { proto: 'udp', sport: 40000, dport: 5353 });
    // The quote as a later fragment: a fragment header (offset 8) in front of the UDP header.
    const frag = Uint8Array.from([...sent.subarray(0, 6), 44, ...sent.subarray(7, 40), 17, 0, 0, 8, 0, 0, 0, 1, ...sent.subarray(40)]);
    frag[5] += 8;
    const later = icmp6(RS, CLIENT, 1, 4, 0, frag);
    const nobody = icmp6(RS, CLIENT, 1, 4, 0, v6({ src: CLIENT, dst: RS }, { proto: 'udp', sport: 40999, dport: 5353 }));
    const pkts = [echo, ns, aboutEcho, later, nobody];
    const v = burst(d, pkts);
    v.forEach((x, i) => {
      expect(x).toMatchObject({ verdict: 1, flags: 0 });
      expect([...x.out]).toEqual([...pkts[i]]);
    });
    expect(d.service({ protocol: 'udp', address: VIP, port: 53 }).stats).toMatchObject({ inpkts: 1, outpkts: 0 });
  });

  it('a quote cut short is dropped and counted as malformed; an IPv4 quote inside ICMPv6 too', async () => {
    const { d } = await natDirector('udp', 53, 5353);
    const sent = v6({ src: CLIENT, dst: RS }, { proto: 'udp', sport: 40000, dport: 5353 });
    const before = d.counter(C.CNT_PKT_MALFORMED_IP);
    const v = burst(d, [
      icmp6(RS, CLIENT, 1, 4, 0, sent.subarray(0, 39)),
      icmp6(RS, CLIENT, 1, 4, 0, sent.subarray(0, 45)),
      icmp6(RS, CLIENT, 1, 4, 0, v4({ src: '198.18.0.1', dst: '198.18.0.2' }, { proto: 'udp', sport: 1, dport: 2 })),
    ]);
    expect(v.map((x) => x.verdict)).toEqual([0, 0, 0]);
    expect(d.counter(C.CNT_PKT_MALFORMED_IP) - before).toBe(3);
  });
});

describe('gwBurst: an ICMPv6 error about a fwmark connection', () => {
  it('the quote is looked up as the flow it quotes (client, real server, ports); the error leaves from the VIP with the hop limit as it came', async () => {
    const d = await director(11);
    const key = { fwmark: 9, af: 6 as const };
    d.addService(key, { scheduler: 'rr' });
    d.addDest(key, { address: RS, port: 5353, method: 'masq' });
    const [fwd] = burst(d, [v6({ src: CLIENT, dst: VIP }, { proto: 'udp', sport: 40000, dport: 5353, payload: [7, 7] })], 0, 9);
    expect(fwd.flags).toBe(L.GW_VF_PAYLOAD);
    expect(d.connections()[0]).toMatchObject({ protocol: 'udp', client: { address: CLIENT, port: 40000 }, virtual: { address: VIP, port: 5353 }, dest: { address: RS, port: 5353 } });
    const origIp = { src: CLIENT, dst: RS, ttl: 63 }, origL4: L4 = { proto: 'udp', sport: 40000, dport: 5353, payload: [7, 7] };
    const orig = v6(origIp, origL4);
    const [v] = burst(d, [icmp6(RS, CLIENT, 1, 4, 0, orig)]);
    expect(v).toMatchObject({ verdict: 1, flags: L.GW_VF_PAYLOAD });
    const expected = icmp6(VIP, CLIENT, 1, 4, 0, quote(orig, { ...origIp, dst: VIP }, origL4));
    expect([...v.out]).toEqual([...expected]);
    expect(icmp6Ok(v.out)).toBe(true);
    expect(d.service(key).stats).toMatchObject({ inpkts: 1, outpkts: 1 });
  });
});
