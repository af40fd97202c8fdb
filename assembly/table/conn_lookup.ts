// Batched inbound lookup: flow records 0..n-1 of
// REGION_FLOWS → connection id or 0 as u32 words at REGION_LIST. It answers
// exactly what conn.ts lookupIn(key, false) answers for the packet path (same
// seeded hash, same rule: non-template entry with equal protocol, client
// address and port, virtual address and port), but only looks: no state,
// stats, timer or decision record.
//
// Written for memory-level parallelism and a short per-key path:
// - pass 1 hashes every key and loads every bucket word; a key whose tag is
//   not in the chain (conn_hash.ts) is a miss right there. The loads do not
//   depend on each other, so their cache misses overlap (the out-of-order
//   window holds several iterations); the heads park in the output words;
// - then the chains are walked one link per round for all keys still
//   walking: a touch pass loads the current record of each (no branch on the
//   loaded data, so the misses overlap), a compare pass decides each and moves
//   the others one link on. A hit at the second or third record of a chain is
//   a miss overlapped with the other keys', not a dependent one;
// - keys are read straight from the flow region, records through the raw chunk
//   table, with no copy into the scratch Flow or ConnKey records; hash and
//   compare are inlined.
// packetBatch and schedule use the same walk (resolveConns) for their
// inbound lookups before visiting a batch (conn_path.ts).
import { MAX_BATCH, REGION_FLOWS, REGION_LIST, FLOW_SIZE, FLOW_CADDR, FLOW_VADDR, FLOW_CPORT } from "../abi/layout";
import { ioBase } from "../abi/io";
import { keyHash, bucketOf, headFor, indexUnallocated, indexCount } from "./conn_hash";
import {
  chunkTable, REC_CHUNK_BITS, STRIDE, R_HNEXT, R_CADDR, R_VADDR, R_CPORT, R_FLAGS, R_GEN,
  F_TEMPLATE, F_V6, F_PROTO_SHIFT, v6Word,
} from "./conn_mem";

const REC_MASK: u32 = (<u32>1 << REC_CHUNK_BITS) - 1;
/** The record flag bits the key decides: template, family, protocol code. */
const KEY_FLAGS: u32 = F_TEMPLATE | F_V6 | (3 << F_PROTO_SHIFT);
/** A wanted-flags value no record has (family or protocol no entry can carry). */
const NO_MATCH: u32 = 0xFFFFFFFF;

/** Record address of index i, from the raw chunk pointer table. */
@inline function recAt(tab: usize, i: u32): usize {
  return load<usize>(tab + <usize>(i >> REC_CHUNK_BITS) * sizeof<usize>()) + <usize>(i & REC_MASK) * STRIDE;
}

/**
 * The KEY_FLAGS bits of a matching record: not a template, F_V6 for af 6, the
 * protocol code of conn_mem (6, 17, 132, and 0 for 0). Any other protocol or
 * family matches nothing, as protoOf/keyMatch decide.
 */
@inline function wantFlags(af: u32, proto: u32): u32 {
  const code: u32 = proto == 6 ? 1 : proto == 17 ? 2 : proto == 132 ? 3 : proto == 0 ? 0 : 4;
  if (code == 4) return NO_MATCH;
  if (af == 4) return code << F_PROTO_SHIFT;
  if (af == 6) return (code << F_PROTO_SHIFT) | F_V6;
  return NO_MATCH;
}

/** Both IPv6 addresses of side-table entry x equal those of flow record p. */
@inline function v6Match(x: u32, p: usize): bool {
  return v6Word(x, 0, 0) == load<u32>(p + FLOW_CADDR) && v6Word(x, 0, 1) == load<u32>(p + FLOW_CADDR + 4)
    && v6Word(x, 0, 2) == load<u32>(p + FLOW_CADDR + 8) && v6Word(x, 0, 3) == load<u32>(p + FLOW_CADDR + 12)
    && v6Word(x, 1, 0) == load<u32>(p + FLOW_VADDR) && v6Word(x, 1, 1) == load<u32>(p + FLOW_VADDR + 4)
    && v6Word(x, 1, 2) == load<u32>(p + FLOW_VADDR + 8) && v6Word(x, 1, 3) == load<u32>(p + FLOW_VADDR + 12);
}

/**
 * Pass 1: the bucket head of every key into out[k] (0 when it cannot match)
 * and, when `hashes` is not 0, the key's hash into hashes[k].
 */
function headsPass(flows: usize, out: usize, n: u32, hashes: usize): void {
  const live = !indexUnallocated();
  for (let k: u32 = 0; k < n; k++) {
    const p = flows + <usize>k * FLOW_SIZE;
    const w0 = load<u32>(p);
    const af = w0 & 0xFF;
    const proto = (w0 >> 8) & 0xFF;
    const cport = <u32>load<u16>(p + FLOW_CPORT);
    const c0 = load<u32>(p + FLOW_CADDR);
    let head: u32 = 0;
    let h: u32 = 0;
    if (wantFlags(af, proto) != NO_MATCH) {
      h = af == 4
        ? keyHash(proto, c0, 0, 0, 0, false, cport)
        : keyHash(proto, c0, load<u32>(p + FLOW_CADDR + 4), load<u32>(p + FLOW_CADDR + 8), load<u32>(p + FLOW_CADDR + 12), true, cport);
      if (live) head = headFor(load<u32>(bucketOf(h)), h);
    }
    store<u32>(out + <usize>k * 4, head);
    if (hashes != 0) store<u32>(hashes + <usize>k * 4, h);
  }
}

/** Sink for the touch passes, so the optimiser keeps their loads. */
let touched: u32 = 0;
/** Keys still walking their chain (indexes into the batch), one round to the next. */
const pending = memory.data(<i32>MAX_BATCH * 4, 16);

/**
 * Touch pass: load both cache lines of the current record of every pending
 * key (a 40-byte record can straddle two 64-byte lines), with no branch on the
 * loaded data, so the misses of many keys are in flight together before the
 * compare pass.
 */
function touchPass(out: usize, m: u32, tab: usize): void {
  let acc: u32 = 0;
  for (let j: u32 = 0; j < m; j++) {
    const k = load<u32>(pending + <usize>j * 4);
    const r = recAt(tab, load<u32>(out + <usize>k * 4));
    acc += load<u32>(r) ^ load<u32>(r + R_FLAGS);
  }
  touched += acc;
}

/**
 * Compare pass: each pending key's current record; a match writes the
 * connection id to out[k], the end of a chain 0, anything else moves the key
 * one link on (out[k] = next record) and keeps it pending. Returns the keys
 * still pending (compacted at the front of `pending`); hits are added to `hits`.
 */
function comparePass(flows: usize, out: usize, m: u32, tab: usize): u32 {
  let left: u32 = 0;
  for (let j: u32 = 0; j < m; j++) {
    const k = load<u32>(pending + <usize>j * 4);
    const o = out + <usize>k * 4;
    const i = load<u32>(o);
    const p = flows + <usize>k * FLOW_SIZE;
    const w0 = load<u32>(p);
    const want = wantFlags(w0 & 0xFF, (w0 >> 8) & 0xFF);
    const r = recAt(tab, i);
    // cport | vport << 16 in both the flow record and the connection record.
    if ((<u32>load<u16>(r + R_FLAGS) & KEY_FLAGS) == want && load<u32>(r + R_CPORT) == load<u32>(p + FLOW_CPORT)) {
      const same = (want & F_V6) == 0
        ? load<u32>(r + R_CADDR) == load<u32>(p + FLOW_CADDR) && load<u32>(r + R_VADDR) == load<u32>(p + FLOW_VADDR)
        : v6Match(load<u32>(r + R_CADDR), p);
      if (same) {
        store<u32>(o, (<u32>load<u8>(r + R_GEN) << 24) | i);
        hitCount++;
        continue;
      }
    }
    const next = load<u32>(r + R_HNEXT);
    store<u32>(o, next);
    if (next != 0) {
      store<u32>(pending + <usize>left * 4, k);
      left++;
    }
  }
  return left;
}

let hitCount: i32 = 0;
/** Entries up to which the records (40 B each) sit in L2 and the touch passes are skipped. */
const SMALL_TABLE: u32 = 16384;

/**
 * Flow records 0..n-1 at `flows` → out[k] = connection id (gen << 24 | index)
 * or 0, what lookupIn(key, false) answers for each. The chains are walked a
 * link per round for all keys together: every round touches the current
 * record of each key still walking, then compares, so the misses of the
 * second and later records of different chains overlap too. `hashes` (or 0)
 * receives each key's hash. Returns the hits.
 */
export function resolveConns(flows: usize, out: usize, n: u32, hashes: usize): i32 {
  headsPass(flows, out, n, hashes);
  if (indexUnallocated()) return 0;
  const tab = chunkTable();
  let m: u32 = 0;
  for (let k: u32 = 0; k < n; k++) {
    if (load<u32>(out + <usize>k * 4) != 0) {
      store<u32>(pending + <usize>m * 4, k);
      m++;
    }
  }
  hitCount = 0;
  // A table whose records fit in L2 gains nothing from touching them first.
  const touch = indexCount() > SMALL_TABLE;
  while (m != 0) {
    if (touch) touchPass(out, m, tab);
    m = comparePass(flows, out, m, tab);
  }
  return hitCount;
}

/** n ≤ MAX_BATCH flow records → n connection ids (0 = none) at REGION_LIST; returns the hits. */
export function lookupBatch(n: u32): i32 {
  return resolveConns(ioBase() + REGION_FLOWS, ioBase() + REGION_LIST, n, 0);
}
