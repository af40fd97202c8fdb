// The service table: two seeded open-addressing indexes (by af/protocol/VIP/
// port and by af/fwmark) that double when their load passes 3/4, so lookup
// stays O(1) at any number of services. Lookup order is ip_vs_service_find's:
// fwmark, exact, the FTP data rule, then the port-0 service of the VIP.
//
// An index entry is one u32: the service record's address >> 4 (records come
// 16-byte aligned from alloc.ts, and wasm32 addresses fit 28 bits after the
// shift) with 4 bits of the key's hash on top as a tag. Linear probing keeps
// a probe sequence in one cache line of the index, the tag skips the records
// of other keys, so a lookup reads the index line and the one record that
// matches (key and hot fields in its first line): no chain of other services'
// records as with buckets. Deletion shifts the following entries back
// (no tombstones), so a miss stops at the first empty entry.
import { Service } from "./service";
import { Dest } from "./dest";
import { Slots } from "../mem/slots";
import { alloc, free } from "../mem/alloc";
import { fmix32 } from "../mem/hash";
import { MAX_BATCH, PROTO_TCP, FLOW_SIZE, FLOW_AF, FLOW_PROTO, FLOW_FWMARK, FLOW_VADDR, FLOW_VPORT } from "../abi/layout";
import { estimatorAdd, estimatorRemove } from "../stats/estimator";

export const services = new Slots<Service>();

let seed: u32 = 0x2545F491;
/** Entry arrays (u32 per entry, 0 = empty), their sizes (powers of two) and counts. */
let keyed: usize = 0;
let marked: usize = 0;
let keyedSize: u32 = 0;
let markedSize: u32 = 0;
let keyedCount: u32 = 0;
let markedCount: u32 = 0;
/** Number of port-0 and FTP (port 21) services: the fallback rules run only when > 0. */
let port0Count: i32 = 0;
let ftpCount: i32 = 0;

export function setServiceSeed(s: u32): void {
  seed = s;
}

/**
 * The keyed index's hash: two multiplies for an IPv4 key (the batched
 * decision hashes every flow, and the six of a mixIn per word were about a
 * tenth of an rr decision). Each word is folded in by a multiply, then one
 * xorshift-multiply-xorshift round spreads the high bits into the low ones
 * the probe start uses; the tag takes the top 4 bits.
 */
@inline function keyHash(af: u32, proto: u32, a0: u32, a1: u32, a2: u32, a3: u32, port: u32): u32 {
  let h = ((a0 ^ seed) * 0x9E3779B1) ^ ((af << 24) | (proto << 16) | port);
  if (af == 6) {
    h = (h ^ a1) * 0x85EBCA6B;
    h = (h ^ a2) * 0xC2B2AE35;
    h = (h ^ a3) * 0x9E3779B1;
  }
  h = (h ^ (h >> 15)) * 0x2C1B3C6D;
  return h ^ (h >> 16);
}

@inline function markHash(af: u32, mark: u32): u32 {
  return fmix32(seed ^ (mark * 0x9E3779B1) ^ af);
}

@inline function hashOf(s: Service): u32 {
  return s.fwmark != 0 ? markHash(s.af, s.fwmark) : keyHash(s.af, s.proto, s.a0, s.a1, s.a2, s.a3, s.port);
}

const TAG_SHIFT: u32 = 28;
const PTR_MASK: u32 = (1 << TAG_SHIFT) - 1;

/** The index entry of service s whose key hashes to h. */
@inline function entryOf(s: Service, h: u32): u32 {
  return (h & ~PTR_MASK) | (<u32>changetype<usize>(s) >> 4);
}

@inline function serviceAt(e: u32): Service {
  return changetype<Service>(<usize>(e & PTR_MASK) << 4);
}

/** Entry arrays start at 256 entries and double when the load passes 3/4. */
const INITIAL_SIZE: u32 = 256;

/** Put entry e (hash h) into the first empty place of its probe sequence. */
@inline function place(t: usize, mask: u32, h: u32, e: u32): void {
  let i = h & mask;
  while (load<u32>(t + <usize>i * 4) != 0) i = (i + 1) & mask;
  store<u32>(t + <usize>i * 4, e);
}

/** A table of `size` entries holding old's services; old is freed. 0 without memory. */
function rehash(old: usize, oldSize: u32, size: u32): usize {
  const t = alloc(<usize>size * 4);
  if (t == 0) return 0;
  const mask = size - 1;
  for (let i: u32 = 0; i < oldSize; i++) {
    const e = load<u32>(old + <usize>i * 4);
    if (e == 0) continue;
    const h = hashOf(serviceAt(e));
    place(t, mask, h, e);
  }
  if (old != 0) free(old, <usize>oldSize * 4);
  return t;
}

/** Room in the index for one more service; false when memory cannot grow. */
function reserveTable(fwmark: bool): bool {
  if (fwmark) {
    if ((markedCount + 1) * 4 <= markedSize * 3) return true;
    const size = markedSize == 0 ? INITIAL_SIZE : markedSize << 1;
    const t = rehash(marked, markedSize, size);
    if (t == 0) return false;
    marked = t;
    markedSize = size;
  } else {
    if ((keyedCount + 1) * 4 <= keyedSize * 3) return true;
    const size = keyedSize == 0 ? INITIAL_SIZE : keyedSize << 1;
    const t = rehash(keyed, keyedSize, size);
    if (t == 0) return false;
    keyed = t;
    keyedSize = size;
  }
  return true;
}

/** Link a new service (its key fields set) and give it an id; 0 when memory cannot grow (nothing linked). */
export function linkService(s: Service): u32 {
  if (!reserveTable(s.fwmark != 0) || !services.reserve() || !estimatorAdd(s.stats)) return 0;
  s.id = services.put(s);
  const h = hashOf(s);
  if (s.fwmark != 0) {
    place(marked, markedSize - 1, h, entryOf(s, h));
    markedCount++;
  } else {
    place(keyed, keyedSize - 1, h, entryOf(s, h));
    keyedCount++;
    if (s.port == 0) port0Count++;
    if (s.port == 21) ftpCount++;
  }
  return s.id;
}

/** Remove entry e from table t, shifting the entries after it back so no probe sequence breaks. */
function removeEntry(t: usize, mask: u32, h: u32, e: u32): void {
  let i = h & mask;
  while (load<u32>(t + <usize>i * 4) != e) i = (i + 1) & mask;
  // Backward-shift deletion: the hole at i takes the next entry whose home
  // position does not lie cyclically in (i, j].
  let j = i;
  for (;;) {
    j = (j + 1) & mask;
    const x = load<u32>(t + <usize>j * 4);
    if (x == 0) break;
    const home = hashOf(serviceAt(x)) & mask;
    const between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (between) continue;
    store<u32>(t + <usize>i * 4, x);
    i = j;
  }
  store<u32>(t + <usize>i * 4, 0);
}

export function unlinkService(s: Service): void {
  const h = hashOf(s);
  if (s.fwmark != 0) {
    removeEntry(marked, markedSize - 1, h, entryOf(s, h));
    markedCount--;
  } else {
    removeEntry(keyed, keyedSize - 1, h, entryOf(s, h));
    keyedCount--;
    if (s.port == 0) port0Count--;
    if (s.port == 21) ftpCount--;
  }
  estimatorRemove(s.stats);
  services.drop(s.id);
}

/** Exact key match (used by add/edit/delete and the packet lookup). */
export function findKeyed(af: u32, proto: u32, a0: u32, a1: u32, a2: u32, a3: u32, port: u32): Service | null {
  if (keyedSize == 0) return null;
  const h = keyHash(af, proto, a0, a1, a2, a3, port);
  return probeKeyed(h, af, proto, a0, a1, a2, a3, port);
}

/** The probe of findKeyed from the key's hash h. */
@inline function probeKeyed(h: u32, af: u32, proto: u32, a0: u32, a1: u32, a2: u32, a3: u32, port: u32): Service | null {
  const mask = keyedSize - 1;
  const tag = h & ~PTR_MASK;
  let i = h & mask;
  for (;;) {
    const e = load<u32>(keyed + <usize>i * 4);
    if (e == 0) return null;
    if ((e & ~PTR_MASK) == tag) {
      const s = serviceAt(e);
      if (s.port == port && s.a0 == a0 && s.proto == proto && s.af == af && s.a1 == a1 && s.a2 == a2 && s.a3 == a3) return s;
    }
    i = (i + 1) & mask;
  }
  return null;
}

export function findMarked(af: u32, mark: u32): Service | null {
  if (markedSize == 0) return null;
  const h = markHash(af, mark);
  const mask = markedSize - 1;
  const tag = h & ~PTR_MASK;
  let i = h & mask;
  for (;;) {
    const e = load<u32>(marked + <usize>i * 4);
    if (e == 0) return null;
    if ((e & ~PTR_MASK) == tag) {
      const s = serviceAt(e);
      if (s.fwmark == mark && s.af == af) return s;
    }
    i = (i + 1) & mask;
  }
  return null;
}

/** ip_vs_service_find: the service a packet belongs to, or null. */
export function lookupService(af: u32, mark: u32, proto: u32, a0: u32, a1: u32, a2: u32, a3: u32, port: u32): Service | null {
  if (mark != 0 && markedCount > 0) {
    const m = findMarked(af, mark);
    if (m !== null) return m;
  }
  const s = findKeyed(af, proto, a0, a1, a2, a3, port);
  if (s !== null) return s;
  // FTP data: port 20 or an unprivileged port goes to the VIP's port-21 service.
  if (ftpCount > 0 && proto == PROTO_TCP && (port == 20 || port >= 1024)) {
    const f = findKeyed(af, proto, a0, a1, a2, a3, 21);
    if (f !== null) return f;
  }
  if (port0Count > 0) return findKeyed(af, proto, a0, a1, a2, a3, 0);
  return null;
}

export function serviceCount(): i32 {
  return services.count;
}


/** Sink for resolveBatch's first pass, so the optimiser keeps its loads. */
let touched: u32 = 0;
/** Flows of a resolveBatch call that have a valid family (indexes into the batch). */
const resolvePending = memory.data(<i32>MAX_BATCH * 4, 16);

/**
 * lookupService for flow records 0..n-1 at `flows`: out[k] = the service's
 * address or 0, exactly what lookupService answers for record k (a record
 * whose family is not 4 or 6 is skipped and its entry left unwritten: callers
 * refuse it first). Two passes so the cache misses of many
 * flows overlap (shared/baselines/memmlp.c): the first hashes every key and
 * loads its index entry, the second probes and compares, when each key's
 * index line is already in cache and only the record read waits on memory.
 * Returns how many flows had a valid family (listed for resolvedFlow).
 */
export function resolveBatch(flows: usize, n: u32, out: usize): u32 {
  if (keyedSize == 0 && markedSize == 0) {
    // No service: every flow with a valid family is listed and resolves to null.
    let m: u32 = 0;
    for (let k: u32 = 0; k < n; k++) {
      const af = <u32>load<u8>(flows + <usize>k * FLOW_SIZE + FLOW_AF);
      if (af != 4 && af != 6) continue;
      store<u32>(out + <usize>k * 4, 0);
      store<u32>(resolvePending + <usize>m * 4, k);
      m++;
    }
    return m;
  }
  const mask = keyedSize - 1;
  let acc: u32 = 0;
  // Pass 1: flows with no valid family resolve to null here and are not visited
  // again; the rest are listed, and those the second pass probes by hash get
  // their hash and a touch of their first index entry's record.
  let m: u32 = 0;
  for (let k: u32 = 0; k < n; k++) {
    const p = flows + <usize>k * FLOW_SIZE;
    const af = <u32>load<u8>(p + FLOW_AF);
    // Not written: every caller refuses such a record before reading its entry.
    if (af != 4 && af != 6) continue;
    const o = out + <usize>k * 4;
    store<u32>(resolvePending + <usize>m * 4, k);
    m++;
    // A fwmark looked up by mark (second pass) costs no hash here.
    if ((load<u32>(p + FLOW_FWMARK) != 0 && markedCount > 0) || keyedSize == 0) continue;
    const h = keyHash(af, <u32>load<u8>(p + FLOW_PROTO), load<u32>(p + FLOW_VADDR), load<u32>(p + FLOW_VADDR + 4),
      load<u32>(p + FLOW_VADDR + 8), load<u32>(p + FLOW_VADDR + 12), <u32>load<u16>(p + FLOW_VPORT));
    // The record of the key's first index entry (usually the one it finds),
    // both its lines, with no branch on the loaded data.
    const r = changetype<usize>(serviceAt(load<u32>(keyed + <usize>(h & mask) * 4)));
    acc += load<u32>(r) ^ load<u32>(r + 64);
    store<u32>(o, h);
  }
  touched = acc;
  const fallback = ftpCount > 0 || port0Count > 0;
  for (let j: u32 = 0; j < m; j++) {
    const k = load<u32>(resolvePending + <usize>j * 4);
    const p = flows + <usize>k * FLOW_SIZE;
    const o = out + <usize>k * 4;
    const af = <u32>load<u8>(p + FLOW_AF);
    const mark = load<u32>(p + FLOW_FWMARK);
    const proto = <u32>load<u8>(p + FLOW_PROTO);
    const a0 = load<u32>(p + FLOW_VADDR);
    const a1 = load<u32>(p + FLOW_VADDR + 4);
    const a2 = load<u32>(p + FLOW_VADDR + 8);
    const a3 = load<u32>(p + FLOW_VADDR + 12);
    const port = <u32>load<u16>(p + FLOW_VPORT);
    let s: Service | null = null;
    if ((mark != 0 && markedCount > 0) || keyedSize == 0) {
      s = lookupService(af, mark, proto, a0, a1, a2, a3, port);
    } else {
      s = probeKeyed(load<u32>(o), af, proto, a0, a1, a2, a3, port);
      if (s === null && fallback) s = lookupService(af, mark, proto, a0, a1, a2, a3, port);
    }
    store<usize>(o, changetype<usize>(s));
  }
  return m;
}

/** The batch index of the j-th flow the last resolveBatch listed (j < its result). */
@inline export function resolvedFlow(j: u32): u32 {
  return load<u32>(resolvePending + <usize>j * 4);
}

/** The service a linked dest belongs to (null once it is unlinked and its service deleted). */
@inline export function serviceOf(d: Dest): Service | null {
  return services.get(d.svcId);
}
