// Memory map and record layouts shared with the SDK. Every constant here is
// mirrored into sdk/core/abi.gen.ts by scripts/gen-abi.mjs at build time,
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
/** Packets rewritten in place by the pkt* exports (gateway, playground packet view). */
export const REGION_PACKETS: u32 = REGION_DECISIONS + REGION_DECISIONS_SIZE;
export const REGION_PACKETS_SIZE: u32 = 512 * 1024;
/** Configuration records in for cfgBatch (table/bulk.ts: wasmvsadm -R). */
export const REGION_BULK: u32 = REGION_PACKETS + REGION_PACKETS_SIZE;
export const BULK_RECORD_SIZE: u32 = 96;
export const BULK_MAX: u32 = 4096;
export const REGION_BULK_SIZE: u32 = BULK_MAX * BULK_RECORD_SIZE;
/** Conntrack records in for ctApply (the gateway's fast-path feed; native/src/ct_socket.cc writes them). */
export const REGION_CT: u32 = REGION_BULK + REGION_BULK_SIZE;
export const CT_REC_SIZE: u32 = 144;
export const CT_MAX: u32 = MAX_BATCH;
export const REGION_CT_SIZE: u32 = CT_MAX * CT_REC_SIZE;
export const IO_TOTAL: u32 = REGION_CT + REGION_CT_SIZE;

// --- conntrack record (in at REGION_CT, CT_REC_SIZE each; ctApply) ---------
// One ctnetlink entry as the addon parsed it: a dump's record or an event.
// Numbers little-endian, addresses in the core's form (IPv4: one word; IPv6:
// four words at the *6 fields, the IPv4 fields 0), counters as f64.
export const CT_KIND: u32 = 0; // u8 CT_KIND_*
export const CT_PROTO: u32 = 1; // u8 6 tcp, 17 udp
export const CT_STATE: u32 = 2; // u8 nf_conntrack_tcp state (ESTABLISHED 3 .. CLOSE 8), 0 none
export const CT_CLOSE: u32 = 3; // u8 CLOSE_INIT seen: 1 original side, 2 reply side
export const CT_MARK: u32 = 4; // u32 ct mark
export const CT_ID: u32 = 8; // u32 conntrack id
export const CT_STATUS: u32 = 12; // u32 IPS_* bits
export const CT_TIMEOUT: u32 = 16; // u32 seconds left
export const CT_OSRC: u32 = 20; // u32 original tuple: client
export const CT_ODST: u32 = 24; // u32 original tuple: virtual address
export const CT_OSPORT: u32 = 28; // u16
export const CT_ODPORT: u32 = 30; // u16
export const CT_RSRC: u32 = 32; // u32 reply tuple: real server
export const CT_RDST: u32 = 36; // u32
export const CT_RSPORT: u32 = 40; // u16
export const CT_RDPORT: u32 = 42; // u16
export const CT_FAMILY: u32 = 44; // u8 4 or 6
export const CT_OPKTS: u32 = 48; // f64 packets client → real server (since the last read)
export const CT_OBYTES: u32 = 56; // f64
export const CT_RPKTS: u32 = 64; // f64 packets real server → client
export const CT_RBYTES: u32 = 72; // f64
export const CT_OSRC6: u32 = 80; // 16 bytes
export const CT_ODST6: u32 = 96; // 16 bytes
export const CT_RSRC6: u32 = 112; // 16 bytes
export const CT_RDST6: u32 = 128; // 16 bytes
export const CT_KIND_DUMP: u32 = 0;
export const CT_KIND_NEW: u32 = 1;
export const CT_KIND_UPDATE: u32 = 2;
export const CT_KIND_DESTROY: u32 = 3;
// ctApply's answers (out at REGION_LIST, CT_ACT_SIZE each): what the host does to an entry
export const CT_ACT_REC: u32 = 0; // u32 the record's index in REGION_CT
export const CT_ACT_KIND: u32 = 4; // u32 CT_ACT_*
export const CT_ACT_MARK: u32 = 8; // u32 the entry's new ct mark (settle, promote)
export const CT_ACT_SIZE: u32 = 12;
/** The core has no connection for a live entry: the host deletes it (its next packet meets the core again). */
export const CT_ACT_REMOVE: u32 = 1;
/** A TCP entry conntrack calls TIME_WAIT or CLOSE: the settled mark (and the host's short timeout). */
export const CT_ACT_SETTLE: u32 = 2;
/** A young entry listed: its young bits cleared, so every dump lists it from now on. */
export const CT_ACT_PROMOTE: u32 = 3;
// ctApply's summary (out at REGION_SPEC)
export const CT_SUM_FED: u32 = 0; // f64 packets handed to the statistics
export const CT_SUM_MATCHED: u32 = 8; // u32 records that met a connection

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
export const FLOW_DIR: u32 = 3; // u8 packet export only: FLOW_DIR_IN or FLOW_DIR_OUT
export const FLOW_DIR_IN: u32 = 0; // client → director: c = client, v = virtual
export const FLOW_DIR_OUT: u32 = 1; // reply: c = client (packet dst), v = packet source

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
// wasmvs, not IPVS: a health check failed (the proxy's checker); schedulers skip it like OVERLOAD.
export const DEST_F_DOWN: u32 = 0x4;
export const METHOD_MASQ: u32 = 0;
export const METHOD_LOCAL: u32 = 1;
export const METHOD_TUNNEL: u32 = 2;
export const METHOD_ROUTE: u32 = 3;
export const PROTO_TCP: u32 = 6;
export const PROTO_UDP: u32 = 17;
export const PROTO_SCTP: u32 = 132;

// --- stats record (out at REGION_SPEC, statsGet) ---------------------------
// Counters are shown values (after the -Z baseline); rates are the integers
// ipvsadm prints; the *_AVG fields are the raw scaled estimator averages
// (2^10 for cps/pps, 2^5 for bps). All u64/i64 little-endian.
export const ST_CONNS: u32 = 0;
export const ST_INPKTS: u32 = 8;
export const ST_OUTPKTS: u32 = 16;
export const ST_INBYTES: u32 = 24;
export const ST_OUTBYTES: u32 = 32;
export const ST_CPS: u32 = 40;
export const ST_INPPS: u32 = 48;
export const ST_OUTPPS: u32 = 56;
export const ST_INBPS: u32 = 64;
export const ST_OUTBPS: u32 = 72;
export const ST_AVG_CPS: u32 = 80;
export const ST_AVG_INPPS: u32 = 88;
export const ST_AVG_OUTPPS: u32 = 96;
export const ST_AVG_INBPS: u32 = 104;
export const ST_AVG_OUTBPS: u32 = 112;
export const ST_RECORD_SIZE: u32 = 120;
/** statsGet kinds. */
export const STATS_TOTAL: u32 = 0;
export const STATS_SERVICE: u32 = 1;
export const STATS_DEST: u32 = 2;

// --- connection table ----------------------------------------------------------
// Connection listing record (out at REGION_LIST, connList). Addresses as above.
export const CONN_ID: u32 = 0; // u32 handle
export const CONN_AF: u32 = 4; // u8 client-side family
export const CONN_PROTO: u32 = 5; // u8 6/17/132, 0 for fwmark templates ("IP")
export const CONN_STATE: u32 = 6; // u8 CONN_S_* (TCP state index, or UDP/NONE/ASSURED)
export const CONN_DAF: u32 = 7; // u8 real server family
export const CONN_FLAGS: u32 = 8; // u32 IP_VS_CONN_F_* (method, NOOUTPUT, INACTIVE, TEMPLATE)
export const CONN_EXPIRES: u32 = 12; // u32 seconds left
export const CONN_DEST: u32 = 16; // u32 destination handle
export const CONN_CPORT: u32 = 20; // u16
export const CONN_VPORT: u32 = 22; // u16
export const CONN_DPORT: u32 = 24; // u16
export const CONN_NCONTROL: u32 = 28; // u32 templates: connections controlled
export const CONN_CADDR: u32 = 32; // 16 bytes
export const CONN_VADDR: u32 = 48; // 16 bytes (fwmark templates: the mark in word 0)
export const CONN_DADDR: u32 = 64; // 16 bytes
export const CONN_RECORD_SIZE: u32 = 80;
// CONN_STATE values beyond the TCP states 0..10 (NONE..SYNACK)
export const CONN_S_UDP: u32 = 16;
export const CONN_S_ASSURED: u32 = 17;
// IP_VS_CONN_F_* bits reported in CONN_FLAGS
export const CONN_F_NOOUTPUT: u32 = 0x0080;
export const CONN_F_INACTIVE: u32 = 0x0100;
export const CONN_F_TEMPLATE: u32 = 0x1000;
export const CONN_F_ONE_PACKET: u32 = 0x2000;
// connEvent events (socket-level hosts)
export const CONN_EV_ESTABLISHED: u32 = 1;
export const CONN_EV_CLIENT_FIN: u32 = 2;
export const CONN_EV_SERVER_FIN: u32 = 3;
export const CONN_EV_RESET: u32 = 4;
export const CONN_EV_CLOSE: u32 = 5;
// setOption / getOption ids
export const OPT_CONN_REUSE_MODE: u32 = 1;
export const OPT_EXPIRE_NODEST_CONN: u32 = 2;
export const OPT_EXPIRE_QUIESCENT_TEMPLATE: u32 = 3;
export const OPT_CONN_LIMIT: u32 = 4;
export const OPT_SECURE_TCP: u32 = 5;
export const OPT_DROP_ENTRY: u32 = 6;
/** 0: schedule() only asks the scheduler, no entries (scheduler studies); default 1; 2: no entries,
 * but each decision counts one new (inactive) connection on its dest, ended by destConnEnd. */
export const OPT_TRACK_CONNS: u32 = 7;
/** The core's memory budget in 64 KiB pages (0 = wasm's own limit, 65536 = 4 GiB). Growth
 * beyond it fails cleanly (E_NOMEM, counted), and the automatic defenses switch on at 3/4 of it. */
export const OPT_MEM_LIMIT_PAGES: u32 = 8;
/** sloppy_tcp 0/1 (default 0): any TCP packet but a RST may create a connection, not only a SYN
 * (several directors behind ECMP: a rehashed flow's next packet is scheduled where it lands). */
export const OPT_SLOPPY_TCP: u32 = 9;


// --- gateway burst (gwBurst; packet/gateway.ts) ------------------------------
// Packet records in REGION_PACKETS at the host's stride, as the NFQUEUE addon
// writes them (native/src/nfq_socket.h); the IP packet starts at GW_REC_HEADER.
export const GW_REC_ID: u32 = 0; // u32 packet id
export const GW_REC_MARK: u32 = 4; // u32 skb mark
export const GW_REC_LEN: u32 = 8; // u32 bytes stored
export const GW_REC_ORIG_LEN: u32 = 12; // u32 length on the wire
export const GW_REC_FLAGS: u32 = 17; // u8 GW_RF_*
export const GW_REC_HEADER: u32 = 20;
// gwBurst's stride GW_STRIDE_PACKED: packed records, one after the other, each
// GW_REC_HEADER + its stored length rounded up to 4 + GW_REC_ROOM bytes (room
// for growth in place: TUN's outer header, an ICMP error quoting the packet).
export const GW_STRIDE_PACKED: u32 = 0;
export const GW_REC_ROOM: u32 = 64;
// gwOptions flags: GW_OPT_FAIL_OPEN, a packet the core cannot handle whole
// (truncated by the copy) is accepted untouched instead of dropped.
export const GW_OPT_FAIL_OPEN: u32 = 0x1;
export const GW_RF_TRUNCATED: u32 = 0x1;
export const GW_RF_CSUM_PARTIAL: u32 = 0x2;
export const GW_RF_GSO: u32 = 0x4;
// Verdict records out at REGION_LIST, the addon's verdicts() layout.
export const GW_VER_ID: u32 = 0; // u32 packet id
export const GW_VER_VERDICT: u32 = 4; // u32 NF_DROP 0 / NF_ACCEPT 1
export const GW_VER_FLAGS: u32 = 8; // u32 GW_VF_*
export const GW_VER_MARK: u32 = 12; // u32
export const GW_VER_OFF: u32 = 16; // u32 payload offset in REGION_PACKETS
export const GW_VER_LEN: u32 = 20; // u32 payload length
export const GW_VER_SIZE: u32 = 24;
export const GW_VF_MARK: u32 = 0x1;
export const GW_VF_PAYLOAD: u32 = 0x2;
/**
 * Beside GW_VF_PAYLOAD on a NAT rewrite towards a real server: GW_VER_MARK then holds the real
 * server's dest id (not a mark: the addon ignores both without GW_VF_MARK). The gateway holds such
 * a verdict while the kernel rules for that real server are not installed yet.
 */
export const GW_VF_NAT_IN: u32 = 0x4; // with GW_VF_PAYLOAD: a NAT rewrite towards a real server, GW_VER_MARK its dest id
/** DR: the verdict mark of a packet for dest id D is GW_DR_MARK_BASE + (D & GW_DR_SLOT_MASK). */
export const GW_DR_MARK_BASE: u32 = 0x57a00000;
export const GW_DR_SLOT_MASK: u32 = 0xfffff;

// --- bulk configuration records (cfgBatch; table/bulk.ts) ---------------------
export const BULK_OP: u32 = 0; // u32 BULK_* operation
export const BULK_STATUS: u32 = 4; // i32 out: id or OK (>= 0), else a status
export const BULK_SVC: u32 = 8; // service spec (SVC_* layout, SVC_SPEC_SIZE bytes)
export const BULK_DST: u32 = 56; // dest spec (DST_* layout, DST_SPEC_SIZE bytes)
export const BULK_ADD_SERVICE: u32 = 1;
export const BULK_EDIT_SERVICE: u32 = 2;
export const BULK_DELETE_SERVICE: u32 = 3;
export const BULK_ADD_DEST: u32 = 4;
export const BULK_EDIT_DEST: u32 = 5;
export const BULK_DELETE_DEST: u32 = 6;
