// The one module that parses and formats addresses (built on ipaddr.js).
// Core form: family and four u32 words in host order (abi/layout.ts).
import ipaddr from 'ipaddr.js';

export type Family = 4 | 6;
/** Shared by every caller of parseAddr (cached): never mutate `w`. */
export interface CoreAddr { af: Family; w: [number, number, number, number] }

/** Parse an IPv4 or IPv6 literal; null when it is not one. */
/**
 * Parsed addresses by their text: a host scheduling many flows sees the same
 * few VIPs and clients again and again, and a Map hit (~20 ns) is cheaper
 * than even the dotted-quad fast path. Bounded: cleared when full. Entries are
 * frozen, since every caller shares them.
 */
const parsed = new Map<string, CoreAddr | null>();
const PARSED_MAX = 4096;

export function parseAddr(text: string): CoreAddr | null {
  if (typeof text !== 'string') return null;
  const hit = parsed.get(text);
  if (hit !== undefined) return hit;
  const a = parseUncached(text);
  if (parsed.size >= PARSED_MAX) parsed.clear();
  parsed.set(text, a === null ? null : Object.freeze({ af: a.af, w: a.w }));
  return parsed.get(text) as CoreAddr | null;
}

function parseUncached(text: string): CoreAddr | null {
  let s = text.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const quad = dottedQuad(s);
  if (quad >= 0) return { af: 4, w: [quad, 0, 0, 0] };
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

/**
 * Fast path for the common case (~50 ns, ipaddr.js ~700 ns): exactly four
 * decimal parts 0..255 without leading zeros ("0" itself is fine), the set
 * ipaddr.IPv4.isValidFourPartDecimal accepts. Returns the address in host
 * order, or -1 when `s` is not such a literal (the caller then asks ipaddr.js,
 * so the fast path can only accept, never reject, on its own).
 */
function dottedQuad(s: string): number {
  const n = s.length;
  if (n < 7 || n > 15) return -1;
  let addr = 0;
  let part = 0;
  let digits = 0;
  let parts = 0;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? s.charCodeAt(i) : 46; // a virtual '.' closes the last part
    if (c === 46) {
      if (digits === 0 || part > 255) return -1;
      addr = addr * 256 + part;
      parts++;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits === 1 && part === 0) return -1; // leading zero
      part = part * 10 + (c - 48);
      digits++;
    } else {
      return -1;
    }
  }
  return parts === 4 ? addr : -1;
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
