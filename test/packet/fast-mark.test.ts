// gwFastDest / gwFastParams: the gateway's fast path decided inside the core. A packet that opens a
// flow to a NAT real server on the fast path is accepted as it came, with the real server's ct mark
// (base + dest id's slot; a TCP flow's with the young bits), for the kernel's DNAT map, and is not
// counted (conntrack's counters bring it); everything else keeps the core's own verdict.
import { describe, expect, it } from 'vitest';
import { layout as L, status as S, counters as C } from '../../sdk/core/abi.gen.js';
import type { Director } from '../../sdk/index.js';
import { coreOf } from '../../sdk/core/index.js';
import { v4, v6 } from './build.js';
import { burst, gateway } from './burst.js';

const VIP = '198.18.0.1', CLIENT = '198.18.9.9', RS1 = '198.18.1.1', RS2 = '198.18.1.2';
const BASE = 0x57b00000, INVALID = 0x57c00000, YOUNG = 0x20000000;
const SYN = 0x02;
const syn = (sport: number) => v4({ src: CLIENT, dst: VIP }, { proto: 'tcp', sport, dport: 80, flags: SYN, payload: [] });
const key = { protocol: 'tcp' as const, address: VIP, port: 80 };
const idOf = (d: Director, address: string, k: { protocol: 'tcp' | 'udp'; address: string; port: number } = key) =>
  d.dests(k).find((x) => x.address === address)!.id;
const stats = (d: Director, k: { protocol: 'tcp' | 'udp'; address: string; port: number } = key) => {
  const s = d.service(k).stats;
  return { conns: s.conns, inpkts: s.inpkts, inbytes: s.inbytes };
};

describe('gwFastDest', () => {
  it('marks the flows it opens to a fast real server, rewrites those to the others, and counts only the rewritten packets', async () => {
    const d = await gateway({ vip: VIP, port: 80, rport: 8080, dests: [RS1, RS2] });
    const x = coreOf(d).x;
    expect(x.gwFastParams(BASE, INVALID, YOUNG)).toBe(S.OK);
    const id1 = idOf(d, RS1);
    expect(x.gwFastDest(id1, 1)).toBe(S.OK);
    const before = d.counter(C.CNT_GW_FAST_MARKED);
    const v = burst(d, [syn(40000), syn(40001), syn(40002), syn(40003)]);
    // Round robin: RS1, RS2, RS1, RS2 (in the order the service lists them).
    const fast = v.filter((r) => r.flags === L.GW_VF_MARK);
    const nat = v.filter((r) => r.natIn);
    expect(fast).toHaveLength(2);
    expect(nat).toHaveLength(2);
    v.forEach((r, i) => {
      if (r.flags !== L.GW_VF_MARK) return;
      expect(r).toMatchObject({ verdict: 1, mark: (BASE + (id1 & L.GW_DR_SLOT_MASK) + YOUNG) >>> 0, natIn: false });
      expect([...r.out]).toEqual([...syn(40000 + i)]); // the packet as it came: no payload sent
    });
    for (const r of nat) expect(r.dest).toBe(idOf(d, RS2));
    expect(d.counter(C.CNT_GW_FAST_MARKED) - before).toBe(2);
    // All four connections are in the table and counted as connections; only the two rewritten packets as packets.
    expect(d.connections()).toHaveLength(4);
    expect(stats(d)).toEqual({ conns: 4, inpkts: 2, inbytes: 2 * syn(0).length });
  });

  it('a packet conntrack called INVALID (the queue rule\'s record mark) keeps the rewrite', async () => {
    const d = await gateway({ vip: VIP, port: 80, rport: 8080, dests: [RS1] });
    const x = coreOf(d).x;
    x.gwFastParams(BASE, INVALID, YOUNG);
    x.gwFastDest(idOf(d, RS1), 1);
    const [r] = burst(d, [syn(40010)], { mark: INVALID });
    expect(r.natIn).toBe(true);
    expect(stats(d).inpkts).toBe(1);
  });

  it('UDP flows take the mark without the young bits; IPv6 too, unless an extension header comes first', async () => {
    const d = await gateway({ protocol: 'udp', vip: VIP, port: 53, dests: [RS1] });
    const x = coreOf(d).x;
    x.gwFastParams(BASE, INVALID, YOUNG);
    const id = idOf(d, RS1, { protocol: 'udp', address: VIP, port: 53 });
    x.gwFastDest(id, 1);
    const [u] = burst(d, [v4({ src: CLIENT, dst: VIP }, { proto: 'udp', sport: 40020, dport: 53, payload: [1, 2, 3] })]);
    expect(u).toMatchObject({ flags: L.GW_VF_MARK, mark: (BASE + (id & L.GW_DR_SLOT_MASK)) >>> 0 });

    const VIP6 = '2001:2::1', C6 = '2001:2::9', RS6 = '2001:2::100';
    const d6 = await gateway({ vip: VIP6, port: 80, rport: 8080, dests: [RS6] });
    const x6 = coreOf(d6).x;
    x6.gwFastParams(BASE, INVALID, YOUNG);
    const id6 = idOf(d6, RS6, { protocol: 'tcp', address: VIP6, port: 80 });
    x6.gwFastDest(id6, 1);
    const [plain, hop] = burst(d6, [
      v6({ src: C6, dst: VIP6 }, { proto: 'tcp', sport: 40030, dport: 80, flags: SYN, payload: [] }),
      v6({ src: C6, dst: VIP6, hopByHop: true }, { proto: 'tcp', sport: 40031, dport: 80, flags: SYN, payload: [] }),
    ]);
    expect(plain).toMatchObject({ flags: L.GW_VF_MARK, mark: (BASE + (id6 & L.GW_DR_SLOT_MASK) + YOUNG) >>> 0 });
    expect(hop.natIn).toBe(true);
  });

  it('off again, or the real server deleted (and revived from the trash): the core rewrites again', async () => {
    const d = await gateway({ vip: VIP, port: 80, rport: 8080, dests: [RS1, RS2] });
    const x = coreOf(d).x;
    x.gwFastParams(BASE, INVALID, 0);
    const id1 = idOf(d, RS1), id2 = idOf(d, RS2);
    x.gwFastDest(id1, 1);
    x.gwFastDest(id2, 1);
    expect(burst(d, [syn(40040), syn(40041)]).every((r) => r.flags === L.GW_VF_MARK)).toBe(true);
    x.gwFastDest(id2, 0);
    // RS1's open connection keeps it in the trash when deleted; added again it is the same real server, not fast.
    d.deleteDest(key, { address: RS1, port: 8080 });
    d.addDest(key, { address: RS1, port: 8080, method: 'masq' });
    expect(idOf(d, RS1)).toBe(id1);
    const v = burst(d, [syn(40042), syn(40043)]);
    expect(v.every((r) => r.natIn)).toBe(true);
  });

  it('refuses a dest that is not there, an on value other than 0 or 1, and marks that overlap', async () => {
    const d = await gateway({ vip: VIP, port: 80, rport: 8080, dests: [RS1] });
    const x = coreOf(d).x;
    expect(x.gwFastDest(999_999, 1)).toBe(S.E_NODEST);
    expect(x.gwFastDest(idOf(d, RS1), 2)).toBe(S.E_INVAL);
    expect(x.gwFastParams(BASE + 1, INVALID, YOUNG)).toBe(S.E_INVAL); // the base has slot bits
    expect(x.gwFastParams(BASE, INVALID, 0x00100000)).toBe(S.E_INVAL); // young bits inside the base
    // A fast real server lists as before: available, not overloaded.
    x.gwFastDest(idOf(d, RS1), 1);
    expect(d.dests(key)[0]).toMatchObject({ available: true, overloaded: false });
  });
});
