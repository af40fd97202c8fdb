// gwBurst: the gateway's per-burst path over the connection table. Packet
// records are laid out as the NFQUEUE addon writes them; verdict records are
// read back as the addon would send them. Checksums of every rewritten packet
// are verified by full recomputation (build.ts).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { layout as L, counters as C } from '../../sdk/core/abi.gen.js';
import type { Director } from '../../sdk/index.js';
import { director } from '../helpers.js';
import { v4, ipv4, csum, checksumsOk } from './build.js';
import { STRIDE, burst as run } from './burst.js';
import { coreOf } from '../../sdk/core/index.js';

const VIP = '198.18.0.1', CLIENT = '198.18.9.9', RS1 = '198.18.1.1', RS2 = '198.18.1.2', DIRECTOR = '198.18.1.254';
const svc = { protocol: 'tcp' as const, address: VIP, port: 80 };
const ip4 = (s: string) => s.split('.').reduce((a, b) => ((a << 8) | Number(b)) >>> 0, 0);
const SYN = 0x02, ACK = 0x10, SYNACK = 0x12, PSHACK = 0x18;

/** One burst of `pkts` at time `now` with GW_RF_* flags on every record. */
const burst = (d: Director, pkts: Uint8Array[], now = 1, recFlags = 0) => run(d, pkts, { now, recFlags });

const tcp = (src: string, dst: string, sport: number, dport: number, flags: number, n = 0, ttl = 64) =>
  v4({ src, dst, ttl }, { proto: 'tcp', sport, dport, flags, payload: Array.from({ length: n }, (_, i) => i & 255) });
const dstOf = (p: Uint8Array) => `${p[16]}.${p[17]}.${p[18]}.${p[19]}:${(p[22] << 8) | p[23]}`;
const srcOf = (p: Uint8Array) => `${p[12]}.${p[13]}.${p[14]}.${p[15]}:${(p[20] << 8) | p[21]}`;

async function natDirector(dests = [RS1]): Promise<Director> {
  const d = await director(7);
  d.addService(svc, { scheduler: 'rr' });
  for (const a of dests) d.addDest(svc, { address: a, port: 8080, method: 'masq' });
  return d;
}

describe('gwBurst NAT over the connection table', () => {
  it('SYN in, SYN-ACK out, ACK and data in: rewritten both ways, state and stats follow', async () => {
    const d = await natDirector();
    const [syn] = burst(d, [tcp(CLIENT, VIP, 40000, 80, SYN)]);
    expect(syn).toMatchObject({ id: 100, verdict: 1, flags: L.GW_VF_PAYLOAD });
    expect(dstOf(syn.out)).toBe(`${RS1}:8080`);
    expect(checksumsOk(syn.out)).toBe(true);
    const [synack] = burst(d, [tcp(RS1, CLIENT, 8080, 40000, SYNACK)]);
    expect(srcOf(synack.out)).toBe(`${VIP}:80`);
    expect(checksumsOk(synack.out)).toBe(true);
    // The rewrite towards the real server names it (the gateway holds it while that server's rules are missing); the reply's does not.
    expect(syn).toMatchObject({ natIn: true, dest: d.configuration()[0].dests[0].id });
    expect(synack).toMatchObject({ natIn: false, dest: -1, flags: L.GW_VF_PAYLOAD });
    const data = tcp(CLIENT, VIP, 40000, 80, PSHACK, 100);
    const v = burst(d, [tcp(CLIENT, VIP, 40000, 80, ACK), data]);
    expect(v.map((x) => dstOf(x.out))).toEqual([`${RS1}:8080`, `${RS1}:8080`]);
    expect(v[1].out.subarray(40)).toEqual(data.subarray(40));
    const [c] = d.connections();
    expect(c).toMatchObject({ state: 'ESTABLISHED', client: { address: CLIENT, port: 40000 }, dest: { address: RS1, port: 8080 } });
    const st = d.service(svc).stats;
    expect(st).toMatchObject({ conns: 1, inpkts: 3, outpkts: 1, inbytes: 40 + 40 + 140, outbytes: 40 });
  });

  it('rr over two real servers: 20 SYNs alternate, one connection each', async () => {
    const d = await natDirector([RS1, RS2]);
    const v = burst(d, Array.from({ length: 20 }, (_, i) => tcp(CLIENT, VIP, 41000 + i, 80, SYN)));
    const got = v.map((x) => dstOf(x.out).split(':')[0]);
    expect(new Set(got.filter((_, i) => i % 2 === 0)).size).toBe(1);
    expect(got.filter((a) => a === RS1).length).toBe(10);
    expect(d.connectionCount()).toBe(20);
  });

  it('non-SYN without a connection and unrelated traffic pass untouched; replies of nobody pass', async () => {
    const d = await natDirector();
    const v = burst(d, [tcp(CLIENT, VIP, 40000, 80, ACK), tcp(CLIENT, '198.18.7.7', 1, 2, SYN), tcp(RS1, CLIENT, 8080, 1234, ACK)]);
    for (const x of v) expect(x).toMatchObject({ verdict: 1, flags: 0 });
    expect(d.connectionCount()).toBe(0);
  });

  it('malformed packets get DROP and counters, never a trap, and the burst goes on', async () => {
    const d = await natDirector();
    const good = tcp(CLIENT, VIP, 40000, 80, SYN);
    const badIhl = good.slice(); badIhl[0] = 0x43;
    const truncTcp = ipv4({ src: CLIENT, dst: VIP }, [0, 80, 0, 80, 0, 0], 6);
    const badLen = good.slice(); badLen[2] = 0x05; badLen[3] = 0xdc;
    const before = d.counter(C.CNT_PKT_MALFORMED_IP) + d.counter(C.CNT_PKT_TRUNC_L4);
    const v = burst(d, [badIhl, truncTcp, badLen, new Uint8Array([0x45]), good]);
    expect(v.slice(0, 4).map((x) => x.verdict)).toEqual([0, 0, 0, 0]);
    expect(v[4]).toMatchObject({ verdict: 1, flags: L.GW_VF_PAYLOAD });
    expect(d.counter(C.CNT_PKT_MALFORMED_IP) + d.counter(C.CNT_PKT_TRUNC_L4) - before).toBe(4);
    expect(d.counter(C.CNT_GW_DROPPED)).toBe(4);
  });

  it('a truncated record is dropped and counted; a bad stride is refused', async () => {
    const d = await natDirector();
    const [v] = burst(d, [tcp(CLIENT, VIP, 40000, 80, SYN)], 1, L.GW_RF_TRUNCATED);
    expect(v.verdict).toBe(0);
    expect(d.counter(C.CNT_GW_TRUNCATED)).toBe(1);
    expect(coreOf(d).x.gwBurst(1, 2050, 1)).toBeLessThan(0);
    expect(coreOf(d).x.gwBurst(L.MAX_BATCH + 1, STRIDE, 1)).toBeLessThan(0);
  });
});

describe('gwBurst DR and TUN', () => {
  it('DR: bytes unchanged, verdict mark derived from the dest id', async () => {
    const d = await director(3);
    d.addService(svc, { scheduler: 'rr' });
    const id = d.addDest(svc, { address: RS1, port: 80, method: 'route' });
    const [v] = burst(d, [tcp(CLIENT, VIP, 40000, 80, SYN)]);
    expect(v).toMatchObject({ verdict: 1, flags: L.GW_VF_MARK, mark: (L.GW_DR_MARK_BASE + (id & L.GW_DR_SLOT_MASK)) >>> 0 });
    expect(d.connections()[0].state).toBe('SYN_RECV');
  });

  it('TUN: IPIP from the configured source; a DF packet too big for the tunnel becomes frag-needed', async () => {
    const d = await director(3);
    d.addService(svc, { scheduler: 'rr' });
    d.addDest(svc, { address: RS1, port: 80, method: 'tunnel' });
    expect(coreOf(d).x.gwConfig(ip4(DIRECTOR), 1500)).toBe(0);
    const syn = tcp(CLIENT, VIP, 40000, 80, SYN);
    const [v] = burst(d, [syn]);
    expect(v.out[9]).toBe(4);
    expect(srcOf(v.out).split(':')[0]).toBe(DIRECTOR);
    expect(v.out.length).toBe(syn.length + 20);
    expect(checksumsOk(v.out.subarray(20))).toBe(true);
    const [big] = burst(d, [tcp(CLIENT, VIP, 40000, 80, ACK, 1460)]);
    expect(big.out[9]).toBe(1); // ICMP
    expect(big.out[20]).toBe(3);
    expect(big.out[21]).toBe(4);
    expect((big.out[26] << 8) | big.out[27]).toBe(1480);
  });
});

/** An ICMP error (type/code) from `src` to `dst` quoting the first 28 bytes of `orig`. */
function icmpError(src: string, dst: string, type: number, code: number, orig: Uint8Array): Uint8Array {
  const m = [type, code, 0, 0, 0, 0, 0, 0, ...orig.subarray(0, 28)];
  const c = csum(m);
  m[2] = c >> 8;
  m[3] = c & 255;
  return ipv4({ src, dst, df: false }, m, 1);
}

describe('gwBurst ICMP errors about connections', () => {
  it('NAT: port unreachable from the real server comes out from the VIP, quoting VIP:port; counted as out', async () => {
    const d = await director(7);
    const usvc = { protocol: 'udp' as const, address: VIP, port: 53 };
    d.addService(usvc, { scheduler: 'rr' });
    d.addDest(usvc, { address: RS1, port: 5353, method: 'masq' });
    const q = v4({ src: CLIENT, dst: VIP }, { proto: 'udp', sport: 40000, dport: 53, payload: [1, 2, 3, 4] });
    const [fwd] = burst(d, [q]);
    const err = icmpError(RS1, CLIENT, 3, 3, fwd.out);
    const [v] = burst(d, [err]);
    expect(v).toMatchObject({ verdict: 1, flags: L.GW_VF_PAYLOAD });
    const out = v.out;
    expect(`${out[12]}.${out[13]}.${out[14]}.${out[15]}`).toBe(VIP);
    expect(`${out[44]}.${out[45]}.${out[46]}.${out[47]}:${(out[50] << 8) | out[51]}`).toBe(`${VIP}:53`);
    expect(csum(out.subarray(0, 20))).toBe(0);
    expect(csum(out.subarray(20))).toBe(0);
    expect(d.service(usvc).stats).toMatchObject({ inpkts: 1, outpkts: 1 });
  });

  it('DR: an error from the client about a reply is routed to the real server with its mark; unknown errors pass', async () => {
    const d = await director(3);
    d.addService(svc, { scheduler: 'rr' });
    const id = d.addDest(svc, { address: RS1, port: 80, method: 'route' });
    burst(d, [tcp(CLIENT, VIP, 40000, 80, SYN)]);
    const reply = tcp(VIP, CLIENT, 80, 40000, SYNACK);
    const [v, other] = burst(d, [icmpError(CLIENT, VIP, 3, 4, reply), icmpError(CLIENT, VIP, 3, 4, tcp(VIP, CLIENT, 80, 1, ACK))]);
    expect(v).toMatchObject({ verdict: 1, flags: L.GW_VF_MARK, mark: (L.GW_DR_MARK_BASE + (id & L.GW_DR_SLOT_MASK)) >>> 0 });
    expect(other).toMatchObject({ verdict: 1, flags: 0 });
  });
});

describe('gwBurst TUN per real server', () => {
  it("each tunnel server's own outer source and MTU (gwDestTunnel) win over gwConfig's", async () => {
    const d = await director(3);
    d.addService(svc, { scheduler: 'rr' });
    const a = d.addDest(svc, { address: RS1, port: 80, method: 'tunnel' });
    const b = d.addDest(svc, { address: RS2, port: 80, method: 'tunnel' });
    const x = coreOf(d).x;
    expect(x.gwConfig(ip4(DIRECTOR), 1500)).toBe(0);
    expect(x.gwDestTunnel(b, ip4('198.18.2.254'), 1200)).toBe(0);
    expect(x.gwDestTunnel(0x7fffff, 0, 0)).toBe(-3); // E_NODEST
    expect(x.gwDestTunnel(a, 0, 50)).toBe(-5); // E_INVAL: below 68 + 20
    // rr from the head: RS2 (b, newest) then RS1 (a); 1,300-byte packets with DF.
    const [vb, va] = burst(d, [tcp(CLIENT, VIP, 40001, 80, SYN, 1260), tcp(CLIENT, VIP, 40002, 80, SYN, 1260)]);
    expect(dstOf(va.out).split(':')[0]).toBe(RS1);
    expect(srcOf(va.out).split(':')[0]).toBe(DIRECTOR);
    expect(va.out[9]).toBe(4);
    // b's 1,200-byte route cannot take 1,300 + 20 with DF: frag-needed with b's MTU - 20.
    expect(vb.out[9]).toBe(1);
    expect((vb.out[26] << 8) | vb.out[27]).toBe(1180);
    const [small] = burst(d, [tcp(CLIENT, VIP, 40003, 80, SYN, 10)]);
    expect(dstOf(small.out).split(':')[0]).toBe(RS2);
    expect(srcOf(small.out).split(':')[0]).toBe('198.18.2.254');
    // 0 goes back to the gwConfig default.
    expect(x.gwDestTunnel(b, 0, 0)).toBe(0);
    burst(d, [tcp(CLIENT, VIP, 40004, 80, SYN, 10)]);
    const [again] = burst(d, [tcp(CLIENT, VIP, 40005, 80, SYN, 10)]);
    expect(srcOf(again.out).split(':')[0]).toBe(DIRECTOR);
  });
});

describe('gwBurst ICMP errors on the tunnel path', () => {
  it('TUN: an error about a connection with a partial checksum is completed at the ICMP checksum, the quote untouched', async () => {
    const d = await director(3);
    d.addService(svc, { scheduler: 'rr' });
    d.addDest(svc, { address: RS1, port: 80, method: 'tunnel' });
    expect(coreOf(d).x.gwConfig(ip4(DIRECTOR), 1500)).toBe(0);
    burst(d, [tcp(CLIENT, VIP, 40000, 80, SYN)]);
    const reply = tcp(VIP, CLIENT, 80, 40000, SYNACK);
    const full = icmpError(CLIENT, VIP, 3, 4, reply);
    // CHECKSUM_PARTIAL for ICMPv4: the field holds the (empty) pseudo-header sum, 0.
    const partial = full.slice();
    partial[22] = 0;
    partial[23] = 0;
    // A TCP packet first in the same burst leaves its parse state behind.
    const [, v] = burst(d, [tcp(CLIENT, VIP, 40000, 80, ACK, 10), partial], 1, L.GW_RF_CSUM_PARTIAL);
    expect(v.out[9]).toBe(4);
    const inner = v.out.subarray(20);
    expect([...inner.subarray(0, 20)].slice(12)).toEqual([...full.subarray(12, 20)]);
    expect([...inner.subarray(20)]).toEqual([...full.subarray(20)]);
    expect(csum(inner.subarray(20))).toBe(0);
  });
});

describe('gwBurst never traps', () => {
  it('random and mutated packets: every record gets ACCEPT or DROP, the id echoed, payloads inside the record', async () => {
    const d = await natDirector([RS1, RS2]);
    const good = [tcp(CLIENT, VIP, 40000, 80, SYN), tcp(RS1, CLIENT, 8080, 40000, SYNACK), v4({ src: CLIENT, dst: VIP }, { proto: 'udp', sport: 1, dport: 80 })];
    const packet = fc.oneof(
      fc.uint8Array({ minLength: 0, maxLength: 120 }),
      fc.tuple(fc.constantFrom(...good), fc.array(fc.tuple(fc.nat(80), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.nat(80))
        .map(([p, edits, cut]) => {
          const q = p.slice(0, Math.max(1, p.length - cut));
          for (const [at, v] of edits) if (at < q.length) q[at] = v;
          return q;
        }),
    );
    fc.assert(fc.property(fc.array(packet, { minLength: 1, maxLength: 40 }), (pkts) => {
      const v = burst(d, pkts.map((p) => (p.length ? p : Uint8Array.of(0))), 5);
      v.forEach((x, i) => {
        expect(x.id).toBe(100 + i);
        expect([0, 1]).toContain(x.verdict);
        if (x.flags & L.GW_VF_PAYLOAD) {
          expect(x.off).toBe(i * STRIDE + L.GW_REC_HEADER);
          expect(x.out.length).toBeLessThanOrEqual(STRIDE - L.GW_REC_HEADER);
        }
      });
    }), { numRuns: 300, seed: 42 });
  });
});
