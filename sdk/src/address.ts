// The one module that parses and formats addresses (built on ipaddr.js).
// Core form: family and four u32 words in host order (abi/layout.ts).
import ipaddr from 'ipaddr.js';

export type Family = 4 | 6;
export interface CoreAddr { af: Family; w: [number, number, number, number] }

/** Parse an IPv4 or IPv6 literal; null when it is not one. */
export function parseAddr(text: string): CoreAddr | null {
  if (typeof text !== 'string') return null;
  let s = text.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  if (ipaddr.IPv4.isValidFourPartDecimal(s)) {
    const b = ipaddr.IPv4.parse(s).toByteArray();
    return { af: 4, w: [((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0, 0, 0, 0] };
  }
  if (s.includes(':') && ipaddr.IPv6.isValid(s)) {
    const a = ipaddr.IPv6.parse(s);
    if (a.zoneId) return null;
    const b = a.toByteArray();
    const w: [number, number, number, number] = [0, 0, 0, 0];
    for (let i = 0; i < 4; i++) w[i] = ((b[4 * i] << 24) | (b[4 * i + 1] << 16) | (b[4 * i + 2] << 8) | b[4 * i + 3]) >>> 0;
    return { af: 6, w };
  }
  return null;
}

export function formatAddr(af: number, w0: number, w1 = 0, w2 = 0, w3 = 0): string {
  if (af === 4) return `${w0 >>> 24}.${(w0 >>> 16) & 255}.${(w0 >>> 8) & 255}.${w0 & 255}`;
  const parts: number[] = [];
  for (const w of [w0, w1, w2, w3]) parts.push((w >>> 16) & 0xffff, w & 0xffff);
  return new ipaddr.IPv6(parts).toString();
}

/** `addr:port`, with brackets for IPv6 (as ipvsadm prints it). */
export function formatEndpoint(af: number, addr: string, port: number): string {
  return af === 6 ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** IPv4 netmask in host order from dotted form; null unless it is a valid contiguous mask. */
export function parseNetmask4(text: string): number | null {
  const a = parseAddr(text);
  if (!a || a.af !== 4) return null;
  const m = a.w[0];
  const inv = ~m >>> 0;
  if ((inv & (inv + 1)) !== 0) return null;
  return m;
}

export function isValidPort(p: unknown): p is number {
  return typeof p === 'number' && Number.isInteger(p) && p >= 0 && p <= 65535;
}
