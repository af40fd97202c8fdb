// Test-side packet builder and checksum checker, written straight from the
// RFCs (full recomputation, no incremental tricks) so the core's incremental
// updates are checked against an independent implementation.
import ipaddr from 'ipaddr.js';

export type L4 = {
  proto: 'tcp' | 'udp';
  sport: number;
  dport: number;
  flags?: number; // TCP flags (default SYN)
  payload?: number[];
  /** 'none': IPv4 UDP without checksum; 'partial': CHECKSUM_PARTIAL (pseudo-header sum only). */
  csum?: 'full' | 'none' | 'partial';
  tcpOptions?: number[];
};
export type Ip = {
  src: string;
  dst: string;
  ttl?: number;
  tos?: number;
  id?: number;
  df?: boolean;
  ipOptions?: number[]; // IPv4 options (multiple of 4 bytes)
  hopByHop?: boolean; // IPv6: insert an 8-byte hop-by-hop header
};

export function sum16(bytes: ArrayLike<number>, acc = 0): number {
  for (let i = 0; i < bytes.length; i += 2) acc += (bytes[i] << 8) | (i + 1 < bytes.length ? bytes[i + 1] : 0);
  while (acc > 0xffff) acc = (acc & 0xffff) + Math.floor(acc / 0x10000);
  return acc;
}
export const csum = (bytes: ArrayLike<number>, acc = 0): number => ~sum16(bytes, acc) & 0xffff;

export const addr = (a: string): number[] => ipaddr.parse(a).toByteArray();

function pseudo(src: number[], dst: number[], proto: number, len: number): number[] {
  return src.length === 4
    ? [...src, ...dst, 0, proto, len >> 8, len & 255]
    : [...src, ...dst, 0, 0, len >> 8, len & 255, 0, 0, 0, proto];
}

export function l4Bytes(src: number[], dst: number[], l4: L4): number[] {
  const payload = l4.payload ?? [];
  let seg: number[];
  if (l4.proto === 'tcp') {
    const opts = l4.tcpOptions ?? [];
    const doff = (20 + opts.length) / 4;
    seg = [l4.sport >> 8, l4.sport & 255, l4.dport >> 8, l4.dport & 255, 0, 0, 0, 1, 0, 0, 0, 0, doff << 4, l4.flags ?? 0x02, 0xff, 0xff, 0, 0, 0, 0, ...opts, ...payload];
  } else {
    const len = 8 + payload.length;
    seg = [l4.sport >> 8, l4.sport & 255, l4.dport >> 8, l4.dport & 255, len >> 8, len & 255, 0, 0, ...payload];
  }
  const at = l4.proto === 'tcp' ? 16 : 6;
  const ph = pseudo(src, dst, l4.proto === 'tcp' ? 6 : 17, seg.length);
  let c = 0;
  if (l4.csum === 'partial') c = sum16(ph);
  else if (l4.csum !== 'none') {
    c = csum(seg, sum16(ph));
    if (c === 0 && l4.proto === 'udp') c = 0xffff;
  }
  seg[at] = c >> 8;
  seg[at + 1] = c & 255;
  return seg;
}

export function ipv4(ip: Ip, body: number[], proto: number): Uint8Array {
  const opts = ip.ipOptions ?? [];
  const ihl = 20 + opts.length;
  const tot = ihl + body.length;
  const h = [0x40 | (ihl / 4), ip.tos ?? 0, tot >> 8, tot & 255, (ip.id ?? 0x1c46) >> 8, (ip.id ?? 0x1c46) & 255,
    ip.df === false ? 0 : 0x40, 0, ip.ttl ?? 64, proto, 0, 0, ...addr(ip.src), ...addr(ip.dst), ...opts];
  const c = csum(h);
  h[10] = c >> 8;
  h[11] = c & 255;
  return Uint8Array.from([...h, ...body]);
}

export function v4(ip: Ip, l4: L4): Uint8Array {
  return ipv4(ip, l4Bytes(addr(ip.src), addr(ip.dst), l4), l4.proto === 'tcp' ? 6 : 17);
}

export function v6(ip: Ip, l4: L4): Uint8Array {
  const body = l4Bytes(addr(ip.src), addr(ip.dst), l4);
  const proto = l4.proto === 'tcp' ? 6 : 17;
  const ext = ip.hopByHop ? [proto, 0, 1, 4, 0, 0, 0, 0] : [];
  const plen = ext.length + body.length;
  const h = [0x60 | ((ip.tos ?? 0) >> 4), ((ip.tos ?? 0) & 15) << 4, 0, 0, plen >> 8, plen & 255, ip.hopByHop ? 0 : proto, ip.ttl ?? 64, ...addr(ip.src), ...addr(ip.dst)];
  return Uint8Array.from([...h, ...ext, ...body]);
}

/** Checks every checksum of an IPv4/IPv6 TCP/UDP packet by full recomputation. */
export function checksumsOk(p: Uint8Array): boolean {
  const v = p[0] >> 4;
  let off: number, proto: number, src: number[], dst: number[], end: number;
  if (v === 4) {
    off = (p[0] & 15) * 4;
    if (sum16(p.subarray(0, off)) !== 0xffff) return false;
    proto = p[9];
    end = (p[2] << 8) | p[3];
    src = [...p.subarray(12, 16)];
    dst = [...p.subarray(16, 20)];
  } else {
    off = 40;
    proto = p[6];
    if (proto === 0) {
      proto = p[40];
      off = 40 + (p[41] + 1) * 8;
    }
    end = 40 + ((p[4] << 8) | p[5]);
    src = [...p.subarray(8, 24)];
    dst = [...p.subarray(24, 40)];
  }
  const seg = p.subarray(off, end);
  if (proto === 17 && v === 4 && seg[6] === 0 && seg[7] === 0) return true;
  if (proto !== 6 && proto !== 17) return true;
  return sum16(seg, sum16(pseudo(src, dst, proto, seg.length))) === 0xffff;
}
