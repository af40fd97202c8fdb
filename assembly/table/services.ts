// The service table: two seeded hash tables (by af/protocol/VIP/port and by
// af/fwmark) that double when their load passes 1, so lookup stays O(1) at
// any number of services. Lookup order is ip_vs_service_find's: fwmark, exact,
// the FTP data rule, then the port-0 service of the VIP.
import { Service } from "./service";
import { Slots } from "./slots";
import { fmix32, mixIn } from "./hash";
import { PROTO_TCP } from "../abi/layout";
import { estimatorAdd, estimatorRemove } from "../stats/estimator";

export const services = new Slots<Service>();

let seed: u32 = 0x2545F491;
let keyed = new StaticArray<Service | null>(256);
let marked = new StaticArray<Service | null>(256);
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

function rehash(old: StaticArray<Service | null>, size: i32): StaticArray<Service | null> {
  const t = new StaticArray<Service | null>(size);
  const mask = <u32>size - 1;
  for (let i = 0; i < old.length; i++) {
    let s = unchecked(old[i]);
    while (s !== null) {
      const next = s.hnext;
      const b = <i32>(hashOf(s) & mask);
      s.hnext = unchecked(t[b]);
      unchecked((t[b] = s));
      s = next;
    }
  }
  return t;
}

/** Link a new service (its key fields set) and give it an id. */
export function linkService(s: Service): u32 {
  s.id = services.put(s);
  estimatorAdd(s.stats);
  if (s.fwmark != 0) {
    if (markedCount + 1 > marked.length) marked = rehash(marked, marked.length << 1);
    const b = <i32>(markHash(s.af, s.fwmark) & (<u32>marked.length - 1));
    s.hnext = marked[b];
    marked[b] = s;
    markedCount++;
  } else {
    if (keyedCount + 1 > keyed.length) keyed = rehash(keyed, keyed.length << 1);
    const b = <i32>(keyHash(s.af, s.proto, s.a0, s.a1, s.a2, s.a3, s.port) & (<u32>keyed.length - 1));
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
  const b = <i32>(hashOf(s) & (<u32>table.length - 1));
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
  const b = <i32>(keyHash(af, proto, a0, a1, a2, a3, port) & (<u32>keyed.length - 1));
  let s = unchecked(keyed[b]);
  while (s !== null) {
    if (s.port == port && s.a0 == a0 && s.proto == proto && s.af == af && s.a1 == a1 && s.a2 == a2 && s.a3 == a3) return s;
    s = s.hnext;
  }
  return null;
}

export function findMarked(af: u32, mark: u32): Service | null {
  const b = <i32>(markHash(af, mark) & (<u32>marked.length - 1));
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

