// Value parsers with ipvsadm's exact acceptance rules (strtol-style strict
// decimals, host[:port] splitting). Pure: name lookups are injected.
import { parseAddr, formatAddr } from '../sdk/address.js';

export type Proto = 'tcp' | 'udp' | 'sctp';

/** Name lookups the parser may need; the Node CLI fills them, the browser leaves them out. */
export interface Resolver {
  /** IPv4 address for a host name (ipvsadm uses gethostbyname), or undefined. */
  hostToAddr?(name: string): string | undefined;
  /** Port number for a service name of this protocol (getservbyname), or undefined. */
  serviceToPort?(name: string, proto: Proto): number | undefined;
}

const STRTOL = /^[ \t\n\v\f\r]*[+-]?[0-9]+$/;

/** ipvsadm's string_to_number: whole string a decimal in [min, max], else -1. */
export function stringToNumber(s: string, min: number, max: number): number {
  if (!STRTOL.test(s)) return -1;
  const n = Number(s.trim());
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : -1;
}

/** C atoi: leading whitespace, optional sign, digits; junk after them ignored. */
export function atoi(s: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?[0-9]+)/.exec(s);
  if (!m) return 0;
  const n = Number(m[1]);
  return Math.abs(n) > 2 ** 31 ? -1 : n;
}

export interface HostPort { af: 4 | 6; addr: string; port?: number }

const DOTTED = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;

/** Fast path for the common dotted quad (restores of 10^5 lines parse mostly these). */
function dotted(text: string): string | undefined {
  const m = DOTTED.exec(text);
  if (!m) return undefined;
  const b = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])];
  return b.every((x) => x <= 255) ? b.join('.') : undefined;
}

function v4(text: string, r: Resolver): string | undefined {
  const quad = dotted(text);
  if (quad !== undefined) return quad;
  const a = parseAddr(text);
  if (a && a.af === 4 && !text.includes('[')) return formatAddr(4, a.w[0]);
  if (text === '' || text.includes(':') || text.includes('[')) return undefined;
  const name = r.hostToAddr?.(text);
  const b = name !== undefined ? parseAddr(name) : null;
  return b && b.af === 4 ? formatAddr(4, b.w[0]) : undefined;
}

function portOf(text: string, proto: Proto, r: Resolver): number | undefined {
  const n = stringToNumber(text, 0, 65535);
  if (n !== -1) return n;
  return r.serviceToPort?.(text, proto);
}

/**
 * ipvsadm's parse_service: `[v6]:port`, a bare IPv6 address, or host[:port]
 * split at the last ':'. All-digit strings are refused. null = SERVICE_NONE.
 */
export function parseHostPort(buf: string, proto: Proto, r: Resolver): HostPort | null {
  if (/^[0-9]*$/.test(buf)) return null;
  let host = buf;
  let portText: string | undefined;
  if (buf.startsWith('[')) {
    const close = buf.indexOf(']');
    if (close < 0 || buf[close + 1] !== ':') return null;
    host = buf.slice(1, close);
    portText = buf.slice(close + 2);
    const a6 = host.includes(':') ? parseAddr(host) : null;
    if (!a6 || a6.af !== 6) {
      // ipvsadm cut the string at the bracket: what is left is a host without a port.
      const a = v4(host, r);
      return a === undefined ? null : { af: 4, addr: a };
    }
  }
  const a6 = portText === undefined && host.indexOf(':') !== host.lastIndexOf(':') ? parseAddr(host) : null;
  if (a6 && a6.af === 6) return { af: 6, addr: canonical6(host) };
  if (portText !== undefined) {
    const port = portOf(portText, proto, r);
    return port === undefined ? null : { af: 6, addr: canonical6(host), port };
  }
  const colon = host.lastIndexOf(':');
  const hostPart = colon >= 0 ? host.slice(0, colon) : host;
  const addr = v4(hostPart, r);
  if (addr === undefined) return null;
  if (colon < 0) return { af: 4, addr };
  const port = portOf(host.slice(colon + 1), proto, r);
  return port === undefined ? null : { af: 4, addr, port };
}

function canonical6(text: string): string {
  const a = parseAddr(text)!;
  return formatAddr(6, a.w[0], a.w[1], a.w[2], a.w[3]);
}

/** ipvsadm's parse_netmask for IPv4 services: dotted quad or resolvable name. */
export function parseNetmask(text: string, r: Resolver): string | undefined {
  return v4(text, r);
}

/** ipvsadm's parse_fwmark: 1..4294967295, strict decimal. */
export function parseFwmark(text: string): number {
  return stringToNumber(text, 1, 0xffffffff);
}
