// Parses an IPv4/IPv6 packet with TCP or UDP in linear memory, with every
// length checked against the bytes actually present. The result goes into
// one shared Parsed instance: parsing never allocates.
import { ld8, ld16, ld32 } from "./bytes";
import { sumBytes } from "./csum";
import { bump, CNT_PKT_MALFORMED_IP, CNT_PKT_BAD_CSUM, CNT_PKT_TRUNC_L4, CNT_PKT_FRAGMENT, CNT_PKT_NOT_BALANCED } from "../stats/counters";
import { PROTO_TCP, PROTO_UDP } from "../abi/layout";
import { PKT_CONTINUE, PKT_PASS, PKT_DROP } from "./verdict";

@unmanaged export class Parsed {
  af: u32 = 0;
  /** IPv4 header length, or 40 + extension headers for IPv6. */
  l3len: u32 = 0;
  /** Datagram length from the IP header (<= bytes present; trailing padding excluded). */
  totLen: u32 = 0;
  proto: u32 = 0;
  l4off: u32 = 0;
  l4len: u32 = 0;
  sport: u32 = 0;
  dport: u32 = 0;
  tcpflags: u32 = 0;
  ttl: u32 = 0;
  /** IPv4 DF bit (IPv6 is never fragmented on the way: treated as set). */
  df: bool = false;
  /** Addresses as four host-order words (IPv4 in s0/d0, the rest 0). */
  s0: u32 = 0; s1: u32 = 0; s2: u32 = 0; s3: u32 = 0;
  d0: u32 = 0; d1: u32 = 0; d2: u32 = 0; d3: u32 = 0;
}

export const pkt = new Parsed();

const IPV6_MAX_EXT: i32 = 8;

/** PKT_CONTINUE (pkt filled), PKT_PASS (valid, not balanced) or PKT_DROP (malformed, counted). */
export function parse(p: usize, len: u32): u32 {
  const r = parseIp(p, len);
  if (r != PKT_CONTINUE) return r;
  return parseL4(p);
}

/** The IP layer only: PKT_CONTINUE with pkt's IP fields and proto filled, or PKT_DROP. */
export function parseIp(p: usize, len: u32): u32 {
  if (len < 1) return malformed();
  const v = ld8(p) >>> 4;
  if (v == 4) return parse4(p, len);
  if (v == 6) return parse6(p, len);
  return malformed();
}

function parse4(p: usize, len: u32): u32 {
  if (len < 20) return malformed();
  const ihl = (ld8(p) & 0xf) << 2;
  const tot = ld16(p + 2);
  if (ihl < 20 || ihl > len || tot < ihl || tot > len) return malformed();
  if (sumBytes(p, ihl, 0) != 0xffff) {
    bump(CNT_PKT_BAD_CSUM);
    return PKT_DROP;
  }
  const frag = ld16(p + 6);
  pkt.af = 4;
  pkt.l3len = ihl;
  pkt.totLen = tot;
  pkt.proto = ld8(p + 9);
  pkt.ttl = ld8(p + 8);
  pkt.df = (frag & 0x4000) != 0;
  pkt.s0 = ld32(p + 12); pkt.s1 = 0; pkt.s2 = 0; pkt.s3 = 0;
  pkt.d0 = ld32(p + 16); pkt.d1 = 0; pkt.d2 = 0; pkt.d3 = 0;
  // Any fragment (MF set or a non-zero offset) lacks part of the L4 data the
  // rewrite and the conn lookup need; the host may let the kernel reassemble.
  if ((frag & 0x3fff) != 0) return fragment();
  return PKT_CONTINUE;
}

function parse6(p: usize, len: u32): u32 {
  if (len < 40) return malformed();
  const tot: u32 = 40 + ld16(p + 4);
  if (tot > len) return malformed();
  pkt.af = 6;
  pkt.totLen = tot;
  pkt.ttl = ld8(p + 7);
  pkt.df = true;
  pkt.s0 = ld32(p + 8); pkt.s1 = ld32(p + 12); pkt.s2 = ld32(p + 16); pkt.s3 = ld32(p + 20);
  pkt.d0 = ld32(p + 24); pkt.d1 = ld32(p + 28); pkt.d2 = ld32(p + 32); pkt.d3 = ld32(p + 36);
  let next = ld8(p + 6);
  let off: u32 = 40;
  // Hop-by-hop, routing and destination options are skipped (bounded walk).
  for (let i = 0; i < IPV6_MAX_EXT && (next == 0 || next == 43 || next == 60 || next == 44); i++) {
    if (next == 44) return fragment();
    if (off + 8 > tot) return malformed();
    const hlen = (ld8(p + off + 1) + 1) << 3;
    if (off + hlen > tot) return malformed();
    next = ld8(p + off);
    off += hlen;
  }
  pkt.l3len = off;
  pkt.proto = next;
  return PKT_CONTINUE;
}

function parseL4(p: usize): u32 {
  const proto = pkt.proto;
  const off = pkt.l3len;
  const l4len = pkt.totLen - off;
  // Set for every protocol: ICMP errors forwarded by the gateway complete
  // their checksum from these too (a stale offset would write elsewhere).
  pkt.l4off = off;
  pkt.l4len = l4len;
  if (proto != PROTO_TCP && proto != PROTO_UDP) {
    bump(CNT_PKT_NOT_BALANCED);
    return PKT_PASS;
  }
  if (proto == PROTO_TCP) {
    if (l4len < 20) return truncated();
    const doff = (ld8(p + off + 12) >>> 4) << 2;
    if (doff < 20 || doff > l4len) return truncated();
    pkt.tcpflags = ld8(p + off + 13);
  } else {
    if (l4len < 8) return truncated();
    const ulen = ld16(p + off + 4);
    if (ulen < 8 || ulen > l4len) return truncated();
    pkt.tcpflags = 0;
  }
  pkt.sport = ld16(p + off);
  pkt.dport = ld16(p + off + 2);
  return PKT_CONTINUE;
}

function malformed(): u32 {
  bump(CNT_PKT_MALFORMED_IP);
  return PKT_DROP;
}

function truncated(): u32 {
  bump(CNT_PKT_TRUNC_L4);
  return PKT_DROP;
}

function fragment(): u32 {
  bump(CNT_PKT_FRAGMENT);
  return PKT_DROP;
}
