// What parsing a packet concluded; the gateway burst turns each into an
// NFQUEUE verdict (packet/gateway.ts). Internal: only verdict records cross
// the ABI.
/** Parsed, and TCP or UDP: go on to the connection table. */
export const PKT_CONTINUE: u32 = 0;
/** Valid but not something the director balances: accept unchanged. */
export const PKT_PASS: u32 = 1;
/** Drop; a CNT_PKT_* counter says why. */
export const PKT_DROP: u32 = 3;
