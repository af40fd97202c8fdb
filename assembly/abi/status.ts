// Status codes returned by every export: >= 0 is a value or count, < 0 one of
// these. The SDK maps each to a WasmvsError subclass (sdk/errors.ts); the
// CLI maps those to ipvsadm's messages. Keep the numbers stable: they are ABI.
export const OK: i32 = 0;
/** Service or destination already exists (EEXIST). */
export const E_EXIST: i32 = -1;
/** No such service (ESRCH); for destination calls ipvsadm says "Service not defined". */
export const E_NOSERVICE: i32 = -2;
/** No such destination (ENOENT). */
export const E_NODEST: i32 = -3;
/** Scheduler or persistence engine not found (ENOENT on service calls). */
export const E_NOSCHED: i32 = -4;
/** Invalid argument (EINVAL): bad family, bad prefix, too many dests for mh… */
export const E_INVAL: i32 = -5;
/** Value out of range (ERANGE): l_threshold > u_threshold, weight < 0. */
export const E_RANGE: i32 = -6;
/** A handle whose generation no longer matches (object was deleted). */
export const E_STALE: i32 = -7;
/** The scheduler found no usable destination. */
export const E_NO_DEST_AVAILABLE: i32 = -8;
/** Memory could not be grown. */
export const E_NOMEM: i32 = -9;
/** No virtual service matches the flow: not ours, pass it on. */
export const E_NOT_OURS: i32 = -10;
/** Batch larger than the flow region. */
export const E_BATCH: i32 = -11;
/** A flag that the chosen scheduler does not understand. */
export const E_SCHED_FLAG: i32 = -12;
/** Port 0 on a non-persistent, non-fwmark service / port mismatch. */
export const E_PORT: i32 = -13;
/** Connection table is full and nothing could be evicted. */
export const E_CONN_LIMIT: i32 = -14;
/** No such connection. */
export const E_NOCONN: i32 = -15;
/** Packet dropped: its connection's destination was deleted (expire_nodest_conn=0). */
export const E_DROP: i32 = -16;
