// ICMP errors about NAT connections (reference §2.9), IPv4 fixtures. The
// expected packets are rebuilt from scratch: outer header, quoted header
// with the rewritten address/port (its own checksum recomputed), quoted L4
// checksum as it was, ICMP checksum over the whole message.
import { describe, expect, it } from 'vitest';
import { layout as L } from '../../sdk/src/core/abi.gen.js';
import { Harness } from './harness.js';
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

describe('pktNatIcmp fixtures', () => {
  it('real server -> client port unreachable about client -> RS:8080 (UDP): outer src and quoted dst become VIP:80', async () => {
    const h = await Harness.create();
    const origIp = { src: CLIENT, dst: RS, ttl: 63 }, origL4: L4 = { proto: 'udp', sport: 40000, dport: 8080, payload: [1, 2, 3, 4] };
    const orig = v4(origIp, origL4);
    const input = icmpError({ src: RS, dst: CLIENT, df: false }, 3, 3, 0, [...orig.subarray(0, 28)]);
    const expected = icmpError({ src: VIP, dst: CLIENT, df: false }, 3, 3, 0, quote(orig, { ...origIp, dst: VIP }, { ...origL4, dport: 80 }));
    h.decision(0, VIP, 80);
    h.load(input);
    expect(h.x.pktNatIcmp(0, input.length, 0, L.PKT_DIR_OUT, 0)).toBe(L.PKT_FORWARD);
    expect([...h.read(0, h.x.pktLen())]).toEqual([...expected]);
  });

  it('client -> VIP frag-needed about VIP:80 -> client (TCP): outer dst and quoted src become RS:8080', async () => {
    const h = await Harness.create();
    const origIp = { src: VIP, dst: CLIENT, ttl: 60 }, origL4: L4 = { proto: 'tcp', sport: 80, dport: 40000, flags: 0x10, payload: [9, 9] };
    const orig = v4(origIp, origL4);
    const input = icmpError({ src: CLIENT, dst: VIP, ttl: 20 }, 3, 4, 1400, [...orig.subarray(0, 28)]);
    const expected = icmpError({ src: CLIENT, dst: RS, ttl: 19 }, 3, 4, 1400, quote(orig, { ...origIp, src: RS }, { ...origL4, sport: 8080 }));
    h.decision(0, RS, 8080);
    h.load(input);
    expect(h.x.pktNatIcmp(0, input.length, 0, L.PKT_DIR_IN, L.PKT_F_DEC_TTL)).toBe(L.PKT_FORWARD);
    expect([...h.read(0, h.x.pktLen())]).toEqual([...expected]);
  });

  it('pktIcmpParse writes the quoted packet as the flow record', async () => {
    const h = await Harness.create();
    const orig = v4({ src: CLIENT, dst: RS }, { proto: 'udp', sport: 40000, dport: 8080 });
    const input = icmpError({ src: RS, dst: CLIENT }, 11, 0, 0, [...orig.subarray(0, 28)]);
    h.load(input);
    expect(h.x.pktIcmpParse(0, input.length, 3, 5)).toBe(L.PKT_CONTINUE);
    const f = h.flow(3);
    expect([f.getUint8(L.FLOW_AF), f.getUint8(L.FLOW_PROTO), f.getUint32(L.FLOW_FWMARK, true)]).toEqual([4, 17, 5]);
    expect([f.getUint32(L.FLOW_CADDR, true), f.getUint32(L.FLOW_VADDR, true)]).toEqual([0xc6120909, 0xc6120101]);
    expect([f.getUint16(L.FLOW_CPORT, true), f.getUint16(L.FLOW_VPORT, true)]).toEqual([40000, 8080]);
  });

  const orig = v4({ src: CLIENT, dst: RS }, { proto: 'tcp', sport: 1, dport: 2 });
  it.each([
    ['echo request is not an error', ipv4({ src: CLIENT, dst: VIP }, [8, 0, 0xf7, 0xff, 0, 0, 0, 0], 1), L.PKT_PASS],
    ['error quoting an ICMP packet', icmpError({ src: RS, dst: CLIENT }, 3, 1, 0, [...ipv4({ src: CLIENT, dst: RS }, [8, 0, 0, 0, 0, 0, 0, 0], 1)]), L.PKT_PASS],
    ['quote shorter than header + 8', icmpError({ src: RS, dst: CLIENT }, 3, 3, 0, [...orig.subarray(0, 27)]), L.PKT_DROP],
    ['quote with IHL 3', icmpError({ src: RS, dst: CLIENT }, 3, 3, 0, [0x43, ...orig.subarray(1, 28)]), L.PKT_DROP],
    ['TCP packet is not ICMP', orig, L.PKT_PASS],
  ])('%s', async (_d, p, verdict) => {
    const h = await Harness.create();
    h.decision(0, VIP, 80);
    h.load(p);
    expect(h.x.pktIcmpParse(0, p.length, 0, 0)).toBe(verdict);
    expect(h.x.pktNatIcmp(0, p.length, 0, L.PKT_DIR_OUT, 0)).toBe(verdict);
    expect([...h.read(0, p.length)]).toEqual([...p]);
  });
});
