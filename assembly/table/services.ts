// The service table: two seeded hash tables (by af/protocol/VIP/port and by
// af/fwmark) that double when their load passes 1, so lookup stays O(1) at
// any number of services. Lookup order is ip_vs_service_find's: fwmark, exact,
// the FTP data rule, then the port-0 service of the VIP.
import { Service } from "./service";
import { Slots } from "./slots";
import { Ptrs, allocArray, freeArray } from "./vec";
import { fmix32, mixIn } from "./hash";
import { PROTO_TCP } from "../abi/layout";
import { estimatorAdd, estimatorRemove } from "../stats/estimator";

export const services = new Slots<Service>();

let seed: u32 = 0x2545F491;
type Buckets = Ptrs<Service | null>;
let keyed: Buckets = changetype<Buckets>(0);
let marked: Buckets = changetype<Buckets>(0);
let keyedSize: i32 = 0;
let markedSize: i32 = 0;
let keyedCount: i32 = 0;
let markedCount: i32 = 0;
/** Number of port-0 and FTP (port 21) services: the fallback rules run only when > 0. */
let port0Count: i32 = 0;
let ftpCount: i32 = 0;

export function setServiceSeed(s: u32): void {
  seed = s;
}

@inline function keyHash(af: u32, proto: u32, a0: u32, a1: u32, a2: u32, a3: u32, port: u32): u32 {
  let h = mixIn(seed, (af << 24) | (proto << 16) | port);
  h = mixIn(h, a0);
  if (af == 6) {
    h = mixIn(h, a1);
    h = mixIn(h, a2);
    h = mixIn(h, a3);
  }
  return h;
}

@inline function markHash(af: u32, mark: u32): u32 {
  return fmix32(seed ^ (mark * 0x9E3779B1) ^ af);
}

@inline function hashOf(s: Service): u32 {
  return s.fwmark != 0 ? markHash(s.af, s.fwmark) : keyHash(s.af, s.proto, s.a0, s.a1, s.a2, s.a3, s.port);
}

/** Bucket arrays start at 256 and double when the load passes 1. */
const INITIAL_BUCKETS: i32 = 256;

/** A table of `size` buckets holding old's chains; old is freed. Null without memory. */
function rehash(old: Buckets, oldSize: i32, size: i32): Buckets | null {
  const t = allocArray<Buckets>(size, 4);
  if (changetype<usize>(t) == 0) return null;
  const mask = <u32>size - 1;
  for (let i = 0; i < oldSize; i++) {
    let s = unchecked(old[i]);
    while (s !== null) {
      const next = s.hnext;
      const b = <i32>(hashOf(s) & mask);
      s.hnext = unchecked(t[b]);
      unchecked((t[b] = s));
      s = next;
    }
  }
  freeArray(old, oldSize, 4);
  return t;
}

/** Room in the table for one more service; false when memory cannot grow. */
function reserveTable(fwmark: bool): bool {
  if (fwmark) {
    if (markedCount + 1 <= markedSize) return true;
    const size = markedSize == 0 ? INITIAL_BUCKETS : markedSize << 1;
    const t = rehash(marked, markedSize, size);
    if (t === null) return false;
    marked = t;
    markedSize = size;
  } else {
    if (keyedCount + 1 <= keyedSize) return true;
    const size = keyedSize == 0 ? INITIAL_BUCKETS : keyedSize << 1;
    const t = rehash(keyed, keyedSize, size);
    if (t === null) return false;
    keyed = t;
    keyedSize = size;
  }
  return true;
}

/** Link a new service (its key fields set) and give it an id; 0 when memory cannot grow (nothing linked). */
export function linkService(s: Service): u32 {
  if (!reserveTable(s.fwmark != 0) || !services.reserve() || !estimatorAdd(s.stats)) return 0;
  s.id = services.put(s);
  if (s.fwmark != 0) {
    const b = <i32>(markHash(s.af, s.fwmark) & (<u32>markedSize - 1));
    s.hnext = marked[b];
    marked[b] = s;
    markedCount++;
  } else {
    const b = <i32>(keyHash(s.af, s.proto, s.a0, s.a1, s.a2, s.a3, s.port) & (<u32>keyedSize - 1));
    s.hnext = keyed[b];
    keyed[b] = s;
    keyedCount++;
    if (s.port == 0) port0Count++;
    if (s.port == 21) ftpCount++;
  }
  return s.id;
}

export function unlinkService(s: Service): void {
  const table = s.fwmark != 0 ? marked : keyed;
  const b = <i32>(hashOf(s) & (<u32>(s.fwmark != 0 ? markedSize : keyedSize) - 1));
  let prev: Service | null = null;
  let cur = table[b];
  while (cur !== null) {
    if (cur === s) {
      if (prev === null) table[b] = cur.hnext;
      else prev.hnext = cur.hnext;
      break;
    }
    prev = cur;
    cur = cur.hnext;
  }
  s.hnext = null;
  if (s.fwmark != 0) markedCount--;
  else {
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
  const b = <i32>(keyHash(af, proto, a0, a1, a2, a3, port) & (<u32>keyedSize - 1));
  let s = unchecked(keyed[b]);
  while (s !== null) {
    if (s.port == port && s.a0 == a0 && s.proto == proto && s.af == af && s.a1 == a1 && s.a2 == a2 && s.a3 == a3) return s;
    s = s.hnext;
  }
  return null;
}

export function findMarked(af: u32, mark: u32): Service | null {
  if (markedSize == 0) return null;
  const b = <i32>(markHash(af, mark) & (<u32>markedSize - 1));
  let s = unchecked(marked[b]);
  while (s !== null) {
    if (s.fwmark == mark && s.af == af) return s;
    s = s.hnext;
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

