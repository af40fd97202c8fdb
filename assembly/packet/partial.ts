// Completing a CHECKSUM_PARTIAL L4 checksum (what the kernel's
// skb_checksum_help does). A queued packet whose payload the verdict replaces
// is marked CHECKSUM_NONE by nfnetlink_queue, so a field that still held only
// the pseudo-header sum would leave the host wrong: every rewrite of a packet
// whose record has GW_RF_CSUM_PARTIAL ends here.
import { ld16, st16 } from "./bytes";
import { sumBytes } from "./csum";
import { pkt } from "./parse";
import { PROTO_TCP, PROTO_UDP } from "../abi/layout";

/** The checksum field's offset in the L4 header of `proto`, or -1 when it has none we know. */
function checkOffset(proto: u32): i32 {
  if (proto == PROTO_TCP) return 16;
  if (proto == PROTO_UDP) return 6;
  if (proto == 1 || proto == 58) return 2; // ICMP, ICMPv6
  return -1;
}

/** Turns the partial checksum of the parsed packet at p into the full one. */
export function completePartial(p: usize): void {
  const rel = checkOffset(pkt.proto);
  if (rel < 0 || <u32>rel + 2 > pkt.l4len) return;
  const at = pkt.l4off + <u32>rel;
  if (ld16(p + at) == 0 && pkt.proto == PROTO_UDP && pkt.af == 4) return;
  // The field holds the pseudo-header sum, so summing the segment with it in
  // place adds exactly the pseudo-header: the result is the full sum.
  let ck = ~sumBytes(p + pkt.l4off, pkt.l4len, 0) & 0xffff;
  if (ck == 0 && pkt.proto == PROTO_UDP) ck = 0xffff;
  st16(p + at, ck);
}
