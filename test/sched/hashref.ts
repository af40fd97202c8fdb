// An independent, deliberately plain transcription of reference §1.10–§1.12
// (hash_32, the 64-bit kernel's hsiphash, the dh/sh/mh table fills and the mh
// lookup), used by the dh/sh/mh tests to derive expected tables. It shares no
// code with the core; hsiphash.test.ts checks it against the kernel's vectors.

const MASK64 = (1n << 64n) - 1n;

/** hash_32(v, bits): top `bits` bits of v * 0x61C88647 (mod 2^32). */
export function hash32(v: number, bits: number): number {
  return Math.imul(v >>> 0, 0x61c88647) >>> (32 - bits);
}

/** An IPv4 dotted quad as its host-order number. */
export function ip4(s: string): number {
  return s.split('.').reduce((a, o) => a * 256 + Number(o), 0) >>> 0;
}

const rotl = (x: bigint, b: bigint): bigint => ((x << b) | (x >> (64n - b))) & MASK64;

/** hsiphash (64-bit kernels: SipHash-1-3 on 64-bit words) of `bytes`; 32-bit result. */
export function hsiphash(bytes: Uint8Array, k0: bigint, k1: bigint): number {
  let v0 = 0x736f6d6570736575n ^ k0;
  let v1 = 0x646f72616e646f6dn ^ k1;
  let v2 = 0x6c7967656e657261n ^ k0;
  let v3 = 0x7465646279746573n ^ k1;
  const round = (): void => {
    v0 = (v0 + v1) & MASK64; v1 = rotl(v1, 13n) ^ v0; v0 = rotl(v0, 32n);
    v2 = (v2 + v3) & MASK64; v3 = rotl(v3, 16n) ^ v2;
    v0 = (v0 + v3) & MASK64; v3 = rotl(v3, 21n) ^ v0;
    v2 = (v2 + v1) & MASK64; v1 = rotl(v1, 17n) ^ v2; v2 = rotl(v2, 32n);
  };
  const full = bytes.length - (bytes.length % 8);
  for (let i = 0; i < full; i += 8) {
    let m = 0n;
    for (let j = 7; j >= 0; j--) m = (m << 8n) | BigInt(bytes[i + j]);
    v3 ^= m; round(); v0 ^= m;
  }
  let b = BigInt(bytes.length) << 56n;
  for (let j = full; j < bytes.length; j++) b |= BigInt(bytes[j]) << BigInt(8 * (j - full));
  v3 ^= b; round(); v0 ^= b;
  v2 ^= 0xffn; round(); round(); round();
  return Number((v0 ^ v1 ^ v2 ^ v3) & 0xffffffffn);
}

/** hsiphash(&v, 4, key) with the 4 bytes of v little-endian (x86). */
export function hsiphashU32(v: number, k0: bigint, k1: bigint): number {
  const x = v >>> 0;
  return hsiphash(new Uint8Array([x & 255, (x >>> 8) & 255, (x >>> 16) & 255, x >>> 24]), k0, k1);
}

export const MH_KEY1 = 2654435761n;
export const MH_KEY2 = 2654446892n;

/** ip_vs_mh_hashkey with an already folded address. */
export function mhHash(key: bigint, addr: number, port: number, offset: number): number {
  return hsiphashU32((offset + port + addr) >>> 0, key, key);
}

/** dh fill: bucket i = list[i % n], weights ignored. */
export function dhTable(ids: number[]): number[] {
  return Array.from({ length: 256 }, (_, i) => (ids.length ? ids[i % ids.length] : 0));
}

/** sh fill: each dest takes max(W, 1) consecutive buckets, cycling the list. */
export function shTable(dests: { id: number; weight: number }[]): number[] {
  const out: number[] = [];
  let j = 0;
  let count = 0;
  while (out.length < 256) {
    if (dests.length === 0) { out.push(0); continue; }
    out.push(dests[j].id);
    count++;
    if (count >= dests[j].weight) { count = 0; j = (j + 1) % dests.length; }
  }
  return out;
}

export interface MhDest { id: number; addr: number; port: number; lastWeight: number }

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
const fls = (v: number): number => (v === 0 ? 0 : 32 - Math.clz32(v));

/** Classic Maglev fill with IPVS's turns; `bits` = IP_VS_MH_TAB_BITS (6 for 4093, 4 for 251). */
export function mhTable(dests: MhDest[], m: number, bits: number): number[] {
  const table: number[] = new Array(m).fill(0);
  const pos = dests.filter((d) => d.lastWeight > 0).map((d) => d.lastWeight);
  if (pos.length === 0) return table;
  const g = pos.reduce((a, b) => gcd(a, b));
  const rshift = Math.max(0, fls(Math.floor(Math.max(...pos) / g)) - bits);
  const st = dests.map((d) => {
    const t = Math.floor(d.lastWeight / g) >> rshift;
    return {
      id: d.id,
      perm: mhHash(MH_KEY1, d.addr, d.port, 0) % m,
      skip: (mhHash(MH_KEY2, d.addr, d.port, 0) % (m - 1)) + 1,
      turns: t !== 0 ? t : d.lastWeight !== 0 ? 1 : 0,
    };
  });
  let n = 0;
  for (;;) {
    for (const s of st) {
      for (let k = 0; k < s.turns; k++) {
        while (table[s.perm] !== 0) s.perm = (s.perm + s.skip) % m;
        table[s.perm] = s.id;
        if (++n === m) return table;
      }
    }
  }
}

/** mh slot for a client (no fallback). */
export function mhSlot(addr: number, port: number, m: number): number {
  return mhHash(MH_KEY1, addr, port, 0) % m;
}

/** sh lookup: bucket hash_32(v) (v = port + addr); sh-fallback probes ((k + ih) % 256 + ih) & 255. */
export function shPick(table: number[], usable: (id: number) => boolean, v: number, fallback: boolean): number {
  const ih = hash32(v >>> 0, 8);
  if (table[ih] === 0) return 0;
  if (usable(table[ih])) return table[ih];
  if (!fallback) return 0;
  for (let k = 0; k < 256; k++) {
    const e = table[(((k + ih) % 256) + ih) & 255];
    if (e === 0) return 0;
    if (usable(e)) return e;
  }
  return 0;
}

/** mh lookup; mh-fallback re-hashes with offsets (k + idx) % M. */
export function mhPick(table: number[], usable: (id: number) => boolean, addr: number, port: number, fallback: boolean): number {
  const m = table.length;
  const idx = mhSlot(addr, port, m);
  if (table[idx] === 0) return 0;
  if (usable(table[idx])) return table[idx];
  if (!fallback) return 0;
  for (let k = 0; k < m; k++) {
    const e = table[mhHash(MH_KEY1, addr, port, (k + idx) % m) % m];
    if (e === 0) return 0;
    if (usable(e)) return e;
  }
  return 0;
}

/** n client addresses spread over 198.18.0.0/15 (deterministic). */
export function clients(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const x = (Math.imul(i + 1, 0x9e3779b1) >>> 0) & 0x1ffff;
    out.push(`198.${18 + (x >>> 16)}.${(x >>> 8) & 255}.${x & 255}`);
  }
  return out;
}
