// NAT rewrite (IPVS masquerading, reference §3.1): the destination becomes
// the real server on the way in, the source becomes VIP:vport on replies.
// Checksums are updated incrementally: the IPv4 header for the address, the
// TCP/UDP checksum for the address (pseudo-header) and the port. A partial
// (offloaded) L4 checksum only holds the pseudo-header, so only the address
// enters it (then partial.ts completes it). An IPv4 UDP checksum of 0 means
// "none" and stays 0.
import { ld16, st16, st32 } from "./bytes";
import { update16, update32, partial32 } from "./csum";
import { pkt } from "./parse";
import { PROTO_UDP } from "../abi/layout";

/** The new address (host-order words, IPv4 in w0) and port of one side. */
@unmanaged export class Endpoint {
  w0: u32 = 0; w1: u32 = 0; w2: u32 = 0; w3: u32 = 0;
  port: u32 = 0;
}

export const target = new Endpoint();

/** L4 checksum offset inside the transport header. */
@inline function l4CheckOff(): u32 {
  return pkt.proto == PROTO_UDP ? 6 : 16;
}

/** Rewrites the destination (dst = true) or the source of the parsed packet at p. */
export function natRewrite(p: usize, dst: bool, partial: bool): void {
  const addrOff: u32 = pkt.af == 4 ? (dst ? 16 : 12) : (dst ? 24 : 8);
  const portOff = pkt.l4off + (dst ? 2 : 0);
  const ckOff = pkt.l4off + l4CheckOff();
  const o0 = dst ? pkt.d0 : pkt.s0, o1 = dst ? pkt.d1 : pkt.s1;
  const o2 = dst ? pkt.d2 : pkt.s2, o3 = dst ? pkt.d3 : pkt.s3;
  const oldPort = dst ? pkt.dport : pkt.sport;
  let ck = ld16(p + ckOff);
  const noCsum = pkt.af == 4 && pkt.proto == PROTO_UDP && ck == 0;
  if (!noCsum) {
    if (partial) {
      // Only the pseudo-header part (addresses) is in the field; the caller
      // completes it afterwards (partial.ts), which also covers the port.
      ck = partial32(ck, o0, target.w0);
      if (pkt.af == 6) ck = partial32(partial32(partial32(ck, o1, target.w1), o2, target.w2), o3, target.w3);
    } else {
      ck = update32(ck, o0, target.w0);
      if (pkt.af == 6) ck = update32(update32(update32(ck, o1, target.w1), o2, target.w2), o3, target.w3);
      ck = update16(ck, oldPort, target.port);
      // UDP transmits a computed 0 as 0xffff; 0 would mean "no checksum".
      if (ck == 0 && pkt.proto == PROTO_UDP) ck = 0xffff;
    }
    st16(p + ckOff, ck);
  }
  if (pkt.af == 4) st16(p + 10, update32(ld16(p + 10), o0, target.w0));
  st32(p + addrOff, target.w0);
  if (pkt.af == 6) {
    st32(p + addrOff + 4, target.w1);
    st32(p + addrOff + 8, target.w2);
    st32(p + addrOff + 12, target.w3);
  }
  st16(p + portOff, target.port);
  if (dst) {
    pkt.d0 = target.w0; pkt.d1 = target.w1; pkt.d2 = target.w2; pkt.d3 = target.w3;
    pkt.dport = target.port;
  } else {
    pkt.s0 = target.w0; pkt.s1 = target.w1; pkt.s2 = target.w2; pkt.s3 = target.w3;
    pkt.sport = target.port;
  }
}
