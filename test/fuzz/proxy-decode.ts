// A strict PROXY protocol decoder written from HAProxy's proxy-protocol.txt
// (sections 2.1 and 2.2), independent of the encoder: the fuzz test checks
// that every header the proxy writes decodes back to what it was given.
// Returns a reason string for anything the spec does not allow.
import { isIPv4, isIPv6 } from 'node:net';

export interface Decoded { version: 1 | 2; protocol: 'tcp' | 'udp'; family: 4 | 6; src: string; dst: string; sport: number; dport: number; length: number }

const SIG = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
/** v1: "a maximum of 107 characters" including the CRLF. */
const V1_MAX = 107;
/** Ports: decimal 0..65535 without leading zeros (2.1: "...a number between 0 and 65535 inclusive"). */
const PORT = /^(0|[1-9]\d{0,4})$/;

function v1(buf: Buffer): Decoded | string {
  const end = buf.indexOf('\r\n');
  if (end < 0 || end + 2 > V1_MAX) return 'v1: no CRLF within 107 bytes';
  const line = buf.subarray(0, end).toString('latin1');
  const f = line.split(' ');
  if (f[0] !== 'PROXY') return 'v1: no PROXY word';
  if (f[1] === 'UNKNOWN') return 'v1: UNKNOWN (never sent by a proxy that knows both ends)';
  if (f.length !== 6) return `v1: ${f.length} fields`;
  const [, proto, src, dst, sp, dp] = f;
  const fam = proto === 'TCP4' ? 4 : proto === 'TCP6' ? 6 : 0;
  if (fam === 0) return `v1: protocol ${proto}`;
  const valid = fam === 4 ? isIPv4 : isIPv6;
  if (!valid(src) || !valid(dst)) return `v1: ${proto} with addresses ${src} ${dst}`;
  if (!PORT.test(sp) || !PORT.test(dp) || Number(sp) > 65535 || Number(dp) > 65535) return `v1: ports ${sp} ${dp}`;
  return { version: 1, protocol: 'tcp', family: fam, src, dst, sport: Number(sp), dport: Number(dp), length: end + 2 };
}

function v6Text(b: Buffer, off: number): string {
  const parts: string[] = [];
  for (let i = 0; i < 8; i++) parts.push(b.readUInt16BE(off + 2 * i).toString(16));
  return parts.join(':');
}

function v2(buf: Buffer): Decoded | string {
  if (buf.length < 16) return 'v2: shorter than 16 bytes';
  if (buf[12] >> 4 !== 2) return `v2: version ${buf[12] >> 4}`;
  if ((buf[12] & 0xf) !== 1) return 'v2: command is not PROXY';
  const fam = buf[13] >> 4, tp = buf[13] & 0xf;
  const len = buf.readUInt16BE(14);
  if (buf.length !== 16 + len) return `v2: length ${len} with ${buf.length - 16} bytes after the header`;
  if (tp !== 1 && tp !== 2) return `v2: transport ${tp}`;
  const protocol = tp === 1 ? 'tcp' : 'udp';
  if (fam === 1) {
    if (len < 12) return 'v2: AF_INET needs 12 address bytes';
    const ip = (o: number) => [0, 1, 2, 3].map((k) => buf[o + k]).join('.');
    return { version: 2, protocol, family: 4, src: ip(16), dst: ip(20), sport: buf.readUInt16BE(24), dport: buf.readUInt16BE(26), length: 16 + len };
  }
  if (fam === 2) {
    if (len < 36) return 'v2: AF_INET6 needs 36 address bytes';
    return { version: 2, protocol, family: 6, src: v6Text(buf, 16), dst: v6Text(buf, 32), sport: buf.readUInt16BE(48), dport: buf.readUInt16BE(50), length: 16 + len };
  }
  return `v2: family ${fam}`;
}

export function decodeProxyHeader(buf: Buffer): Decoded | string {
  if (buf.length >= 12 && SIG.every((b, i) => buf[i] === b)) return v2(buf);
  if (buf.subarray(0, 6).toString('latin1') === 'PROXY ') return v1(buf);
  return 'neither a v1 nor a v2 signature';
}
