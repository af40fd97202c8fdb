// hsiphash as 64-bit kernels compute it, checked against the kernel's own
// self-test vectors (lib/tests/siphash_kunit.c, formerly lib/test_siphash.c,
// BITS_PER_LONG == 64 branch): vector i hashes the bytes 00 01 .. i-1 under
// the key 00 01 .. 0f. Both the core's AssemblyScript code
// (assembly/sched/hsiphash.ts, compiled here on its own) and the test-side
// transcription in hashref.ts must reproduce them.
import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync } from 'node:fs';
import asc from 'assemblyscript/asc';
import { hsiphash, hsiphashU32, MH_KEY1, MH_KEY2 } from './hashref.js';

const K0 = 0x0706050403020100n;
const K1 = 0x0f0e0d0c0b0a0908n;

const VECTORS = [
  0x050fc4dc, 0x7d57ca93, 0x4dc7d44d, 0xe7ddf7fb, 0x88d38328, 0x49533b67, 0xc59f22a7, 0x9bb11140,
  0x8d299a8e, 0x6c063de4, 0x92ff097f, 0xf94dc352, 0x57b4d9a2, 0x1229ffa7, 0xc0f95d34, 0x2a519956,
  0x7d908b66, 0x63dbd80c, 0xb473e63e, 0x8d297d1c, 0xa6cce040, 0x2b45f844, 0xa320872e, 0xdae6c123,
  0x67349c8c, 0x705b0979, 0xca9913a5, 0x4ade3b35, 0xef6cd00d, 0x4ab1e1f4, 0x43c5e663, 0x8c21d1bc,
  0x16a7b60d, 0x7a8ff9bf, 0x1f2a753e, 0xbf186b91, 0xada26206, 0xa3c33057, 0xae3a36a1, 0x7b108392,
  0x99e41531, 0x3f1ad944, 0xc8138825, 0xc28949a6, 0xfaf8876b, 0x9f042196, 0x68b1d623, 0x8b5114fd,
  0xdf074c46, 0x12cc86b3, 0x0a52098f, 0x9d292f9a, 0xa2f41f12, 0x43a71ed0, 0x73f0bce6, 0x70a7e980,
  0x243c6d75, 0xfdb71513, 0xa67d8a08, 0xb7e8f148, 0xf7a644ee, 0x0f1837f2, 0x4b6694e0, 0xb7bbb3a8,
];

const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => i);

// A test-only module: the core's hsiphash.ts plus an entry that feeds it the
// kernel's test messages block by block (the core itself only hashes u32s).
const ENTRY = `
import { hsipStart, hsipAbsorb, hsipFinish, hsiphash32 } from "./hsiphash";
/** Message = bytes 0, 1, .., len-1. */
export function vector(len: u32, k0: u64, k1: u64): u32 {
  hsipStart(len, k0, k1);
  let i: u32 = 0;
  for (; i + 8 <= len; i += 8) {
    let m: u64 = 0;
    for (let j: i32 = 7; j >= 0; j--) m = (m << 8) | <u64>(i + <u32>j);
    hsipAbsorb(m);
  }
  let tail: u64 = 0;
  for (let j: u32 = i; j < len; j++) tail |= (<u64>j) << (<u64>(8 * (j - i)));
  return hsipFinish(tail);
}
export function h32(x: u32, k0: u64, k1: u64): u32 { return hsiphash32(x, k0, k1); }
`;

type HsipModule = { vector(len: number, k0: bigint, k1: bigint): number; h32(x: number, k0: bigint, k1: bigint): number };
let core: HsipModule;

beforeAll(async () => {
  const src = readFileSync(new URL('../../assembly/sched/hsiphash.ts', import.meta.url), 'utf8');
  const out = await asc.compileString({ 'hsiphash.ts': src, 'entry.ts': ENTRY }, { runtime: 'stub', optimizeLevel: 0 });
  if (out.error || !out.binary) throw new Error(`asc failed: ${out.error}\n${out.stderr.toString()}`);
  const inst = await WebAssembly.instantiate(await WebAssembly.compile(new Uint8Array(out.binary)), { env: { abort: () => { throw new Error('abort'); } } });
  core = inst.exports as unknown as HsipModule;
}, 60_000);

describe('hsiphash (64-bit kernel)', () => {
  it('the core reproduces all 64 kernel self-test vectors', () => {
    for (let i = 0; i < 64; i++) expect(core.vector(i, K0, K1) >>> 0, `len ${i}`).toBe(VECTORS[i]);
  });

  it('the core u32 form equals hsiphash_1u32 (vector 4: bytes 00 01 02 03)', () => {
    expect(core.h32(0x03020100, K0, K1) >>> 0).toBe(VECTORS[4]);
  });

  it('the test-side transcription reproduces all 64 vectors', () => {
    for (let i = 0; i < 64; i++) expect(hsiphash(bytes(i), K0, K1), `len ${i}`).toBe(VECTORS[i]);
  });

  it('core and transcription agree on u32 inputs under the IPVS mh keys', () => {
    const inputs = [0, 1, 0xc6120101, 0xc6120102, 0xffffffff, 0x0a000002 + 80];
    for (const x of inputs) {
      expect(core.h32(x, MH_KEY1, MH_KEY1) >>> 0).toBe(hsiphashU32(x, MH_KEY1, MH_KEY1));
      expect(core.h32(x, MH_KEY2, MH_KEY2) >>> 0).toBe(hsiphashU32(x, MH_KEY2, MH_KEY2));
    }
  });

  it('a wrong variant (key words swapped) does not match: the test can fail', () => {
    expect(hsiphash(bytes(4), K1, K0)).not.toBe(VECTORS[4]);
  });
});
