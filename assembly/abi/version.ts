// ABI version: major << 16 | minor << 8 | patch. Bump major when a record
// layout or an export's meaning changes; the SDK refuses a core whose major
// differs from the one it was built against.
export const ABI_VERSION: u32 = (1 << 16) | (5 << 8) | 0;
/** IPVS version the behaviour follows (1.2.1), as ipvsadm prints it. */
export const IPVS_VERSION: u32 = 0x010201;
