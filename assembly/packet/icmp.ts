// ICMP "fragmentation needed" (type 3 code 4, RFC 1191) built in place of
// the offending IPv4 packet, for the host to send back to the packet's
// source. Like the kernel's icmp_send it quotes as much of the original as
// fits in 576 bytes and comes from the address the client was talking to.
import { ld32, st8, st16, st32 } from "./bytes";
import { checksum } from "./csum";
import { nextIpId } from "./ipid";
import { pkt } from "./parse";

const ICMP_MAX: u32 = 576;
const HDRS: u32 = 28; // IPv4 header (20) + ICMP header (8)
const TOS_INTERNETCONTROL: u32 = 0xc0;

/** Bytes the error needs for the parsed packet (the slot must hold them). */
export function fragNeededLen(): u32 {
  const q = pkt.totLen < ICMP_MAX - HDRS ? pkt.totLen : ICMP_MAX - HDRS;
  return HDRS + q;
}

/** Replaces the parsed IPv4 packet at p by the error; returns its length. */
export function buildFragNeeded(p: usize, mtu: u32): u32 {
  const total = fragNeededLen();
  const quoted = total - HDRS;
  const src = ld32(p + 16); // the VIP the client sent to
  const dst = ld32(p + 12); // the client
  memory.copy(p + HDRS, p, quoted);
  st8(p, 0x45);
  st8(p + 1, TOS_INTERNETCONTROL);
  st16(p + 2, total);
  st16(p + 4, nextIpId());
  st16(p + 6, 0);
  st8(p + 8, 64);
  st8(p + 9, 1);
  st16(p + 10, 0);
  st32(p + 12, src);
  st32(p + 16, dst);
  st16(p + 10, checksum(p, 20));
  const icmp = p + 20;
  st8(icmp, 3);
  st8(icmp + 1, 4);
  st16(icmp + 2, 0);
  st16(icmp + 4, 0);
  st16(icmp + 6, mtu);
  st16(icmp + 2, checksum(icmp, 8 + quoted));
  return total;
}

