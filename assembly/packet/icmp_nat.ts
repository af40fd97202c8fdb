// ICMP errors about a NAT connection (reference §2.9), IPv4: a destination
// unreachable, source quench or time exceeded quotes the header and first 8
// bytes of a packet of the connection. The outer address and the quoted
// address/port on the same side are rewritten as IPVS's ip_vs_nat_icmp does;
// the quoted IP header checksum is updated, the quoted L4 checksum is left
// alone (it covers bytes the quote does not carry) and the ICMP checksum is
// recomputed over the whole message.
import { ld8, ld16, ld32, st16, st32 } from "./bytes";
import { checksum, update32 } from "./csum";
import { pkt } from "./parse";
import { target } from "./nat";
import { bump, CNT_PKT_MALFORMED_IP } from "../stats/counters";
import { PROTO_TCP, PROTO_UDP } from "../abi/layout";
import { PKT_CONTINUE, PKT_PASS, PKT_DROP } from "./verdict";

const ICMP_DEST_UNREACH: u32 = 3;
const ICMP_SOURCE_QUENCH: u32 = 4;
const ICMP_TIME_EXCEEDED: u32 = 11;

/**
 * The quoted packet: its offset in the buffer, its header length (IPv4 IHL,
 * IPv6 40 + extension headers) and its 5-tuple. Addresses are host-order
 * words; IPv4 uses src/dst alone (s1..s3, d1..d3 are 0).
 */
@unmanaged export class Quoted {
  af: u32 = 4;
  off: u32 = 0;
  hlen: u32 = 0;
  proto: u32 = 0;
  src: u32 = 0; s1: u32 = 0; s2: u32 = 0; s3: u32 = 0;
  dst: u32 = 0; d1: u32 = 0; d2: u32 = 0; d3: u32 = 0;
  sport: u32 = 0;
  dport: u32 = 0;
}

export const quoted = new Quoted();

/**
 * For a parsed IPv4 ICMP packet: PKT_CONTINUE when it is an error quoting a
 * TCP/UDP packet (quoted filled), PKT_PASS for other ICMP, PKT_DROP when the
 * quote is cut short (counted).
 */
export function parseIcmpError(p: usize): u32 {
  const icmp = pkt.l3len;
  if (pkt.af != 4 || pkt.proto != 1 || pkt.totLen < icmp + 8) return pass();
  const type = ld8(p + icmp);
  if (type != ICMP_DEST_UNREACH && type != ICMP_SOURCE_QUENCH && type != ICMP_TIME_EXCEEDED) return pass();
  const q = icmp + 8;
  if (pkt.totLen < q + 20 || ld8(p + q) >>> 4 != 4) return malformed();
  const ihl = (ld8(p + q) & 0xf) << 2;
  if (ihl < 20 || pkt.totLen < q + ihl + 8) return malformed();
  const proto = ld8(p + q + 9);
  if (proto != PROTO_TCP && proto != PROTO_UDP) return pass();
  quoted.af = 4;
  quoted.off = q;
  quoted.hlen = ihl;
  quoted.proto = proto;
  quoted.src = ld32(p + q + 12);
  quoted.dst = ld32(p + q + 16);
  quoted.s1 = 0; quoted.s2 = 0; quoted.s3 = 0;
  quoted.d1 = 0; quoted.d2 = 0; quoted.d3 = 0;
  quoted.sport = ld16(p + q + ihl);
  quoted.dport = ld16(p + q + ihl + 2);
  return PKT_CONTINUE;
}

/**
 * Rewrites to `target`: inbound (client -> VIP, about a reply VIP -> client)
 * the outer destination and the quoted source; outbound (real server ->
 * client, about client -> real server) the outer source and the quoted
 * destination.
 */
export function natIcmp(p: usize, inbound: bool): void {
  const q = quoted.off;
  const ihl = (ld8(p + q) & 0xf) << 2;
  const outerAt: u32 = inbound ? 16 : 12;
  const old = ld32(p + outerAt);
  st16(p + 10, update32(ld16(p + 10), old, target.w0));
  st32(p + outerAt, target.w0);
  const innerAt = q + (inbound ? 12 : 16);
  const oldInner = ld32(p + innerAt);
  st16(p + q + 10, update32(ld16(p + q + 10), oldInner, target.w0));
  st32(p + innerAt, target.w0);
  st16(p + q + ihl + (inbound ? 0 : 2), target.port);
  const icmp = p + pkt.l3len;
  st16(icmp + 2, 0);
  st16(icmp + 2, checksum(icmp, pkt.totLen - pkt.l3len));
}

/** Not an error about a TCP/UDP flow: passed untouched. parse() counted the packet as not balanced already. */
export function pass(): u32 {
  return PKT_PASS;
}

export function malformed(): u32 {
  bump(CNT_PKT_MALFORMED_IP);
  return PKT_DROP;
}
