// The 5-tuples every implementation stores and looks up, and their flow
// record form. Entry i (0 ≤ i < 2^22) is TCP client 198.18.(i & 0xFFFF) port
// 1024 + (i >> 16) → VIP 198.19.255.254:80, so every table of the suite
// holds the same keys and the lookups of a run ask for the same entries.
import { layout as L } from '../../dist/sdk/core/abi.gen.js';

export const PROTO = 6;
export const VIP = 0xc613fffe; // 198.19.255.254
export const VPORT = 80;
export const MAX_KEYS = 1 << 22;
/** u32 words in one flow record. */
export const FW = L.FLOW_SIZE >>> 2;

export const caddrOf = (i) => (0xc6120000 | (i & 0xffff)) >>> 0;
export const cportOf = (i) => 1024 + (i >>> 16);
/** Word 10 of a flow record: cport | vport << 16 (little-endian u16 pair). */
export const portsOf = (i) => (cportOf(i) | (VPORT << 16)) >>> 0;

/** Word 0 of a flow record: af, proto, tcpflags, dir (u8 each). */
export const word0 = (tcpflags, dir = L.FLOW_DIR_IN) => (4 | (PROTO << 8) | (tcpflags << 16) | (dir << 24)) >>> 0;
export const SYN = 0x02;
export const ACK = 0x10;

/** The SDK's FlowSpec of entry i (for the layout check against core.writeFlow). */
export function flowSpec(i, tcpflags) {
  return {
    af: 4, proto: PROTO, tcpflags, fwmark: 0, caddr: [caddrOf(i), 0, 0, 0], vaddr: [VIP, 0, 0, 0],
    cport: cportOf(i), vport: VPORT, len: 60,
  };
}

/** Write flow record of entry i at word offset w of u32 (all 12 words). */
export function packFlow(u32, w, i, tcpflags) {
  u32[w] = word0(tcpflags);
  u32[w + 1] = 0;
  u32[w + 2] = caddrOf(i);
  u32[w + 3] = 0;
  u32[w + 4] = 0;
  u32[w + 5] = 0;
  u32[w + 6] = VIP;
  u32[w + 7] = 0;
  u32[w + 8] = 0;
  u32[w + 9] = 0;
  u32[w + 10] = portsOf(i);
  u32[w + 11] = 60;
}

export function mix32(x) {
  x ^= x >>> 16; x = Math.imul(x, 0x7feb352d); x ^= x >>> 15; x = Math.imul(x, 0x846ca68b); x ^= x >>> 16;
  return x >>> 0;
}

/**
 * R lookups drawn uniformly (seeded) from entries [0, n): their indexes and
 * their flow records (ACK, direction in), shared by every implementation.
 */
export function staging(n, R, seed = 0x9e3779b9) {
  const idx = new Int32Array(R);
  const flows = new Uint32Array(R * FW);
  for (let k = 0; k < R; k++) {
    const i = mix32(seed + k * 0x61c88647) % n;
    idx[k] = i;
    packFlow(flows, k * FW, i, ACK);
  }
  return { idx, flows, R };
}


/** The Map<string> key: "proto:caddr:cport->vaddr:vport" (a V8 cons string until flattened). */
export function keyString(p, c, cport, v, vport) {
  return `${p}:${c >>> 24}.${(c >>> 16) & 255}.${(c >>> 8) & 255}.${c & 255}:${cport}->${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}:${vport}`;
}
/**
 * The stored key of entry i, flattened: V8 hashes a cons string without
 * flattening it, so a Map would keep the whole cons tree of the template
 * literal alive (~495 B/entry at 1M instead of ~84). charCodeAt flattens it,
 * which is the Map's best case; jsmem.mjs also reports the unflattened form.
 */
export function keyOf(i, flatten = true) {
  const k = keyString(PROTO, caddrOf(i), cportOf(i), VIP, VPORT);
  if (flatten) k.charCodeAt(0);
  return k;
}
