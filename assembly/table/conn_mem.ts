// Raw-memory store of connection records: fixed 40-byte records in chunks of
// 2^14 (640 KiB = exactly 10 wasm pages, taken from mem/pages.ts; chunks
// never move, so a record index stays valid while the table grows), a free
// list threaded through R_HNEXT, and a side table for IPv6 addresses so IPv4
// entries stay small. Index 0 is never allocated: 0 = none.
//
// Record layout (offsets in bytes):
//   0 hnext   u32  next record in the hash chain (or the free list)
//   4 wnext   u32  next record in the timer-wheel slot
//   8 wprev   u32  previous record, or WHEEL_HEAD|slot for a slot's first
//  12 caddr   u32  IPv4 client address, or the IPv6 side-table index
//  16 vaddr   u32  IPv4 virtual address (fwmark for fwmark templates)
//  20 expires u32  absolute expiry, seconds
//  24 control u32  normal conn: its template; template: n_control
//  28 dest    u32  destination id (holds a reference)
//  32 cport   u16, 34 vport u16, 36 flags u16 (F_*),
//  38 state   u8: low nibble TCP state, high nibble in_pkts (saturating at 15)
//  39 gen     u8   generation of this slot (stale ids are rejected)
import { allocPages, freePages, pagesFor } from "../mem/pages";
import { Nums } from "../mem/vec";

export const R_HNEXT: usize = 0;
export const R_WNEXT: usize = 4;
export const R_WPREV: usize = 8;
export const R_CADDR: usize = 12;
export const R_VADDR: usize = 16;
export const R_EXPIRES: usize = 20;
export const R_CONTROL: usize = 24;
export const R_DEST: usize = 28;
export const R_CPORT: usize = 32;
export const R_VPORT: usize = 34;
export const R_FLAGS: usize = 36;
export const R_STATE: usize = 38;
export const R_GEN: usize = 39;
export const STRIDE: usize = 40;

// flags
export const F_METHOD: u32 = 0x3;
export const F_PROTO_SHIFT: u32 = 2; // 2 bits: 0 IP, 1 TCP, 2 UDP, 3 SCTP
export const F_NOOUTPUT: u32 = 0x10;
export const F_INACTIVE: u32 = 0x20;
export const F_TEMPLATE: u32 = 0x40;
export const F_V6: u32 = 0x80;
export const F_ASSURED: u32 = 0x100;
/** dport = vport (else the dest's port). */
export const F_DPV: u32 = 0x200;
/** Template whose timeout became 60 s after it outlived its own. */
export const F_T60: u32 = 0x400;
export const F_LIVE: u32 = 0x800;
export const F_OPS: u32 = 0x1000;
/** The conntrack feed reads this fast flow by its tuple (table/ct_track.ts). */
export const F_CTTRACK: u32 = 0x2000;

// Small chunks also fit the bucket arrays the index frees (16+ pages) when
// mem/pages.ts hands those out again.
const CHUNK_BITS: u32 = 14;
const CHUNK_MASK: u32 = (1 << CHUNK_BITS) - 1;
const CHUNK_BYTES: usize = <usize>(CHUNK_MASK + 1) * STRIDE;
const MAX_CHUNKS: i32 = 1024;
/** Largest record index + 1: ids keep 24 bits for the index. */
export const MAX_RECORDS: u32 = <u32>MAX_CHUNKS << CHUNK_BITS;

const chunks = changetype<Nums<usize>>(memory.data(1024 * 4, 4)); // MAX_CHUNKS entries
let nchunks: i32 = 0;
/** Next never-used index. */
let hwm: u32 = 1;
let freeHead: u32 = 0;
let live: u32 = 0;

/** Raw address of the chunk pointer table and its shift, for conn_lookup.ts's
 * reference-free batched lookup (chunks never move, the table is static). */
export function chunkTable(): usize { return changetype<usize>(chunks); }
export const REC_CHUNK_BITS: u32 = CHUNK_BITS;

@inline export function rec(i: u32): usize {
  return unchecked(chunks[<i32>(i >> CHUNK_BITS)]) + <usize>(i & CHUNK_MASK) * STRIDE;
}

/** Allocate a zeroed record (gen kept); 0 when the store is exhausted. */
export function allocRecord(): u32 {
  let i = freeHead;
  if (i != 0) {
    freeHead = load<u32>(rec(i) + R_HNEXT);
  } else {
    if (hwm >= MAX_RECORDS) return 0;
    if ((hwm >> CHUNK_BITS) >= <u32>nchunks) {
      const p = allocPages(pagesFor(CHUNK_BYTES));
      if (p == 0) return 0;
      memory.fill(p, 0, CHUNK_BYTES);
      unchecked((chunks[nchunks++] = p));
    }
    i = hwm++;
  }
  const p = rec(i);
  const gen = load<u8>(p + R_GEN);
  memory.fill(p, 0, STRIDE);
  store<u8>(p + R_GEN, gen);
  live++;
  return i;
}

export function freeRecord(i: u32): void {
  const p = rec(i);
  store<u16>(p + R_FLAGS, 0);
  store<u8>(p + R_GEN, <u8>(load<u8>(p + R_GEN) + 1));
  store<u32>(p + R_HNEXT, freeHead);
  freeHead = i;
  live--;
}

export function liveRecords(): u32 { return live; }
export function highWater(): u32 { return hwm; }
/** Bytes held by the record chunks (for the memory figure). */
export function recordBytes(): usize { return <usize>nchunks * CHUNK_BYTES; }

/** Connection id: gen << 24 | index. */
@inline export function connId(i: u32): u32 {
  return (<u32>load<u8>(rec(i) + R_GEN) << 24) | i;
}

/** The record index of a live connection id, or 0. */
export function indexOf(id: u32): u32 {
  const i = id & 0xFFFFFF;
  if (i == 0 || i >= hwm) return 0;
  const p = rec(i);
  if ((<u32>load<u16>(p + R_FLAGS) & F_LIVE) == 0) return 0;
  if (<u32>load<u8>(p + R_GEN) != id >> 24) return 0;
  return i;
}

@inline export function flagsOf(i: u32): u32 { return <u32>load<u16>(rec(i) + R_FLAGS); }
@inline export function setFlags(i: u32, f: u32): void { store<u16>(rec(i) + R_FLAGS, <u16>f); }
@inline export function stateOf(i: u32): u32 { return <u32>load<u8>(rec(i) + R_STATE) & 15; }
@inline export function setState(i: u32, s: u32): void {
  const p = rec(i) + R_STATE;
  store<u8>(p, <u8>((<u32>load<u8>(p) & 0xF0) | s));
}
@inline export function inPkts(i: u32): u32 { return <u32>load<u8>(rec(i) + R_STATE) >> 4; }
@inline export function bumpInPkts(i: u32): void {
  const p = rec(i) + R_STATE;
  const v = <u32>load<u8>(p);
  if (v < 0xF0) store<u8>(p, <u8>(v + 0x10));
}
@inline export function u32At(i: u32, off: usize): u32 { return load<u32>(rec(i) + off); }
@inline export function setU32(i: u32, off: usize, v: u32): void { store<u32>(rec(i) + off, v); }
@inline export function u16At(i: u32, off: usize): u32 { return <u32>load<u16>(rec(i) + off); }
@inline export function setU16(i: u32, off: usize, v: u32): void { store<u16>(rec(i) + off, <u16>v); }
@inline export function protoCode(proto: u32): u32 {
  return proto == 6 ? 1 : proto == 17 ? 2 : proto == 132 ? 3 : 0;
}
@inline export function protoOf(i: u32): u32 {
  const c = (flagsOf(i) >> F_PROTO_SHIFT) & 3;
  return c == 1 ? 6 : c == 2 ? 17 : c == 3 ? 132 : 0;
}

// --- IPv6 side table: 32 bytes per entry (client then virtual address) -----
let v6Base: usize = 0;
let v6Cap: u32 = 0;
let v6Hwm: u32 = 1;
let v6Free: u32 = 0;

/** A side-table entry for one IPv6 connection; 0 when memory is exhausted. */
export function allocV6(): u32 {
  let i = v6Free;
  if (i != 0) {
    v6Free = load<u32>(v6Base + <usize>i * 32);
    return i;
  }
  if (v6Hwm >= v6Cap && !growV6()) return 0;
  return v6Hwm++;
}

/** Double the side table (2048 entries = one page first), copying it. */
function growV6(): bool {
  const cap = v6Cap == 0 ? <u32>2048 : v6Cap << 1;
  if (cap > 0x1000000) return false;
  const p = allocPages(pagesFor(<usize>cap * 32));
  if (p == 0) return false;
  if (v6Base != 0) {
    memory.copy(p, v6Base, <usize>v6Cap * 32);
    freePages(v6Base, pagesFor(<usize>v6Cap * 32));
  }
  v6Base = p;
  v6Cap = cap;
  return true;
}

export function freeV6(i: u32): void {
  store<u32>(v6Base + <usize>i * 32, v6Free);
  v6Free = i;
}

/** Address word w (0..3) of the client (which 0) or virtual (1) address. */
@inline export function v6Word(i: u32, which: u32, w: u32): u32 {
  return load<u32>(v6Base + <usize>i * 32 + <usize>which * 16 + <usize>w * 4);
}
@inline export function setV6Word(i: u32, which: u32, w: u32, v: u32): void {
  store<u32>(v6Base + <usize>i * 32 + <usize>which * 16 + <usize>w * 4, v);
}
export function v6Bytes(): usize { return <usize>v6Cap * 32; }
