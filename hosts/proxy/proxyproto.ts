// PROXY protocol headers (HAProxy's proxy-protocol.txt) sent first on the
// connection to a real server, so it sees the client's address and the VIP.
import { isIPv4 } from 'node:net';
import { parseAddr } from '../../sdk/address.js';
import type { Endpoint } from '../../sdk/types.js';

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** Node reports IPv4 clients of a dual-stack socket as ::ffff:a.b.c.d. */
export function plainAddress(a: string): string {
  return a.startsWith('::ffff:') && isIPv4(a.slice(7)) ? a.slice(7) : a;
}

/** "PROXY TCP4 client vip cport vport\r\n" (v1 is TCP only). */
export function proxyV1(client: Endpoint, vip: Endpoint): Buffer {
  let c = plainAddress(client.address), v = plainAddress(vip.address);
  const fam = isIPv4(c) && isIPv4(v) ? 'TCP4' : 'TCP6';
  // TCP6 needs both addresses in IPv6 form: an IPv4 end of a mixed pair is
  // sent IPv4-mapped (::ffff:a.b.c.d), as the v2 header does.
  if (fam === 'TCP6') {
    if (isIPv4(c)) c = `::ffff:${c}`;
    if (isIPv4(v)) v = `::ffff:${v}`;
  }
  return Buffer.from(`PROXY ${fam} ${c} ${v} ${client.port} ${vip.port}\r\n`, 'latin1');
}

function writeWords(buf: Buffer, off: number, w: readonly number[], n: number): number {
  for (let i = 0; i < n; i++) buf.writeUInt32BE(w[i] >>> 0, off + 4 * i);
  return off + 4 * n;
}

/** Binary v2 header, command PROXY, for TCP (STREAM) or UDP (DGRAM). */
export function proxyV2(client: Endpoint, vip: Endpoint, protocol: 'tcp' | 'udp' = 'tcp'): Buffer {
  const c = parseAddr(plainAddress(client.address));
  const v = parseAddr(plainAddress(vip.address));
  if (!c || !v) throw new Error(`PROXY v2: bad address ${client.address} or ${vip.address}`);
  // Mixed families (IPv4 client on an IPv6 VIP) are sent as IPv6 with a mapped client.
  const v6 = c.af === 6 || v.af === 6;
  const words = (a: typeof c) => (a.af === 6 || !v6 ? a.w : [0, 0, 0xffff, a.w[0]]);
  const alen = v6 ? 36 : 12;
  const buf = Buffer.alloc(16 + alen);
  V2_SIGNATURE.copy(buf, 0);
  buf[12] = 0x21;
  buf[13] = (v6 ? 0x20 : 0x10) | (protocol === 'udp' ? 0x02 : 0x01);
  buf.writeUInt16BE(alen, 14);
  const n = v6 ? 4 : 1;
  let off = writeWords(buf, 16, words(c), n);
  off = writeWords(buf, off, words(v), n);
  buf.writeUInt16BE(client.port, off);
  buf.writeUInt16BE(vip.port, off + 2);
  return buf;
}

export function proxyHeader(version: 1 | 2, client: Endpoint, vip: Endpoint, protocol: 'tcp' | 'udp' = 'tcp'): Buffer {
  return version === 1 ? proxyV1(client, vip) : proxyV2(client, vip, protocol);
}
