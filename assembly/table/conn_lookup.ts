// Batched inbound lookup: flow records 0..n-1 of
// REGION_FLOWS → connection id or 0 as u32 words at REGION_LIST. It answers
// exactly what conn.ts lookupIn(key, false) answers for the packet path (same
// seeded hash, same rule: non-template entry with equal protocol, client
// address and port, virtual address and port), but only looks: no state,
// stats, timer or decision record.
//
// Written for memory-level parallelism and a short per-key path:
// - pass 1 hashes every key and loads every bucket head. The loads do not
//   depend on each other, so their cache misses overlap (the out-of-order
//   window holds several iterations); the heads park in the output words;
// - pass 2 walks the chains; each key's first record address is already known,
//   so those misses overlap too;
// - keys are read straight from the flow region, records through the raw chunk
//   table, with no copy into the scratch Flow or ConnKey records; hash and
//   compare are inlined.
import { REGION_FLOWS, REGION_LIST, FLOW_SIZE, FLOW_CADDR, FLOW_VADDR, FLOW_CPORT } from "../abi/layout";
import { ioBase } from "../abi/io";
import { keyHash, bucketOf, indexUnallocated } from "./conn_hash";
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

/** Pass 1: the bucket head of every key into out[k] (0 when it cannot match). */
function headsPass(flows: usize, out: usize, n: u32): void {
  for (let k: u32 = 0; k < n; k++) {
    const p = flows + <usize>k * FLOW_SIZE;
    const w0 = load<u32>(p);
    const af = w0 & 0xFF;
    const proto = (w0 >> 8) & 0xFF;
    const cport = <u32>load<u16>(p + FLOW_CPORT);
    const c0 = load<u32>(p + FLOW_CADDR);
    let head: u32 = 0;
    if (wantFlags(af, proto) != NO_MATCH) {
      const h = af == 4
        ? keyHash(proto, c0, 0, 0, 0, false, cport)
        : keyHash(proto, c0, load<u32>(p + FLOW_CADDR + 4), load<u32>(p + FLOW_CADDR + 8), load<u32>(p + FLOW_CADDR + 12), true, cport);
      head = load<u32>(bucketOf(h));
    }
    store<u32>(out + <usize>k * 4, head);
  }
}

/** Sink for the touch pass, so the optimiser keeps its loads. */
let touched: u32 = 0;

/**
 * Pass 2: load both cache lines of every chain's first record (a 40-byte record
 * can straddle two 64-byte lines), with no branch on the loaded data, so the
 * misses of many keys are in flight together before pass 3 compares. Index 0
 * maps to record 0 of chunk 0, which exists whenever the index does.
 */
function touchPass(out: usize, n: u32, tab: usize): void {
  let acc: u32 = 0;
  for (let k: u32 = 0; k < n; k++) {
    const r = recAt(tab, load<u32>(out + <usize>k * 4));
    acc += load<u32>(r) ^ load<u32>(r + R_FLAGS);
  }
  touched = acc;
}

/** Pass 3: walk each chain from its head; out[k] = connection id or 0. Returns the hits. */
function matchPass(flows: usize, out: usize, n: u32, tab: usize): i32 {
  let hits = 0;
  for (let k: u32 = 0; k < n; k++) {
    const o = out + <usize>k * 4;
    let i = load<u32>(o);
    if (i == 0) continue;
    const p = flows + <usize>k * FLOW_SIZE;
    const w0 = load<u32>(p);
    const want = wantFlags(w0 & 0xFF, (w0 >> 8) & 0xFF);
    // cport | vport << 16 in both the flow record and the connection record.
    const ports = load<u32>(p + FLOW_CPORT);
    const c0 = load<u32>(p + FLOW_CADDR);
    const v0 = load<u32>(p + FLOW_VADDR);
    let id: u32 = 0;
    while (i != 0) {
      const r = recAt(tab, i);
      if ((<u32>load<u16>(r + R_FLAGS) & KEY_FLAGS) == want && load<u32>(r + R_CPORT) == ports) {
        const same = (want & F_V6) == 0
          ? load<u32>(r + R_CADDR) == c0 && load<u32>(r + R_VADDR) == v0
          : v6Match(load<u32>(r + R_CADDR), p);
        if (same) {
          id = (<u32>load<u8>(r + R_GEN) << 24) | i;
          hits++;
          break;
        }
      }
      i = load<u32>(r + R_HNEXT);
    }
    store<u32>(o, id);
  }
  return hits;
}

/** n ≤ MAX_BATCH flow records → n connection ids (0 = none) at REGION_LIST; returns the hits. */
export function lookupBatch(n: u32): i32 {
  const out = ioBase() + REGION_LIST;
  if (indexUnallocated()) {
    memory.fill(out, 0, <usize>n * 4);
    return 0;
  }
  const flows = ioBase() + REGION_FLOWS;
  const tab = chunkTable();
  headsPass(flows, out, n);
  touchPass(out, n, tab);
  return matchPass(flows, out, n, tab);
}
