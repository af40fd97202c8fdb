// The JS baselines of the connection-table suite, reimplemented from shared/baselines/picks.mjs
// and connmem.mjs so they run in the same process and the same run as the
// core: a Map keyed by the 5-tuple string and an open-addressing table over
// typed arrays (linear probing, load ≤ 1/2). Both only find the value; they
// keep no state, timers or counters (the core's lookup does all of that).
import { FW, keyOf, keyString, PROTO, VIP, VPORT, caddrOf, portsOf } from './keys.mjs';

function mix32(x) {
  x ^= x >>> 16; x = Math.imul(x, 0x7feb352d); x ^= x >>> 15; x = Math.imul(x, 0x846ca68b); x ^= x >>> 16;
  return x >>> 0;
}

/** Hash of an IPv4 5-tuple as four words (caddr, vaddr, cport|vport<<16, proto). */
function hash4(a, v, p, proto) {
  return mix32(a ^ Math.imul(v, 0x85ebca6b) ^ Math.imul(p, 0x9e3779b1) ^ proto);
}

export class TypedTable {
  constructor(n) {
    let cap = 1024;
    while (cap < 2 * n) cap <<= 1;
    this.mask = cap - 1;
    this.ka = new Uint32Array(cap);
    this.kv = new Uint32Array(cap);
    this.kp = new Uint32Array(cap);
    this.kx = new Uint32Array(cap);
    this.val = new Int32Array(cap).fill(-1);
    this.size = 0;
  }

  bytes() { return (this.mask + 1) * 20; }

  insert(a, v, p, proto, value) {
    const { ka, kv, kp, kx, val, mask } = this;
    let h = hash4(a, v, p, proto) & mask;
    while (val[h] >= 0) h = (h + 1) & mask;
    ka[h] = a; kv[h] = v; kp[h] = p; kx[h] = proto; val[h] = value;
    this.size++;
  }

  lookup(a, v, p, proto) {
    const { ka, kv, kp, kx, val, mask } = this;
    let h = hash4(a, v, p, proto) & mask;
    for (;;) {
      const x = val[h];
      if (x < 0 || (ka[h] === a && kv[h] === v && kp[h] === p && kx[h] === proto)) return x;
      h = (h + 1) & mask;
    }
  }

  /** Look up flow records [from, from+n) of `flows` into out[0..n). */
  lookupBatch(flows, from, n, out) {
    const { ka, kv, kp, kx, val, mask } = this;
    for (let k = 0; k < n; k++) {
      const w = (from + k) * FW;
      const a = flows[w + 2], v = flows[w + 6], p = flows[w + 10], proto = (flows[w] >>> 8) & 255;
      let h = hash4(a, v, p, proto) & mask;
      for (;;) {
        const x = val[h];
        if (x < 0 || (ka[h] === a && kv[h] === v && kp[h] === p && kx[h] === proto)) { out[k] = x; break; }
        h = (h + 1) & mask;
      }
    }
  }
}

export function buildTyped(n) {
  const t = new TypedTable(n);
  for (let i = 0; i < n; i++) t.insert(caddrOf(i), VIP, portsOf(i), PROTO, i);
  return t;
}

/** Map<string, number> of entries [0, n) and the key strings by entry (kept, as a host holds them). */
export function buildMap(n) {
  const map = new Map();
  const keys = new Array(n);
  for (let i = 0; i < n; i++) {
    const k = keyOf(i);
    keys[i] = k;
    map.set(k, i);
  }
  return { map, keys };
}

/** Batch over flow records with the key string built from the record (what a packet host must do). */
export function mapLookupBatchBuild(map, flows, from, n, out) {
  for (let k = 0; k < n; k++) {
    const w = (from + k) * FW;
    const p = flows[w + 10];
    out[k] = map.get(keyString((flows[w] >>> 8) & 255, flows[w + 2], p & 0xffff, flows[w + 6], p >>> 16)) ?? -1;
  }
}

/** Batch over already-built key strings (the Map's best case, as picks.mjs's "hit"). */
export function mapLookupBatchKeys(map, keys, idx, from, n, out) {
  for (let k = 0; k < n; k++) out[k] = map.get(keys[idx[from + k]]) ?? -1;
}

export { VPORT };
