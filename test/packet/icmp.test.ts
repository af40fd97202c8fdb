// ICMP errors about NAT connections (reference §2.9), IPv4 fixtures through
// gwBurst: the client's packet opens the connection, the error about it comes
// in the next burst. The expected packets are rebuilt from scratch: outer
// header, quoted header with the rewritten address/port (its own checksum
// recomputed), quoted L4 checksum as it was, ICMP checksum over the whole
// message. TTLs are left to the kernel's forwarding.
import { describe, expect, it } from 'vitest';
import { layout as L } from '../../sdk/core/abi.gen.js';
import { ACCEPT, DROP, burst, gateway, one } from './burst.js';
import { v4, ipv4, csum, type Ip, type L4 } from './build.js';

const VIP = '198.18.0.1', RS = '198.18.1.1', CLIENT = '198.18.9.9';

/** The first IHL + 8 bytes of `orig`'s rebuild with `ip`/`l4`, keeping orig's L4 checksum. */
function quote(orig: Uint8Array, ip: Ip, l4: L4): number[] {
  const q = v4(ip, l4);
  const ihl = (q[0] & 15) * 4, at = ihl + (l4.proto === 'tcp' ? 16 : 6);
  if (l4.proto === 'udp') q.set(orig.subarray(at, at + 2), at);
  return [...q.subarray(0, ihl + 8)];
}

function icmpError(outer: Ip, type: number, code: number, rest: number, quoted: number[]): Uint8Array {
  const m = [type, code, 0, 0, (rest >>> 24) & 255, (rest >>> 16) & 255, (rest >>> 8) & 255, rest & 255, ...quoted];
  const c = csum(m);
  m[2] = c >> 8;
  m[3] = c & 255;
  return ipv4(outer, m, 1);
}

describe('gwBurst ICMP error fixtures', () => {
  it('real server -> client port unreachable about client -> RS:8080 (UDP): outer src and quoted dst become VIP:80', async () => {
    const d = await gateway({ protocol: 'udp', vip: VIP, port: 80, dests: [RS], rport: 8080 });
    const origIp = { src: CLIENT, dst: RS }, origL4: L4 = { proto: 'udp', sport: 40000, dport: 8080, payload: [1, 2, 3, 4] };
    const orig = v4(origIp, origL4);
    // The packet the real server got is the client's, rewritten by the same burst path.
    expect([...one(d, v4({ ...origIp, dst: VIP }, { ...origL4, dport: 80 })).out]).toEqual([...orig]);
    const input = icmpError({ src: RS, dst: CLIENT, df: false }, 3, 3, 0, [...orig.subarray(0, 28)]);
    const expected = icmpError({ src: VIP, dst: CLIENT, df: false }, 3, 3, 0, quote(orig, { ...origIp, dst: VIP }, { ...origL4, dport: 80 }));
    const v = one(d, input);
    expect(v).toMatchObject({ verdict: ACCEPT, flags: L.GW_VF_PAYLOAD });
    expect([...v.out]).toEqual([...expected]);
    expect(d.service({ protocol: 'udp', address: VIP, port: 80 }).stats).toMatchObject({ inpkts: 1, outpkts: 1 });
  });

  it('client -> VIP frag-needed about VIP:80 -> client (TCP): outer dst and quoted src become RS:8080', async () => {
    const d = await gateway({ protocol: 'tcp', vip: VIP, port: 80, dests: [RS], rport: 8080 });
    one(d, v4({ src: CLIENT, dst: VIP }, { proto: 'tcp', sport: 40000, dport: 80 }));
    const origIp = { src: VIP, dst: CLIENT, ttl: 60 }, origL4: L4 = { proto: 'tcp', sport: 80, dport: 40000, flags: 0x10, payload: [9, 9] };
    const orig = v4(origIp, origL4);
    const input = icmpError({ src: CLIENT, dst: VIP, ttl: 20 }, 3, 4, 1400, [...orig.subarray(0, 28)]);
    const expected = icmpError({ src: CLIENT, dst: RS, ttl: 20 }, 3, 4, 1400, quote(orig, { ...origIp, src: RS }, { ...origL4, sport: 8080 }));
    const v = one(d, input);
    expect(v).toMatchObject({ verdict: ACCEPT, flags: L.GW_VF_PAYLOAD });
    expect([...v.out]).toEqual([...expected]);
  });

  it('the quoted packet is looked up as the flow it quotes: a time exceeded about a fwmark connection is counted out and rewritten', async () => {
    const d = await gateway({ protocol: 'udp', fwmark: 5, dests: [RS], rport: 8080 });
    one(d, v4({ src: CLIENT, dst: VIP }, { proto: 'udp', sport: 40000, dport: 8080 }), { mark: 5 });
    expect(d.connections()[0]).toMatchObject({ protocol: 'udp', client: { address: CLIENT, port: 40000 }, virtual: { address: VIP, port: 8080 } });
    const orig = v4({ src: CLIENT, dst: RS }, { proto: 'udp', sport: 40000, dport: 8080 });
    const v = one(d, icmpError({ src: RS, dst: CLIENT }, 11, 0, 0, [...orig.subarray(0, 28)]));
    expect(v).toMatchObject({ verdict: ACCEPT, flags: L.GW_VF_PAYLOAD });
    expect(`${v.out[12]}.${v.out[13]}.${v.out[14]}.${v.out[15]}`).toBe(VIP);
    expect(d.service({ fwmark: 5, af: 4 }).stats).toMatchObject({ inpkts: 1, outpkts: 1 });
  });

  const orig = v4({ src: CLIENT, dst: RS }, { proto: 'tcp', sport: 1, dport: 2 });
  it.each([
    ['echo request is not an error', ipv4({ src: CLIENT, dst: VIP }, [8, 0, 0xf7, 0xff, 0, 0, 0, 0], 1), ACCEPT],
    ['error quoting an ICMP packet', icmpError({ src: RS, dst: CLIENT }, 3, 1, 0, [...ipv4({ src: CLIENT, dst: RS }, [8, 0, 0, 0, 0, 0, 0, 0], 1)]), ACCEPT],
    ['quote shorter than header + 8', icmpError({ src: RS, dst: CLIENT }, 3, 3, 0, [...orig.subarray(0, 27)]), DROP],
    ['quote with IHL 3', icmpError({ src: RS, dst: CLIENT }, 3, 3, 0, [0x43, ...orig.subarray(1, 28)]), DROP],
    ['TCP packet is not ICMP', orig, ACCEPT],
  ])('%s', async (_d, p, verdict) => {
    const d = await gateway({ protocol: 'tcp', vip: VIP, port: 80, dests: [RS] });
    one(d, v4({ src: CLIENT, dst: VIP }, { proto: 'tcp', sport: 1, dport: 80 }));
    const [v] = burst(d, [p]);
    expect(v.verdict).toBe(verdict);
    expect(v.flags).toBe(0);
    expect([...v.out]).toEqual([...p]);
  });
});
