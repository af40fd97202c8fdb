// IPVS tunneling (reference §3.3), IPv4 in IPv4: the packet (TTL already
// decremented by the caller) is wrapped in a new outer header addressed to
// the real server. Outer TOS = inner DS field with ECN encapsulation (CE
// becomes ECT(0), RFC 6040), TTL = inner TTL, DF copied from the inner
// header (pmtu_disc=1), a fresh IP id, protocol 4.
import { ld8, st8, st16, st32 } from "./bytes";
import { checksum } from "./csum";
import { nextIpId } from "./ipid";
import { pkt } from "./parse";

export const OUTER_LEN: u32 = 20;
const IPPROTO_IPIP: u32 = 4;
const ECN_MASK: u32 = 3;
const ECN_CE: u32 = 3;
const ECN_ECT0: u32 = 2;

/** Tunnel MTU check: true when the inner packet may not be sent (DF, too big, not GSO). */
export function tooBigForTunnel(mtu: u32, gso: bool): bool {
  if (gso || !pkt.df) return false;
  return pkt.totLen + OUTER_LEN > mtu;
}

/**
 * Moves the datagram OUTER_LEN bytes up (trailing link padding is dropped)
 * and writes the outer header; returns the new length.
 */
export function encapsulate(p: usize, src: u32, dst: u32): u32 {
  const inner = pkt.totLen;
  memory.copy(p + OUTER_LEN, p, inner);
  let tos = ld8(p + OUTER_LEN + 1);
  if ((tos & ECN_MASK) == ECN_CE) tos = (tos & ~ECN_MASK) | ECN_ECT0;
  st8(p, 0x45);
  st8(p + 1, tos);
  st16(p + 2, inner + OUTER_LEN);
  st16(p + 4, nextIpId());
  st16(p + 6, pkt.df ? 0x4000 : 0);
  st8(p + 8, pkt.ttl);
  st8(p + 9, IPPROTO_IPIP);
  st16(p + 10, 0);
  st32(p + 12, src);
  st32(p + 16, dst);
  st16(p + 10, checksum(p, OUTER_LEN));
  return inner + OUTER_LEN;
}
