// Named global counters (ABI: the index is stable; the SDK names them in
// sdk/core). Failures bump a counter instead of logging.
import { Nums } from "../mem/vec";
export const CNT_SCHEDULED: i32 = 0;
export const CNT_NO_DEST: i32 = 1;
export const CNT_NOT_OURS: i32 = 2;
export const CNT_PORT_MISMATCH: i32 = 3;
export const CNT_NO_SCHEDULER: i32 = 4;
export const CNT_BAD_FLOW: i32 = 5;
export const CNT_CONN_NEW: i32 = 6;
export const CNT_CONN_EXPIRED: i32 = 7;
export const CNT_TEMPLATE_NEW: i32 = 8;
export const CNT_TEMPLATE_INVALIDATED: i32 = 9;
export const CNT_TEMPLATE_REARMED: i32 = 10;
export const CNT_CONN_REUSED: i32 = 11;
export const CNT_DROP_NODEST: i32 = 12;
export const CNT_EXPIRE_NODEST: i32 = 13;
export const CNT_NO_CONN: i32 = 14;
export const CNT_EVICT_HALF_OPEN: i32 = 15;
export const CNT_EVICT_IDLE: i32 = 16;
export const CNT_EVICT_ESTABLISHED: i32 = 17;
export const CNT_CONN_LIMIT: i32 = 18;
export const CNT_DROP_ENTRY: i32 = 19;
export const CNT_OPS: i32 = 20;
export const CNT_CONN_NOMEM: i32 = 21;
/** Entries the connection-limit evictor looked at while searching for victims (its work). */
export const CNT_EVICT_SCANNED: i32 = 22;
// Packet path (packet/*.ts): a block from 32 on, clear of the table's counters.
export const CNT_PKT_MALFORMED_IP: i32 = 32;
export const CNT_PKT_BAD_CSUM: i32 = 33;
export const CNT_PKT_TRUNC_L4: i32 = 34;
export const CNT_PKT_FRAGMENT: i32 = 35;
export const CNT_PKT_TTL_EXPIRED: i32 = 36;
export const CNT_PKT_FRAG_NEEDED: i32 = 37;
export const CNT_PKT_NOT_BALANCED: i32 = 38;
export const CNT_PKT_NO_ROOM: i32 = 39;
export const CNT_PKT_UNSUPPORTED: i32 = 40;
// Gateway burst (packet/gateway.ts): a block from 48 on.
export const CNT_GW_PACKETS: i32 = 48;
export const CNT_GW_FORWARDED: i32 = 49;
export const CNT_GW_PASSED: i32 = 50;
export const CNT_GW_DROPPED: i32 = 51;
export const CNT_GW_TRUNCATED: i32 = 52;
export const CNT_GW_REPLIES: i32 = 53;
export const CNT_GW_ICMP_SENT: i32 = 54;
/** Packets that opened a fast-path flow: accepted with their real server's fast mark (gwFastDest), not rewritten. */
export const CNT_GW_FAST_MARKED: i32 = 55;
export const CNT_MAX: i32 = 64;

const counters = changetype<Nums<u64>>(memory.data(64 * 8, 8)); // CNT_MAX entries

@inline export function addTo(i: i32, n: u64): void {
  unchecked((counters[i] += n));
}

@inline export function bump(i: i32): void {
  unchecked((counters[i] += 1));
}

export function counterValue(i: i32): u64 {
  if (i < 0 || i >= CNT_MAX) return 0;
  return unchecked(counters[i]);
}
