// TTL / hop-limit decrement as IPVS does before transmitting (reference §3):
// a packet that would leave with TTL 0 is dropped and counted instead.
import { ld16, st8, st16 } from "./bytes";
import { update16 } from "./csum";
import { pkt } from "./parse";
import { bump, CNT_PKT_TTL_EXPIRED } from "../stats/counters";

/** Decrements the TTL of the parsed packet at p; false when it expired (counted). */
export function decTtl(p: usize): bool {
  const ttl = pkt.ttl;
  if (ttl <= 1) {
    bump(CNT_PKT_TTL_EXPIRED);
    return false;
  }
  if (pkt.af == 4) {
    // TTL is the high byte of header word 4 (TTL, protocol).
    const proto = pkt.proto;
    st16(p + 10, update16(ld16(p + 10), (ttl << 8) | proto, ((ttl - 1) << 8) | proto));
    st8(p + 8, ttl - 1);
  } else {
    st8(p + 7, ttl - 1);
  }
  pkt.ttl = ttl - 1;
  return true;
}
