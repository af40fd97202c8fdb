// gwBurst with packed records (stride GW_STRIDE_PACKED): each record takes
// only its packet's bytes plus GW_REC_ROOM, so one burst carries anything
// from 40-byte ACKs to 65,531-byte datagrams (what NFQUEUE can copy:
// reassembled fragments, jumbo frames). Checksums of every rewritten packet
// are verified by full recomputation (build.ts).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { layout as L, counters as C } from '../../sdk/core/abi.gen.js';
import type { Director } from '../../sdk/index.js';
import { director } from '../helpers.js';
import { v4, checksumsOk, sum16, addr } from './build.js';
import { coreOf } from '../../sdk/core/index.js';

const VIP = '198.18.0.1', CLIENT = '198.18.9.9', RS1 = '198.18.1.1', DIRECTOR = '198.18.1.254';
const ip4 = (s: string) => s.split('.').reduce((a, b) => ((a << 8) | Number(b)) >>> 0, 0);
const dstOf = (p: Uint8Array) => `${p[16]}.${p[17]}.${p[18]}.${p[19]}:${(p[22] << 8) | p[23]}`;
const srcOf = (p: Uint8Array) => `${p[12]}.${p[13]}.${p[14]}.${p[15]}:${(p[20] << 8) | p[21]}`;
const bytes = (n: number, seed = 0) => Array.from({ length: n }, (_, i) => (i * 31 + seed) & 255);
const udp = (src: string, dst: string, sport: number, dport: number, n: number, df = false) =>
  v4({ src, dst, df }, { proto: 'udp', sport, dport, payload: bytes(n, sport) });
/** Bytes one packed record of a `len`-byte packet takes. */
const span = (len: number) => L.GW_REC_HEADER + ((len + 3) & ~3) + L.GW_REC_ROOM;

interface Verdict { id: number; verdict: number; flags: number; mark: number; off: number; out: Uint8Array }

/** Writes `pkts` as packed addon records (ids 100..); `cut` marks one as truncated. Returns the record offsets. */
function write(d: Director, pkts: Uint8Array[], truncated = -1, recFlags = 0): number[] {
  const x = coreOf(d).x;
  const base = x.getIoBase() + L.REGION_PACKETS;
  const dv = new DataView(x.memory.buffer);
  const offs: number[] = [];
  let at = 0;
  pkts.forEach((p, i) => {
    offs.push(at);
    dv.setUint32(base + at + L.GW_REC_ID, 100 + i, true);
    dv.setUint32(base + at + L.GW_REC_MARK, 0, true);
    dv.setUint32(base + at + L.GW_REC_LEN, p.length, true);
    dv.setUint32(base + at + L.GW_REC_ORIG_LEN, i === truncated ? p.length + 4 : p.length, true);
    dv.setUint8(base + at + L.GW_REC_FLAGS, i === truncated ? L.GW_RF_TRUNCATED : recFlags);
    new Uint8Array(x.memory.buffer, base + at + L.GW_REC_HEADER, p.length).set(p);
    at += span(p.length);
  });
  return offs;
}

function verdicts(d: Director, n: number): Verdict[] {
  const x = coreOf(d).x;
  const base = x.getIoBase();
  const dv = new DataView(x.memory.buffer);
  return Array.from({ length: n }, (_, i) => {
    const v = base + L.REGION_LIST + i * L.GW_VER_SIZE;
    const off = dv.getUint32(v + L.GW_VER_OFF, true), len = dv.getUint32(v + L.GW_VER_LEN, true);
    return {
      id: dv.getUint32(v + L.GW_VER_ID, true), verdict: dv.getUint32(v + L.GW_VER_VERDICT, true),
      flags: dv.getUint32(v + L.GW_VER_FLAGS, true), mark: dv.getUint32(v + L.GW_VER_MARK, true), off,
      out: new Uint8Array(x.memory.buffer, base + L.REGION_PACKETS + off, len).slice(),
    };
  });
}

function packed(d: Director, pkts: Uint8Array[], truncated = -1, recFlags = 0) {
  const offs = write(d, pkts, truncated, recFlags);
  expect(coreOf(d).x.gwBurst(pkts.length, L.GW_STRIDE_PACKED, 1)).toBe(pkts.length);
  return { offs, v: verdicts(d, pkts.length) };
}

async function udpNat(method: 'masq' | 'route' | 'tunnel' = 'masq'): Promise<Director> {
  const d = await director(7);
  const svc = { protocol: 'udp' as const, address: VIP, port: 53 };
  d.addService(svc, { scheduler: 'rr' });
  d.addDest(svc, { address: RS1, port: method === 'masq' ? 5353 : 53, method });
  return d;
}

describe('gwBurst packed records: packets of any size up to what NFQUEUE copies', () => {
  it('40 B to 65,531 B datagrams in one burst: NAT both ways, payload intact, checksums right', async () => {
    const d = await udpNat();
    const sizes = [12, 8972, 1472, 65503, 3000];
    const pkts = sizes.map((n, i) => udp(CLIENT, VIP, 40000 + i, 53, n));
    expect(pkts.map((p) => p.length)).toEqual([40, 9000, 1500, 65531, 3028]);
    const { offs, v } = packed(d, pkts);
    v.forEach((x, i) => {
      expect(x).toMatchObject({ id: 100 + i, verdict: 1, flags: L.GW_VF_PAYLOAD | L.GW_VF_NAT_IN, off: offs[i] + L.GW_REC_HEADER });
      expect(x.out.length).toBe(pkts[i].length);
      expect(dstOf(x.out)).toBe(`${RS1}:5353`);
      expect(checksumsOk(x.out)).toBe(true);
      expect(x.out.subarray(28)).toEqual(pkts[i].subarray(28));
    });
    // The biggest reply comes back from VIP:53.
    const reply = udp(RS1, CLIENT, 5353, 40003, 65503);
    const { v: [r] } = packed(d, [udp(RS1, CLIENT, 5353, 40000, 0), reply]);
    expect(srcOf(r.out)).toBe(`${VIP}:53`);
    expect(checksumsOk(r.out)).toBe(true);
    expect(d.counter(C.CNT_GW_TRUNCATED)).toBe(0);
    expect(d.service({ protocol: 'udp', address: VIP, port: 53 }).stats).toMatchObject({ inpkts: 5, inbytes: sizes.reduce((a, n) => a + n + 28, 0) });
  });

  it('TUN grows a 9,000-byte packet by its outer header inside the record', async () => {
    const d = await udpNat('tunnel');
    expect(coreOf(d).x.gwConfig(ip4(DIRECTOR), 9000)).toBe(0);
    const big = udp(CLIENT, VIP, 40000, 53, 8952);
    const { v: [small, t] } = packed(d, [udp(CLIENT, VIP, 40001, 53, 4), big]);
    expect(small.out.length).toBe(52);
    expect(t.out.length).toBe(9000);
    expect(t.out[9]).toBe(4);
    const inner = t.out.slice(20);
    expect(inner[8]).toBe(big[8] - 1); // IPVS's own TTL decrement
    inner.set(big.subarray(8, 12), 8);
    expect(inner).toEqual(big);
    expect(checksumsOk(t.out.subarray(20))).toBe(true);
  });

  it('a truncated record gets the fail verdict: accepted untouched when fail-open, dropped when fail-closed', async () => {
    const d = await udpNat();
    const pkts = [udp(CLIENT, VIP, 40000, 53, 100), udp(CLIENT, VIP, 40001, 53, 100)];
    expect(coreOf(d).x.gwOptions(L.GW_OPT_FAIL_OPEN)).toBe(0);
    let { v } = packed(d, pkts, 0);
    expect(v[0]).toMatchObject({ verdict: 1, flags: 0 });
    expect(v[1]).toMatchObject({ verdict: 1, flags: L.GW_VF_PAYLOAD | L.GW_VF_NAT_IN });
    expect(coreOf(d).x.gwOptions(0)).toBe(0);
    ({ v } = packed(d, pkts, 0));
    expect(v[0]).toMatchObject({ verdict: 0, flags: 0 });
    expect(d.counter(C.CNT_GW_TRUNCATED)).toBe(2);
    expect(coreOf(d).x.gwOptions(0x80)).toBeLessThan(0);
  });

  it('records running past the packet region are refused before any is touched', async () => {
    const d = await udpNat();
    write(d, [udp(CLIENT, VIP, 40000, 53, 100)]);
    const base = coreOf(d).x.getIoBase() + L.REGION_PACKETS;
    new DataView(coreOf(d).x.memory.buffer).setUint32(base + L.GW_REC_LEN, L.REGION_PACKETS_SIZE, true);
    expect(coreOf(d).x.gwBurst(1, L.GW_STRIDE_PACKED, 1)).toBeLessThan(0);
    // 9 records of 60,000 bytes do not fit 512 KiB; 8 do.
    const nine = Array.from({ length: 9 }, (_, i) => udp(CLIENT, VIP, 41000 + i, 53, 59972));
    write(d, nine);
    expect(coreOf(d).x.gwBurst(9, L.GW_STRIDE_PACKED, 1)).toBeLessThan(0);
    expect(coreOf(d).x.gwBurst(8, L.GW_STRIDE_PACKED, 1)).toBe(8);
    expect(d.counter(C.CNT_GW_PACKETS)).toBe(8);
  });

  it('NAT: a DF request bigger than the route MTU towards its real server becomes frag-needed quoting the VIP packet, as IPVS answers', async () => {
    const d = await udpNat();
    const [dest] = d.dests({ protocol: 'udp', address: VIP, port: 53 });
    expect(coreOf(d).x.gwDestTunnel(dest.id, 0, 1500)).toBe(0);
    const tooBig = udp(CLIENT, VIP, 40000, 53, 8952, true);
    const fits = udp(CLIENT, VIP, 40000, 53, 1472, true);
    const noDf = udp(CLIENT, VIP, 40000, 53, 8952, false);
    const before = d.counter(C.CNT_PKT_FRAG_NEEDED);
    const { v: [icmp, a, b] } = packed(d, [tooBig, fits, noDf]);
    expect(icmp.flags).toBe(L.GW_VF_PAYLOAD);
    expect(icmp.out[9]).toBe(1);
    expect(srcOf(icmp.out).split(':')[0]).toBe(VIP);
    expect(dstOf(icmp.out).split(':')[0]).toBe(CLIENT);
    expect([icmp.out[20], icmp.out[21], (icmp.out[26] << 8) | icmp.out[27]]).toEqual([3, 4, 1500]);
    expect(icmp.out.subarray(28, 48)).toEqual(tooBig.subarray(0, 20)); // the client's own packet, to the VIP
    expect(icmp.out.length).toBe(576);
    expect(d.counter(C.CNT_PKT_FRAG_NEEDED) - before).toBe(1);
    // What fits, or may be fragmented, is rewritten as always.
    for (const x of [a, b]) expect(dstOf(x.out)).toBe(`${RS1}:5353`);
    expect(b.out.length).toBe(noDf.length);
  });

  it('random, mutated and cut packets of any size, packed: every record gets ACCEPT or DROP, its id, and a payload inside its own record', async () => {
    const d = await udpNat();
    const good = [udp(CLIENT, VIP, 40000, 53, 3000), udp(RS1, CLIENT, 5353, 40000, 9000), udp(CLIENT, VIP, 40001, 53, 200, true)];
    const packet = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 200 }),
      fc.tuple(fc.constantFrom(...good), fc.array(fc.tuple(fc.nat(60), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.nat(9000))
        .map(([p, edits, cut]) => {
          const q = p.slice(0, Math.max(1, p.length - cut));
          for (const [at, v] of edits) if (at < q.length) q[at] = v;
          return q;
        }),
    );
    fc.assert(fc.property(fc.array(packet, { minLength: 1, maxLength: 30 }), (pkts) => {
      const { offs, v } = packed(d, pkts);
      v.forEach((x, i) => {
        expect(x.id).toBe(100 + i);
        expect([0, 1]).toContain(x.verdict);
        if (x.flags & L.GW_VF_PAYLOAD) {
          expect(x.off).toBe(offs[i] + L.GW_REC_HEADER);
          expect(x.out.length).toBeLessThanOrEqual(span(pkts[i].length) - L.GW_REC_HEADER);
        }
      });
    }), { numRuns: 150, seed: 17 });
  });

  it('a GSO super-packet (partial checksum) is rewritten and keeps the partial form for the kernel to segment; TUN refuses one', async () => {
    const d = await director(7);
    const svc = { protocol: 'tcp' as const, address: VIP, port: 80 };
    d.addService(svc, { scheduler: 'rr' });
    d.addDest(svc, { address: RS1, port: 8080, method: 'masq' });
    const tcp = (flags: number, n: number) => v4({ src: CLIENT, dst: VIP }, { proto: 'tcp', sport: 40000, dport: 80, flags, payload: bytes(n), csum: 'partial' });
    packed(d, [tcp(0x02, 0)], -1, L.GW_RF_CSUM_PARTIAL);
    const big = tcp(0x18, 62000);
    const { v: [x] } = packed(d, [big], -1, L.GW_RF_CSUM_PARTIAL | L.GW_RF_GSO);
    expect(x.flags).toBe(L.GW_VF_PAYLOAD | L.GW_VF_NAT_IN);
    expect(dstOf(x.out)).toBe(`${RS1}:8080`);
    // The field holds the pseudo-header sum for the new addresses, as the sender's stack would have left it.
    const len = x.out.length - 20;
    const pseudo = sum16([...addr(CLIENT), ...addr(RS1), 0, 6, len >> 8, len & 255]);
    expect((x.out[36] << 8) | x.out[37]).toBe(pseudo);
    expect(x.out.subarray(40)).toEqual(big.subarray(40));

    const t = await udpNat('tunnel');
    expect(coreOf(t).x.gwConfig(ip4(DIRECTOR), 1500)).toBe(0);
    const { v: [y] } = packed(t, [udp(CLIENT, VIP, 40000, 53, 30000)], -1, L.GW_RF_GSO);
    expect(y).toMatchObject({ verdict: 0, flags: 0 });
  });
});
