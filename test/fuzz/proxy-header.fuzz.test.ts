// Every PROXY header the proxy writes (v1, v2 TCP and UDP) decodes, under a
// strict reading of the spec, back to the client and VIP it was given:
// random IPv4 and IPv6 addresses (and Node's ::ffff: form of IPv4 clients),
// every port. haproxy is not a dependency of the test run, so the decoder is
// test/fuzz/proxy-decode.ts, written from proxy-protocol.txt.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { isIPv4 } from 'node:net';
import { proxyV1, proxyV2, plainAddress } from '../../hosts/proxy/proxyproto.js';
import { parseAddr } from '../../sdk/address.js';
import { decodeProxyHeader, type Decoded } from './proxy-decode.js';
import { budget, testTimeout } from './budget.js';

const v4 = fc.ipV4();
const v6 = fc.ipV6();
const port = fc.integer({ min: 0, max: 65535 });
/** An IPv4 client as a dual-stack socket reports it, now and then. */
const v4Client = fc.tuple(v4, fc.boolean()).map(([a, mapped]) => (mapped ? `::ffff:${a}` : a));

/** The same address in the decoder's form: 16-bit groups for IPv6 (v4-mapped when `six`). */
function canonical(addr: string, six: boolean): string {
  const a = parseAddr(plainAddress(addr))!;
  const w = a.af === 6 ? a.w : six ? [0, 0, 0xffff, a.w[0]] : null;
  if (w === null) return [24, 16, 8, 0].map((s) => (a.w[0] >>> s) & 255).join('.');
  return w.flatMap((x) => [(x >>> 16) & 0xffff, x & 0xffff]).map((g) => g.toString(16)).join(':');
}

const ok = (d: Decoded | string): Decoded => {
  if (typeof d === 'string') throw new Error(d);
  return d;
};

describe('PROXY protocol headers against the spec', () => {
  it('v2: TCP and UDP, IPv4, IPv6 and mixed, decode to what was given', () => {
    const ends = fc.oneof(fc.tuple(v4Client, v4), fc.tuple(v6, v6), fc.tuple(v4Client, v6), fc.tuple(v6, v4));
    fc.assert(fc.property(ends, port, port, fc.constantFrom('tcp' as const, 'udp' as const), ([c, v], cp, vp, proto) => {
      const buf = proxyV2({ address: c, port: cp }, { address: v, port: vp }, proto);
      const d = ok(decodeProxyHeader(buf));
      const six = !isIPv4(plainAddress(c)) || !isIPv4(plainAddress(v));
      expect(d).toEqual({
        version: 2, protocol: proto, family: six ? 6 : 4, src: canonical(c, six), dst: canonical(v, six),
        sport: cp, dport: vp, length: buf.length,
      });
    }), budget(0x5052_0002, 3000));
  }, testTimeout());

  it('v1: TCP4 and TCP6 lines decode to what was given, mixed families as TCP6 with a mapped address', () => {
    const ends = fc.oneof(fc.tuple(v4Client, v4), fc.tuple(v6, v6), fc.tuple(v4Client, v6), fc.tuple(v6, v4));
    fc.assert(fc.property(ends, port, port, ([c, v], cp, vp) => {
      const buf = proxyV1({ address: c, port: cp }, { address: v, port: vp });
      const d = ok(decodeProxyHeader(buf));
      const six = !(isIPv4(plainAddress(c)) && isIPv4(plainAddress(v)));
      expect(d).toMatchObject({ version: 1, family: six ? 6 : 4, sport: cp, dport: vp, length: buf.length });
      expect(canonical(d.src, six)).toBe(canonical(c, six));
      expect(canonical(d.dst, six)).toBe(canonical(v, six));
    }), budget(0x5052_0001, 3000));
  }, testTimeout());
});
