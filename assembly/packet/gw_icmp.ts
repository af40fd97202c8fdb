// ICMP errors in the gateway burst (reference §2.9): an error quoting a
// packet of a known connection is forwarded with the connection's method.
// From the client side it quotes a reply (VIP:vport -> client); from a NAT
// real server it quotes a forwarded packet (client -> RIP:rport) and is
// rewritten back to the VIP. IPv4 only, like the ICMP NAT rewrite itself.
import { PKT_CONTINUE, PKT_DROP } from "../abi/layout";
import { parseIcmpError, quoted } from "./icmp_nat";
import { ConnKey, lookupIn, lookupOut } from "../table/conn";

/** icmpLookup results. */
export const ICMP_NOT_OURS: i32 = 0;
export const ICMP_FROM_CLIENT: i32 = 1;
export const ICMP_FROM_SERVER: i32 = 2;
export const ICMP_MALFORMED: i32 = -1;

const key = new ConnKey();
/** The connection record index found by the last icmpLookup. */
export let icmpConn: u32 = 0;

function fillKey(c: u32, cport: u32, v: u32, vport: u32): void {
  key.af = 4;
  key.proto = quoted.proto;
  key.c0 = c; key.c1 = 0; key.c2 = 0; key.c3 = 0;
  key.v0 = v; key.v1 = 0; key.v2 = 0; key.v3 = 0;
  key.cport = cport;
  key.vport = vport;
}

/** For a parsed IPv4 ICMP packet at p: which side of which connection it is about. */
export function icmpLookup(p: usize): i32 {
  const r = parseIcmpError(p);
  if (r == PKT_DROP) return ICMP_MALFORMED;
  if (r != PKT_CONTINUE) return ICMP_NOT_OURS;
  fillKey(quoted.dst, quoted.dport, quoted.src, quoted.sport);
  icmpConn = lookupIn(key, false);
  if (icmpConn != 0) return ICMP_FROM_CLIENT;
  // lookupOut: c = the client (the quoted source), v = the real server.
  fillKey(quoted.src, quoted.sport, quoted.dst, quoted.dport);
  icmpConn = lookupOut(key);
  if (icmpConn != 0) return ICMP_FROM_SERVER;
  return ICMP_NOT_OURS;
}
