// ICMP and ICMPv6 errors in the gateway burst (reference §2.9): an error
// quoting a packet of a known connection is forwarded with the connection's
// method. From the client side it quotes a reply (VIP:vport -> client); from
// a NAT real server it quotes a forwarded packet (client -> RIP:rport) and is
// rewritten back to the VIP.
import { PKT_CONTINUE, PKT_DROP } from "./verdict";
import { parseIcmpError, natIcmp, quoted } from "./icmp_nat";
import { parseIcmp6Error, natIcmp6 } from "./icmp6_nat";
import { pkt } from "./parse";
import { ConnKey, lookupIn, lookupOut } from "../table/conn";

/** icmpLookup results. */
export const ICMP_NOT_OURS: i32 = 0;
export const ICMP_FROM_CLIENT: i32 = 1;
export const ICMP_FROM_SERVER: i32 = 2;
export const ICMP_MALFORMED: i32 = -1;

const key = new ConnKey();
/** The connection record index found by the last icmpLookup. */
export let icmpConn: u32 = 0;

/** The key with the quoted source (src true) or destination as the client side c. */
function fillKey(srcIsClient: bool): void {
  key.af = quoted.af;
  key.proto = quoted.proto;
  if (srcIsClient) {
    key.c0 = quoted.src; key.c1 = quoted.s1; key.c2 = quoted.s2; key.c3 = quoted.s3;
    key.v0 = quoted.dst; key.v1 = quoted.d1; key.v2 = quoted.d2; key.v3 = quoted.d3;
    key.cport = quoted.sport;
    key.vport = quoted.dport;
  } else {
    key.c0 = quoted.dst; key.c1 = quoted.d1; key.c2 = quoted.d2; key.c3 = quoted.d3;
    key.v0 = quoted.src; key.v1 = quoted.s1; key.v2 = quoted.s2; key.v3 = quoted.s3;
    key.cport = quoted.dport;
    key.vport = quoted.sport;
  }
}

/** For a parsed ICMP (IPv4) or ICMPv6 (IPv6) packet at p: which side of which connection it is about. */
export function icmpLookup(p: usize): i32 {
  const r = pkt.af == 6 ? parseIcmp6Error(p) : parseIcmpError(p);
  if (r == PKT_DROP) return ICMP_MALFORMED;
  if (r != PKT_CONTINUE) return ICMP_NOT_OURS;
  fillKey(false);
  icmpConn = lookupIn(key, false);
  if (icmpConn != 0) return ICMP_FROM_CLIENT;
  // lookupOut: c = the client (the quoted source), v = the real server.
  fillKey(true);
  icmpConn = lookupOut(key);
  if (icmpConn != 0) return ICMP_FROM_SERVER;
  return ICMP_NOT_OURS;
}

/** The NAT rewrite of the error icmpLookup parsed, to `target` (icmp_nat.ts, icmp6_nat.ts). */
export function icmpNatRewrite(p: usize, inbound: bool): void {
  if (pkt.af == 6) natIcmp6(p, inbound);
  else natIcmp(p, inbound);
}
