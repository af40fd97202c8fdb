// Memory map and record layouts shared with the SDK. Every constant here is
// mirrored into sdk/src/core/abi.gen.ts by scripts/gen-abi.mjs at build time,
// so keep each one a plain `export const NAME: type = expression;` line whose
// expression uses only numbers, + - * << | and earlier constants.
//
// All regions live in one block allocated at init; the SDK learns its base
// from `ioBase()` and must re-derive typed-array views after memory growth.

/** Largest batch of flows/decisions one call accepts. */
export const MAX_BATCH: u32 = 1024;

// --- regions (offsets from ioBase) ---------------------------------------
/** Scratch for one spec record in (service/dest/key) or one record out. */
export const REGION_SPEC: u32 = 0;
export const REGION_SPEC_SIZE: u32 = 256;
/** Listing output: records written by the *List exports. */
export const REGION_LIST: u32 = REGION_SPEC + REGION_SPEC_SIZE;
export const REGION_LIST_SIZE: u32 = 65536;
/** Flow records in, for schedule/lookup batches. */
export const REGION_FLOWS: u32 = REGION_LIST + REGION_LIST_SIZE;
export const FLOW_SIZE: u32 = 48;
export const REGION_FLOWS_SIZE: u32 = MAX_BATCH * FLOW_SIZE;
/** Decision records out, one per flow. */
export const REGION_DECISIONS: u32 = REGION_FLOWS + REGION_FLOWS_SIZE;
export const DECISION_SIZE: u32 = 32;
export const REGION_DECISIONS_SIZE: u32 = MAX_BATCH * DECISION_SIZE;
export const IO_TOTAL: u32 = REGION_DECISIONS + REGION_DECISIONS_SIZE;

// --- address: 16 bytes, four u32 words in host order -------------------------
// IPv4: word 0 holds the address (10.0.0.2 = 0x0A000002), words 1..3 are 0.
// IPv6: word i holds bytes 4i..4i+3 read big-endian.
export const ADDR_SIZE: u32 = 16;

// --- service spec (in at REGION_SPEC; also the head of a service record) ---
export const SVC_AF: u32 = 0; // u8: 4 or 6
export const SVC_PROTO: u32 = 1; // u8: 6 tcp, 17 udp, 132 sctp, 0 for fwmark
export const SVC_PORT: u32 = 2; // u16
export const SVC_FWMARK: u32 = 4; // u32, 0 = not a fwmark service
export const SVC_ADDR: u32 = 8; // 16 bytes
export const SVC_SCHED: u32 = 24; // u32 scheduler id (sched/registry)
export const SVC_FLAGS: u32 = 28; // u32 IP_VS_SVC_F_*
export const SVC_TIMEOUT: u32 = 32; // u32 persistence timeout, seconds
export const SVC_NETMASK: u32 = 36; // u32 IPv4 mask (host order) or IPv6 prefix length
export const SVC_MH_PRIME: u32 = 40; // u32 mh table size M (0 = 4093)
export const SVC_SPEC_SIZE: u32 = 48;
// service record (listing) = spec + these
export const SVC_ID: u32 = 48; // u32 handle
export const SVC_NDESTS: u32 = 52; // u32
export const SVC_RECORD_SIZE: u32 = 64;

// --- destination spec (in at REGION_SPEC; head of a dest record) ----------
export const DST_AF: u32 = 0; // u8
export const DST_METHOD: u32 = 1; // u8 IP_VS_CONN_F_* forwarding method
export const DST_PORT: u32 = 2; // u16
export const DST_ADDR: u32 = 4; // 16 bytes
export const DST_WEIGHT: u32 = 20; // i32
export const DST_UTHRESH: u32 = 24; // u32
export const DST_LTHRESH: u32 = 28; // u32
export const DST_TUN_TYPE: u32 = 32; // u8 0 ipip, 1 gue, 2 gre
export const DST_TUN_FLAGS: u32 = 33; // u8 0 nocsum, 1 csum, 2 remcsum
export const DST_TUN_PORT: u32 = 34; // u16
export const DST_SPEC_SIZE: u32 = 36;
// destination record (listing) = spec + these
export const DST_ID: u32 = 36; // u32 handle
export const DST_FLAGS: u32 = 40; // u32 IP_VS_DEST_F_*
export const DST_ACTIVE: u32 = 44; // u32 activeconns
export const DST_INACTIVE: u32 = 48; // u32 inactconns
export const DST_PERSIST: u32 = 52; // u32 persistconns
export const DST_LAST_WEIGHT: u32 = 56; // i32 last non-zero weight (mh)
export const DST_RECORD_SIZE: u32 = 64;

// --- flow record (in) -----------------------------------------------------
export const FLOW_AF: u32 = 0; // u8
export const FLOW_PROTO: u32 = 1; // u8
export const FLOW_TCPFLAGS: u32 = 2; // u8 TCP flags of the packet that made it (SYN=0x02)
export const FLOW_FWMARK: u32 = 4; // u32 packet mark, 0 = none
export const FLOW_CADDR: u32 = 8; // 16 bytes client address
export const FLOW_VADDR: u32 = 24; // 16 bytes virtual address
export const FLOW_CPORT: u32 = 40; // u16
export const FLOW_VPORT: u32 = 42; // u16
export const FLOW_LEN: u32 = 44; // u32 packet length in bytes (stats), 0 = none

// --- decision record (out) ------------------------------------------------
export const DEC_STATUS: u32 = 0; // i32 >= 0 ok, else a status code
export const DEC_CONN: u32 = 4; // u32 connection handle, 0 = none (OPS)
export const DEC_DEST: u32 = 8; // u32 destination handle
export const DEC_METHOD: u32 = 12; // u8 forwarding method
export const DEC_DAF: u32 = 13; // u8 real server family
export const DEC_DPORT: u32 = 14; // u16 real server port
export const DEC_DADDR: u32 = 16; // 16 bytes real server address

// --- IPVS constants (include/uapi/linux/ip_vs.h) ---------------------------
export const SVC_F_PERSISTENT: u32 = 0x1;
export const SVC_F_HASHED: u32 = 0x2;
export const SVC_F_ONEPACKET: u32 = 0x4;
export const SVC_F_SCHED1: u32 = 0x8;
export const SVC_F_SCHED2: u32 = 0x10;
export const SVC_F_SCHED3: u32 = 0x20;
export const DEST_F_AVAILABLE: u32 = 0x1;
export const DEST_F_OVERLOAD: u32 = 0x2;
export const METHOD_MASQ: u32 = 0;
export const METHOD_LOCAL: u32 = 1;
export const METHOD_TUNNEL: u32 = 2;
export const METHOD_ROUTE: u32 = 3;
export const PROTO_TCP: u32 = 6;
export const PROTO_UDP: u32 = 17;
export const PROTO_SCTP: u32 = 132;
