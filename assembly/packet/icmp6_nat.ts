// ICMPv6 errors about a connection (reference §2.9; the kernel's
// ip_vs_in_icmp_v6 / ip_vs_out_icmp_v6 and ip_vs_nat_icmp_v6). An error
// message (type < 128: destination unreachable, packet too big, time
// exceeded, parameter problem) quotes as much of the offending packet as fits
// in the minimum MTU; its TCP/UDP ports follow the quoted IPv6 header and
// any extension headers. For NAT the outer address and the quoted
// address/port on the same side are rewritten. IPv6 headers carry no
// checksum; the quoted L4 checksum is left alone as IPVS does (it covers
// bytes the quote may not carry); the ICMPv6 checksum, which covers a
// pseudo-header of the outer addresses, is recomputed over the whole message.
import { ld8, ld16, ld32, st16, st32 } from "./bytes";
import { sumBytes, fold } from "./csum";
import { pkt } from "./parse";
import { target } from "./nat";
import { quoted, pass, malformed } from "./icmp_nat";
import { PROTO_TCP, PROTO_UDP } from "../abi/layout";
import { PKT_CONTINUE } from "./verdict";

const PROTO_ICMPV6: u32 = 58;
/** Types from 128 up are informational (echo, neighbour discovery): never about a connection. */
const ICMPV6_INFOMSG: u32 = 128;
const MAX_EXT: i32 = 8;

/**
 * For a parsed IPv6 packet: PKT_CONTINUE when it is an ICMPv6 error quoting
 * a TCP/UDP packet (quoted filled), PKT_PASS for other ICMPv6 or a quoted
 * non-first fragment (no ports), PKT_DROP when the quote is cut short
 * (counted).
 */
export function parseIcmp6Error(p: usize): u32 {
  const icmp = pkt.l3len;
  if (pkt.af != 6 || pkt.proto != PROTO_ICMPV6 || pkt.totLen < icmp + 8) return pass();
  if (ld8(p + icmp) >= ICMPV6_INFOMSG) return pass();
  const q = icmp + 8;
  if (pkt.totLen < q + 40 || ld8(p + q) >>> 4 != 6) return malformed();
  let next = ld8(p + q + 6);
  let off: u32 = 40;
  // Hop-by-hop, routing, destination options and a first fragment's header are skipped (bounded walk).
  for (let i = 0; i < MAX_EXT && (next == 0 || next == 43 || next == 60 || next == 44); i++) {
    if (pkt.totLen < q + off + 8) return malformed();
    if (next == 44 && (ld16(p + q + off + 2) & 0xfff8) != 0) return pass();
    const hlen: u32 = next == 44 ? 8 : (ld8(p + q + off + 1) + 1) << 3;
    next = ld8(p + q + off);
    off += hlen;
  }
  if (next != PROTO_TCP && next != PROTO_UDP) return pass();
  if (pkt.totLen < q + off + 8) return malformed();
  quoted.af = 6;
  quoted.off = q;
  quoted.hlen = off;
  quoted.proto = next;
  quoted.src = ld32(p + q + 8); quoted.s1 = ld32(p + q + 12); quoted.s2 = ld32(p + q + 16); quoted.s3 = ld32(p + q + 20);
  quoted.dst = ld32(p + q + 24); quoted.d1 = ld32(p + q + 28); quoted.d2 = ld32(p + q + 32); quoted.d3 = ld32(p + q + 36);
  quoted.sport = ld16(p + q + off);
  quoted.dport = ld16(p + q + off + 2);
  return PKT_CONTINUE;
}

/** Writes target's four address words at p. */
function storeTarget(p: usize): void {
  st32(p, target.w0);
  st32(p + 4, target.w1);
  st32(p + 8, target.w2);
  st32(p + 12, target.w3);
}

/**
 * Rewrites to `target`: inbound (client -> VIP, about a reply VIP -> client)
 * the outer destination and the quoted source address and port; outbound
 * (real server -> client, about client -> real server) the outer source and
 * the quoted destination address and port. Then the ICMPv6 checksum.
 */
export function natIcmp6(p: usize, inbound: bool): void {
  const q = quoted.off;
  storeTarget(p + (inbound ? 24 : 8));
  storeTarget(p + q + (inbound ? 8 : 24));
  st16(p + q + quoted.hlen + (inbound ? 0 : 2), target.port);
  const icmp = pkt.l3len;
  const len = pkt.totLen - icmp;
  st16(p + icmp + 2, 0);
  // RFC 8200 §8.1 pseudo-header: source, destination, upper-layer length (32 bits), next header.
  let sum = sumBytes(p + 8, 32, 0);
  sum = fold(sum + (len >>> 16) + (len & 0xffff) + PROTO_ICMPV6);
  st16(p + icmp + 2, ~sumBytes(p + icmp, len, sum) & 0xffff);
}
