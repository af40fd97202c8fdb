// The fast path's computations (no root needed): which services take it,
// the iptables rules and nft map they get, and how a core NAT verdict turns
// into a mark verdict. The namespace suite (gw-fastpath.test.ts) runs them
// against the kernel.
import { describe, expect, it } from 'vitest';
import { layout as L } from '../../../sdk/core/abi.gen.js';
import { ruleSet, CHAIN } from '../../../hosts/gateway/rules.js';
import { drChainsAfter, fastDelta, fastPlan, goneMarks, listDiff, retarget, parseDrCounters, DrStats, FAST_MARK_BASE, FAST_MARK_MASK, FAST_INVALID_MARK } from '../../../hosts/gateway/fastpath.js';
import { CtFeed, CT, CT_SETTLED, CT_YOUNG, SWEEP_TICKS, youngBits, queuedKey6, type NativeConntrack } from '../../../hosts/gateway/ctfeed.js';
import { Director } from '../../../sdk/director.js';
import { parseGatewayArgs } from '../../../hosts/gateway/gateway.js';
import { packedSpan } from '../../../hosts/gateway/records.js';
import { director } from '../../helpers.js';

const Q = { first: 2, last: 2, failOpen: true };
type Method = 'masq' | 'route' | 'tunnel';

/** Services 198.18.42.N:80 (tcp), each with real servers of the given methods. */
async function views(...services: Array<Array<[Method, string, number]>>) {
  const d = await director(5);
  services.forEach((dests, i) => {
    const key = { protocol: 'tcp' as const, address: `198.18.42.${i + 1}`, port: 80 };
    d.addService(key);
    for (const [method, address, port] of dests) d.addDest(key, { address, port, method });
  });
  return d.services().map((s) => ({ service: s, dests: d.dests({ protocol: s.protocol!, address: s.address!, port: s.port }) }));
}

describe('gateway fast path: plan, rules, verdicts', () => {
  it('IPv4 NAT services go fast: NEW-only queue rule, tracked, no reply or ICMP rule; the map names each real server by its mark', async () => {
    const v = await views([['masq', '198.18.41.2', 8080], ['masq', '198.18.41.3', 8080]]);
    const plan = fastPlan(v);
    expect(plan.services.size).toBe(1);
    const rs = ruleSet(v, Q, plan.services);
    // NEW and INVALID packets (the latter marked first, so their core verdict is not turned into a mark); the
    // flows' other packets, tracked, leave the chain at its first rule.
    expect(rs.mangle).toEqual([
      `-A ${CHAIN} -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN`,
      `-A ${CHAIN} -d 198.18.42.1/32 -p tcp --dport 80 -m conntrack --ctstate INVALID -j MARK --set-xmark 0x57c00000/0xffffffff`,
      `-A ${CHAIN} -d 198.18.42.1/32 -p tcp --dport 80 -m conntrack --ctstate NEW,INVALID -j NFQUEUE --queue-num 2 --queue-bypass`,
    ]);
    expect(FAST_INVALID_MARK & FAST_MARK_MASK).not.toBe(FAST_MARK_BASE);
    expect((FAST_INVALID_MARK & 0xfff00000) >>> 0).not.toBe(L.GW_DR_MARK_BASE);
    expect(rs.forward).toEqual([]);
    expect(rs.raw.filter((r) => r.includes('notrack'))).toEqual([]);
    const marks = v[0].dests.map((d) => (FAST_MARK_BASE + (d.id & L.GW_DR_SLOT_MASK)) >>> 0);
    for (const m of marks) expect((m & FAST_MARK_MASK) >>> 0).toBe(FAST_MARK_BASE);
    expect([...plan.targets.values()].sort()).toEqual([...marks].sort());
    const elements = v[0].dests.map((d, i) => `0x${marks[i].toString(16)} : ${d.address} . ${d.port}`);
    expect(v[0].dests.map((d) => d.address).sort()).toEqual(['198.18.41.2', '198.18.41.3']);
    expect(plan.script).toContain(`add element ip wasmvs_gw dests { ${elements.join(', ')} }`);
    expect(plan.script).toContain('flush map ip wasmvs_gw dests');
    // The map is read with the feed's young bits off (ctfeed.ts CT_YOUNG); no ct timeout policy unless asked for.
    expect(plan.script).toContain('meta mark and 0x5ff00000 == 0x57b00000 ct mark set meta mark dnat ip to meta mark and 0x5fffffff map @dests');
    expect(plan.script).not.toContain('ct timeout');
    // With it: fast TCP flows' TIME_WAIT and CLOSE last SETTLED_CT_TIMEOUT_S in conntrack.
    const timed = fastPlan(v, { ctTimeout: true }).script;
    expect(timed).toContain('add ct timeout ip wasmvs_gw wasmvs_tcp { protocol tcp ; l3proto ip ; policy = { time_wait : 1, close : 1 } ; }');
    expect(timed).toContain('ct mark set meta mark ct timeout set "wasmvs_tcp" dnat ip to meta mark and 0x5fffffff map @dests');
  });

  it('beside a fwmark service the chain keeps no early return for tracked packets: a mark set after raw leaves them tracked', async () => {
    const v = await views([['masq', '198.18.41.2', 8080]]);
    const plan = fastPlan(v);
    const d = await director(6);
    d.addService({ fwmark: 7, af: 4 });
    d.addDest({ fwmark: 7, af: 4 }, { address: '198.18.41.9', port: 0, method: 'masq' });
    const fw = d.services().map((s) => ({ service: s, dests: d.dests({ fwmark: 7, af: 4 }) }));
    const rs = ruleSet([...v, ...fw], Q, plan.services);
    expect(rs.mangle.some((r) => r.includes('ESTABLISHED'))).toBe(false);
    expect(rs.mangle).toContain(`-A ${CHAIN} -m mark --mark 7 -j NFQUEUE --queue-num 2 --queue-bypass`);
    // Without fast NAT services there is nothing tracked to let out early either.
    expect(ruleSet(v, Q).mangle.some((r) => r.includes('ESTABLISHED'))).toBe(false);
  });

  it('a service mixing methods, or sharing a NAT real server with a userspace service, stays on the userspace path', async () => {
    const v = await views(
      [['masq', '198.18.41.2', 8080], ['route', '198.18.41.4', 80]], // mixed: userspace, its NAT replies queued untracked
      [['masq', '198.18.41.2', 8080]], // shares 198.18.41.2:8080 with the first: userspace too
      [['masq', '198.18.41.5', 8080]], // fast
    );
    const plan = fastPlan(v);
    expect([...plan.services].map((s) => s.service.address)).toEqual(['198.18.42.3']);
    const rs = ruleSet(v, Q, plan.services);
    expect(rs.mangle.filter((r) => r.includes('ctstate NEW'))).toEqual([`-A ${CHAIN} -d 198.18.42.3/32 -p tcp --dport 80 -m conntrack --ctstate NEW,INVALID -j NFQUEUE --queue-num 2 --queue-bypass`]);
    // The userspace services' packets are untracked (raw), so tracked open flows still leave the chain first.
    expect(rs.mangle[0]).toBe(`-A ${CHAIN} -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN`);
    expect(rs.raw.some((r) => r.includes('198.18.42.1/32') && r.includes('notrack'))).toBe(true);
    expect(rs.forward.some((r) => r.includes('198.18.41.2/32 -p tcp --sport 8080'))).toBe(true);
    expect(rs.forward.some((r) => r.includes('198.18.41.5'))).toBe(false);
    expect(plan.script).not.toContain('198.18.41.2');
  });

  it('with connection sync (connSync: wasmvsd sets it from --sync-*) NAT services stay on the userspace path, DR ones go fast', async () => {
    const v = await views([['masq', '198.18.41.2', 8080]], [['route', '198.18.41.4', 80]]);
    const plan = fastPlan(v, { nat: false });
    expect(plan.services.size).toBe(0);
    expect([...plan.drServices].map((x) => x.service.address)).toEqual(['198.18.42.2']);
    expect(plan.script).not.toContain('198.18.41.2');
    expect(ruleSet(v, Q, plan.services, plan.drServices).forward.some((r) => r.includes('198.18.41.2/32 -p tcp --sport 8080'))).toBe(true);
    expect(() => parseGatewayArgs(['--conn-sync'])).toThrow(/unknown gateway option --conn-sync/);
    expect(parseGatewayArgs([]).connSync).toBeUndefined();
  });

  it('no fast service: empty maps, and the rules are exactly those of the userspace path', async () => {
    const v = await views([['route', '198.18.41.4', 80], ['tunnel', '198.18.41.5', 80]]);
    const plan = fastPlan(v);
    expect(plan.services.size + plan.drServices.size).toBe(0);
    expect(plan.script).not.toContain('add element');
    expect(plan.script).not.toContain('add rule ip wasmvs_gw drlookup');
    // No DR service: the DR base chains are removed, so no packet pays their hooks.
    expect(plan.script).toContain('delete chain ip wasmvs_gw drlookup\ndelete chain ip wasmvs_gw drlearn\n');
    expect(ruleSet(v, Q, plan.services, plan.drServices)).toEqual(ruleSet(v, Q));
  });

  it('the DR base chains are created and deleted only when a DR service comes or goes: a deleted base chain makes the kernel drop every queued packet', async () => {
    const nat = await views([['masq', '198.18.41.2', 8080]]);
    const dr = await views([['route', '198.18.41.4', 80]]);
    const chains = (script: string) => script.split('\n').filter((l) => / ip wasmvs_gw dr(lookup|learn)\b/.test(l) && / chain /.test(l));
    // The gateway's first script (it removed its tables at start): NAT only, no DR chain named at all.
    const first = fastPlan(nat, { had: drChainsAfter(null) }).script;
    expect(chains(first)).toEqual([]);
    // The next NAT change (a real server added): still none, so no hook is unregistered.
    expect(chains(fastPlan(nat, { had: drChainsAfter(first) }).script)).toEqual([]);
    // A DR service comes: the chains are made; while it stays they are only emptied and refilled.
    const withDr = fastPlan(dr, { had: drChainsAfter(first) }).script;
    expect(chains(withDr).filter((l) => l.startsWith('delete'))).toEqual([]);
    expect(chains(withDr).filter((l) => l.startsWith('add chain'))).toHaveLength(2);
    expect(chains(fastPlan(dr, { had: drChainsAfter(withDr) }).script).filter((l) => l.startsWith('delete'))).toEqual([]);
    // It goes: deleted once (made first if missing, so the deletion cannot fail), then never named again.
    const gone = fastPlan(nat, { had: drChainsAfter(withDr) }).script;
    expect(chains(gone).filter((l) => l.startsWith('delete'))).toEqual(['delete chain ip wasmvs_gw drlookup', 'delete chain ip wasmvs_gw drlearn']);
    expect(chains(fastPlan(nat, { had: drChainsAfter(gone) }).script)).toEqual([]);
    // The same in the IPv6 table.
    const nat6 = fastPlan(nat, { v6: true, had: drChainsAfter(null) }).script;
    expect(nat6).not.toContain('chain ip6 wasmvs_gw drlookup');
    expect(drChainsAfter(fastPlan(dr, { v6: true, had: drChainsAfter(nat6) }).script)).toEqual({ dr: true, dr6: false });
  });

  it('a DR-only service goes fast: queued unless marked, untracked, its DR routes kept; the flow maps look up and learn its flows', async () => {
    const v = await views([['route', '198.18.41.4', 80], ['route', '198.18.41.5', 80]]);
    const plan = fastPlan(v);
    expect(plan.services.size).toBe(0);
    expect([...plan.drServices].map((x) => x.service.address)).toEqual(['198.18.42.1']);
    const rs = ruleSet(v, Q, plan.services, plan.drServices);
    const marks = v[0].dests.map((d) => (L.GW_DR_MARK_BASE + (d.id & L.GW_DR_SLOT_MASK)) >>> 0);
    expect(rs.mangle).toContain(`-A ${CHAIN} -d 198.18.42.1/32 -p tcp --dport 80 -m mark ! --mark 0x57a00000/0xfff00000 -j NFQUEUE --queue-num 2 --queue-bypass`);
    expect(rs.raw).toContain('-A WASMVS-GW-RAW -d 198.18.42.1/32 -p tcp --dport 80 -j CT --notrack');
    expect(rs.routes).toEqual(v[0].dests.map((d, i) => ({ mark: marks[i], via: d.address })));
    expect([...plan.drTargets.values()].sort()).toEqual([...marks].sort());
    expect(plan.script).toContain('add element ip wasmvs_gw drsvc { 198.18.42.1 . tcp . 80 }');
    expect(plan.script).toContain('meta mark set ip saddr . ip daddr . th sport . th dport map @drtcp');
    expect(plan.script).toContain('meta l4proto tcp tcp flags & syn == 0 add @drtcp { ip saddr . ip daddr . th sport . th dport : meta mark }');
    expect(plan.script).toContain('timeout 10s');
    expect(plan.script).not.toContain('delete chain');
    expect(plan.script).not.toContain('flush map ip wasmvs_gw drtcp'); // flows survive configuration changes
    // Every SYN meets the core: one on a remembered port makes its flow stale, and a stale flow's
    // packets skip the map (queued) until the map's element is gone; both before the map's lookup.
    // Other services' packets pay one lookup (drsvc) before they leave the DR rules.
    const rules = (chain: string) => plan.script.split('\n').filter((l) => l.startsWith(`add rule ip wasmvs_gw ${chain} `)).map((l) => l.slice(`add rule ip wasmvs_gw ${chain} `.length));
    expect(rules('drlookup')).toEqual(['ip daddr . meta l4proto . th dport @drsvc jump drflow']);
    expect(rules('drflow')).toEqual([
      'tcp flags & (syn | ack) == syn ip saddr . ip daddr . th sport . th dport @drtcp update @drstale { ip saddr . ip daddr . th sport . th dport }',
      'meta l4proto tcp ip saddr . ip daddr . th sport . th dport @drstale return',
      'tcp flags & (fin | rst) == 0 meta mark set ip saddr . ip daddr . th sport . th dport map @drtcp update @drpk { meta mark }',
      'meta l4proto udp meta mark set ip saddr . ip daddr . th sport . th dport map @drudp update @drpk { meta mark }',
    ]);
    expect(plan.script).not.toContain('flush set ip wasmvs_gw drstale');
    // Each flow-map hit counted under its DR mark; the marks name the real servers' ids.
    expect(plan.script).toContain('map @drtcp update @drpk { meta mark }');
    expect(plan.script).toContain('add set ip wasmvs_gw drpk { type mark ; flags dynamic ; counter ;');
    expect(plan.script).not.toContain('flush set ip wasmvs_gw drpk');
    expect([...plan.drDests]).toEqual(v[0].dests.map((d, i) => [marks[i], d.id]));
  });

  it('DR counters: nft\'s JSON per mark, differences fed to the real server the mark names, a re-created element counted from zero', () => {
    const json = (elems: Array<[number, number, number]>) => JSON.stringify({ nftables: [{ metainfo: { version: '1.0.6' } },
      { set: { family: 'ip', name: 'drpk', table: 'wasmvs_gw', type: 'mark', ...(elems.length ? { elem: elems.map(([val, packets, bytes]) => ({ elem: { val, counter: { packets, bytes } } })) } : {}) } }] });
    expect(parseDrCounters(json([]))).toEqual(new Map());
    const A = 0x57a00001, B = 0x57a00002, GONE = 0x57a00009;
    expect(parseDrCounters(json([[A, 5, 640]]))).toEqual(new Map([[A, [5, 640]]]));
    expect(() => parseDrCounters('not json')).toThrow();
    const fed: number[][] = [];
    const st = new DrStats();
    const dests = new Map([[A, 11], [B, 12]]);
    const feed = (...a: number[]) => { fed.push(a); return a[0] === 99 ? -1 : 0; };
    expect(st.feed(parseDrCounters(json([[A, 5, 640], [B, 0, 0], [GONE, 7, 700]])), dests, feed)).toBe(5);
    expect(fed).toEqual([[11, 0, 5, 640, 0, 0]]); // nothing for B (no packets) or a mark no real server has
    fed.length = 0;
    expect(st.feed(parseDrCounters(json([[A, 8, 1000], [B, 2, 200]])), dests, feed)).toBe(5);
    expect(fed).toEqual([[11, 0, 3, 360, 0, 0], [12, 0, 2, 200, 0, 0]]);
    fed.length = 0;
    expect(st.feed(parseDrCounters(json([[A, 1, 100], [B, 2, 200]])), dests, feed)).toBe(1); // A re-created
    expect(fed).toEqual([[11, 0, 1, 100, 0, 0]]);
    expect(st.fedPackets).toBe(11);
  });

  it('retarget: a NAT verdict to a fast real server becomes "accept the original with its mark"; others, and INVALID-marked packets, are left alone', () => {
    const list = 0, packets = 4096;
    const mem = new DataView(new ArrayBuffer(16384));
    // Packed records of 40-byte packets, in verdict order; the core rewrote each in place.
    const rec = (i: number) => packets + i * packedSpan(40);
    const ip = (i: number, dst: number[], dport: number, proto = 6, mark = 0) => {
      const r = rec(i), p = r + L.GW_REC_HEADER;
      mem.setUint32(r + L.GW_REC_LEN, 40, true);
      mem.setUint32(r + L.GW_REC_MARK, mark, true);
      mem.setUint8(p, 0x45);
      mem.setUint16(p + 2, 40);
      mem.setUint8(p + 9, proto);
      dst.forEach((b, j) => mem.setUint8(p + 16 + j, b));
      mem.setUint16(p + 22, dport);
    };
    const verdict = (i: number, flags: number) => {
      const v = list + i * L.GW_VER_SIZE;
      mem.setUint32(v + L.GW_VER_ID, 100 + i, true);
      mem.setUint32(v + L.GW_VER_VERDICT, 1, true);
      mem.setUint32(v + L.GW_VER_FLAGS, flags, true);
      mem.setUint32(v + L.GW_VER_OFF, rec(i) + L.GW_REC_HEADER - packets, true);
      mem.setUint32(v + L.GW_VER_LEN, 40, true);
    };
    ip(0, [198, 18, 41, 2], 8080); // to the fast real server
    ip(1, [198, 18, 41, 9], 8080); // to another address
    ip(2, [198, 18, 41, 2], 8080, 1); // ICMP
    ip(3, [198, 18, 41, 2], 8080); // plain accept
    ip(4, [198, 18, 41, 2], 8080, 6, FAST_INVALID_MARK); // conntrack's INVALID: the core's rewrite goes out
    ip(5, [198, 18, 41, 2], 8080, 17, 0x1234); // another mark of the user's: turned
    for (let i = 0; i < 6; i++) verdict(i, i === 3 ? 0 : L.GW_VF_PAYLOAD);
    const mark = FAST_MARK_BASE + 5;
    const targets = new Map([[((198 * 256 + 18) * 256 + 41) * 256 * 65536 + 2 * 65536 + 8080, mark]]);
    expect(retarget(mem, list, packets, 6, targets)).toBe(2);
    for (const i of [0, 5]) {
      const v = list + i * L.GW_VER_SIZE;
      expect(mem.getUint32(v + L.GW_VER_FLAGS, true)).toBe(L.GW_VF_MARK);
      expect(mem.getUint32(v + L.GW_VER_MARK, true)).toBe(mark);
      expect(mem.getUint32(v + L.GW_VER_LEN, true)).toBe(0);
      expect(mem.getUint32(v + L.GW_VER_ID, true)).toBe(100 + i);
    }
    for (const i of [1, 2, 4]) expect(mem.getUint32(list + i * L.GW_VER_SIZE + L.GW_VER_FLAGS, true)).toBe(L.GW_VF_PAYLOAD);
    expect(mem.getUint32(list + 3 * L.GW_VER_SIZE + L.GW_VER_FLAGS, true)).toBe(0);
    // A fixed stride walks the records the same way.
    for (let i = 0; i < 6; i++) verdict(i, i === 3 ? 0 : L.GW_VF_PAYLOAD);
    expect(retarget(mem, list, packets, 6, targets, null, packedSpan(40))).toBe(2);
    // The feed's young generation goes into TCP flows' marks (CT_YOUNG), not into UDP ones'.
    for (let i = 0; i < 6; i++) verdict(i, i === 3 ? 0 : L.GW_VF_PAYLOAD);
    expect(retarget(mem, list, packets, 6, targets, { countQueued: () => {}, countQueued6: () => {}, young: youngBits(2) })).toBe(2);
    expect(mem.getUint32(list + L.GW_VER_MARK, true)).toBe((mark | youngBits(2)) >>> 0);
    expect(mem.getUint32(list + 5 * L.GW_VER_SIZE + L.GW_VER_MARK, true)).toBe(mark);
  });

  it('IPv6 (v6: true): NAT and DR services go fast in the ip6 table, ip6tables queues their new flows; without it they stay on the userspace path', async () => {
    const d = await director(5);
    const nat = { protocol: 'tcp' as const, address: '2001:2:0:42::1', port: 80 };
    const dr = { protocol: 'udp' as const, address: '2001:2:0:42::2', port: 53 };
    d.addService(nat);
    d.addDest(nat, { address: '2001:2:0:41::2', port: 8080, method: 'masq' });
    d.addService(dr);
    d.addDest(dr, { address: '2001:2:0:41::3', port: 53, method: 'route' });
    const v = d.services().map((s) => ({ service: s, dests: d.dests({ protocol: s.protocol!, address: s.address!, port: s.port }) }));
    // Without v6 (ip6tables or the ip6 table unusable): nothing of IPv6 goes fast, and no ip6 table is touched.
    const off = fastPlan(v);
    expect([off.services.size, off.drServices.size, off.targets6.size]).toEqual([0, 0, 0]);
    expect(off.script).not.toContain('ip6');
    const plan = fastPlan(v, { v6: true });
    expect([...plan.services].map((s) => s.service.address)).toEqual(['2001:2:0:42::1']);
    expect([...plan.drServices].map((s) => s.service.address)).toEqual(['2001:2:0:42::2']);
    const natMark = (FAST_MARK_BASE + (v[0].dests[0].id & L.GW_DR_SLOT_MASK)) >>> 0;
    const drMark = (L.GW_DR_MARK_BASE + (v[1].dests[0].id & L.GW_DR_SLOT_MASK)) >>> 0;
    expect([...plan.targets6]).toEqual([[`${0x20010002}:${0x41}:0:2 8080`, natMark]]);
    expect([...plan.drDests]).toEqual([[drMark, v[1].dests[0].id]]);
    const rs = ruleSet(v, Q, plan.services, plan.drServices);
    expect(rs.mangle).toEqual([]);
    expect(rs.v6.mangle).toEqual([
      `-A ${CHAIN} -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN`,
      `-A ${CHAIN} -d 2001:2:0:42::2/128 -p icmpv6 --icmpv6-type 1 -j NFQUEUE --queue-num 2 --queue-bypass`,
      `-A ${CHAIN} -d 2001:2:0:42::2/128 -p icmpv6 --icmpv6-type 2 -j NFQUEUE --queue-num 2 --queue-bypass`,
      `-A ${CHAIN} -d 2001:2:0:42::2/128 -p icmpv6 --icmpv6-type 3 -j NFQUEUE --queue-num 2 --queue-bypass`,
      `-A ${CHAIN} -d 2001:2:0:42::2/128 -p icmpv6 --icmpv6-type 4 -j NFQUEUE --queue-num 2 --queue-bypass`,
      `-A ${CHAIN} -d 2001:2:0:42::1/128 -p tcp --dport 80 -m conntrack --ctstate INVALID -j MARK --set-xmark 0x57c00000/0xffffffff`,
      `-A ${CHAIN} -d 2001:2:0:42::1/128 -p tcp --dport 80 -m conntrack --ctstate NEW,INVALID -j NFQUEUE --queue-num 2 --queue-bypass`,
      `-A ${CHAIN} -d 2001:2:0:42::2/128 -p udp --dport 53 -m mark ! --mark 0x57a00000/0xfff00000 -j NFQUEUE --queue-num 2 --queue-bypass`,
    ]);
    expect(rs.v6.forward).toEqual([]); // replies are conntrack's
    expect(rs.v6.raw.filter((r) => r.includes('notrack'))).toEqual(rs.v6.raw.filter((r) => r.includes('2001:2:0:42::2/128') && r.includes('notrack')));
    expect(rs.v6.routes).toEqual([{ mark: drMark, via: '2001:2:0:41::3' }]);
    expect(plan.script).toContain(`add element ip6 wasmvs_gw dests { 0x${natMark.toString(16)} : 2001:2:0:41::2 . 8080 }`);
    expect(plan.script).toContain('ct mark set meta mark dnat ip6 to meta mark and 0x5fffffff map @dests');
    expect(fastPlan(v, { v6: true, ctTimeout: true }).script).toContain('add ct timeout ip6 wasmvs_gw wasmvs_tcp { protocol tcp ; l3proto ip6 ;');
    expect(plan.script).toContain('add element ip6 wasmvs_gw drsvc { 2001:2:0:42::2 . udp . 53 }');
    expect(plan.script).toMatch(/meta mark set jhash ip6 saddr \. ip6 daddr \. th sport \. th dport mod 4294967295 seed 0x[0-9a-f]+ \. jhash .* map @dr6udp update @drpk/);
    // No IPv6 service: the ip6 table goes (created and deleted in the same transaction, so it need not exist).
    expect(fastPlan([], { v6: true }).script).toContain('add table ip6 wasmvs_gw\ndelete table ip6 wasmvs_gw');
  });

  it('retarget, IPv6: a NAT verdict whose rewritten packet goes to a fast IPv6 real server becomes its mark; the queued packet is noted under its flow', () => {
    const list = 0, packets = 4096, len = 60;
    const mem = new DataView(new ArrayBuffer(16384));
    const rec = (i: number) => packets + i * packedSpan(len);
    const words = (s: string) => s === 'rs' ? [0x20010002, 0x41, 0, 2] : s === 'other' ? [0x20010002, 0x41, 0, 9] : [0x20010002, 0x40, 0, 2];
    const ip6 = (i: number, dst: string, nh = 6) => {
      const r = rec(i), p = r + L.GW_REC_HEADER;
      mem.setUint32(r + L.GW_REC_LEN, len, true);
      mem.setUint8(p, 0x60);
      mem.setUint16(p + 4, len - 40);
      mem.setUint8(p + 6, nh);
      words('client').forEach((w, j) => mem.setUint32(p + 8 + 4 * j, w));
      words(dst).forEach((w, j) => mem.setUint32(p + 24 + 4 * j, w));
      mem.setUint16(p + 40, 40000);
      mem.setUint16(p + 42, 8080);
      const v = list + i * L.GW_VER_SIZE;
      mem.setUint32(v + L.GW_VER_ID, 100 + i, true);
      mem.setUint32(v + L.GW_VER_FLAGS, L.GW_VF_PAYLOAD, true);
      mem.setUint32(v + L.GW_VER_OFF, p - packets, true);
      mem.setUint32(v + L.GW_VER_LEN, len, true);
    };
    ip6(0, 'rs');
    ip6(1, 'other');
    ip6(2, 'rs', 0); // an extension header first: the core's rewrite goes out
    const mark = FAST_MARK_BASE + 7;
    const noted: Array<[string, number]> = [];
    expect(retarget(mem, list, packets, 3, new Map(), { countQueued: () => { throw new Error('an IPv4 note'); }, countQueued6: (k, n) => noted.push([k, n]) }, L.GW_STRIDE_PACKED,
      new Map([[`${0x20010002}:${0x41}:0:2 8080`, mark]]))).toBe(1);
    expect(mem.getUint32(list + L.GW_VER_FLAGS, true)).toBe(L.GW_VF_MARK);
    expect(mem.getUint32(list + L.GW_VER_MARK, true)).toBe(mark);
    for (const i of [1, 2]) expect(mem.getUint32(list + i * L.GW_VER_SIZE + L.GW_VER_FLAGS, true)).toBe(L.GW_VF_PAYLOAD);
    expect(noted).toEqual([[queuedKey6(6, words('client'), 40000, words('rs'), 8080), len]]);
  });

  it('fastDelta: a change of real servers is only the elements that changed; a change of shape (a DR service, the first NAT one) is the whole script', async () => {
    const a = fastPlan(await views([['masq', '198.18.41.2', 8080]], [['masq', '198.18.41.3', 8080]]));
    const b = fastPlan(await views([['masq', '198.18.41.2', 8080]], [['masq', '198.18.41.3', 8080], ['masq', '198.18.41.4', 8080]]));
    // The same configuration: nothing to send.
    expect(fastDelta(a.parts, fastPlan(await views([['masq', '198.18.41.2', 8080]], [['masq', '198.18.41.3', 8080]])).parts)).toBe('');
    const added = /^0x[0-9a-f]+ : 198\.18\.41\.4 \. 8080$/;
    const el = b.parts.lists.dests.find((e) => added.test(e))!;
    expect(el).toBeDefined();
    expect(fastDelta(a.parts, b.parts)).toBe(`add element ip wasmvs_gw dests { ${el} }\n`);
    // Back: deleted by its key (the mark).
    expect(fastDelta(b.parts, a.parts)).toBe(`delete element ip wasmvs_gw dests { ${el.split(' : ')[0]} }\n`);
    // A mark that now names another real server: deleted and added in the one transaction.
    const c = fastPlan(await views([['masq', '198.18.41.2', 8080]], [['masq', '198.18.41.5', 8080]]));
    const moved = c.parts.lists.dests.find((e) => e.includes('198.18.41.5'))!;
    const was = a.parts.lists.dests.find((e) => e.includes('198.18.41.3'))!;
    expect(moved.split(' : ')[0]).toBe(was.split(' : ')[0]);
    expect(fastDelta(a.parts, c.parts)).toBe(`delete element ip wasmvs_gw dests { ${was.split(' : ')[0]} }\nadd element ip wasmvs_gw dests { ${moved} }\n`);
    // A DR service appears: the table's shape changes (its chains and rules), so the whole script.
    const dr = fastPlan(await views([['masq', '198.18.41.2', 8080]], [['route', '198.18.41.3', 80]]));
    expect(fastDelta(a.parts, dr.parts)).toBeNull();
    // No fast service, then one: the whole script too (the map's add element line comes and goes).
    const none = fastPlan(await views([['tunnel', '198.18.41.2', 8080]]));
    expect(fastDelta(none.parts, a.parts)).toBeNull();
    // DR services' set: by element as well once the shape holds.
    const dr2 = fastPlan(await views([['masq', '198.18.41.2', 8080]], [['route', '198.18.41.3', 80]], [['route', '198.18.41.4', 80]]));
    expect(fastDelta(dr.parts, dr2.parts)).toBe('add element ip wasmvs_gw drsvc { 198.18.42.3 . tcp . 80 }\n');
  });

  it('listDiff: what left and what came, whatever moved, the common head and tail skipped', () => {
    const sorted = (d: { gone: string[]; added: string[] }) => ({ gone: [...d.gone].sort(), added: [...d.added].sort() });
    expect(listDiff(['a', 'b', 'c'], ['a', 'b', 'c'])).toEqual({ gone: [], added: [] });
    expect(listDiff(['a', 'b', 'c'], ['a', 'x', 'b', 'c'])).toEqual({ gone: [], added: ['x'] });
    expect(listDiff(['a', 'b', 'c'], ['a', 'c'])).toEqual({ gone: ['b'], added: [] });
    expect(listDiff([], ['a'])).toEqual({ gone: [], added: ['a'] });
    expect(listDiff(['a'], [])).toEqual({ gone: ['a'], added: [] });
    // Moved, not changed: nothing.
    expect(listDiff(['x', 'a', 'b', 'y'], ['a', 'b', 'y', 'x'])).toEqual({ gone: [], added: [] });
    expect(sorted(listDiff(['p', 'x', 'q', 'r', 's'], ['p', 'r', 'n', 'x', 's']))).toEqual({ gone: ['q'], added: ['n'] });
    // Against a plain set difference over random lists without repeats.
    let seed = 7;
    const rnd = (n: number) => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed % n; };
    for (let t = 0; t < 200; t++) {
      const pool = Array.from({ length: 30 }, (_, i) => `e${i}`);
      const pick = () => pool.filter(() => rnd(3) > 0).sort(() => rnd(5) - 2);
      const a = pick(), b = rnd(2) ? pick() : [...a.slice(0, rnd(a.length + 1)), 'new', ...a.slice(rnd(a.length + 1))].filter((e, i, l) => l.indexOf(e) === i);
      expect(sorted(listDiff(a, b))).toEqual({ gone: a.filter((e) => !b.includes(e)).sort(), added: b.filter((e) => !a.includes(e)).sort() });
    }
  });

  it('--fast-path takes on or off, anything else is a clear error', () => {
    expect(parseGatewayArgs(['--fast-path', 'on']).fastPath).toBe(true);
    expect(parseGatewayArgs(['--fast-path=off']).fastPath).toBe(false);
    expect(parseGatewayArgs([]).fastPath).toBe(true); // wasmvsd's default; a kernel without nft or ctnetlink falls back (gw-fastpath.test.ts)
    expect(() => parseGatewayArgs(['--fast-path', 'yes'])).toThrow(/invalid --fast-path yes \(on\|off\)/);
  });
});

describe('gateway fast path: the conntrack feed (ctfeed.ts) against the core', () => {
  const ip = (s: string) => s.split('.').reduce((a, b) => a * 256 + Number(b), 0);
  const C = '198.18.40.2', V = '198.18.42.1', R = '198.18.41.2';
  /** One ct_socket.cc record. */
  const rec = (o: { kind?: number; state: number; close?: number; cport: number; id?: number; op?: number; ob?: number; rp?: number; rb?: number; mark?: number }) => {
    const b = new Uint8Array(CT.SIZE);
    const v = new DataView(b.buffer);
    v.setUint8(CT.KIND, o.kind ?? CT.KIND_DUMP);
    v.setUint8(CT.PROTO, 6);
    v.setUint8(CT.STATE, o.state);
    v.setUint8(CT.CLOSE, o.close ?? 0);
    v.setUint32(CT.MARK, o.mark ?? FAST_MARK_BASE + 1, true);
    v.setUint32(CT.ID, o.id ?? 7, true);
    v.setUint32(CT.OSRC, ip(C), true);
    v.setUint32(CT.ODST, ip(V), true);
    v.setUint16(CT.OSPORT, o.cport, true);
    v.setUint16(CT.ODPORT, 80, true);
    v.setUint32(CT.RSRC, ip(R), true);
    v.setUint32(CT.RDST, ip(C), true);
    v.setUint16(CT.RSPORT, 8080, true);
    v.setUint16(CT.RDPORT, o.cport, true);
    v.setFloat64(CT.OPKTS, o.op ?? 0, true);
    v.setFloat64(CT.OBYTES, o.ob ?? 0, true);
    v.setFloat64(CT.RPKTS, o.rp ?? 0, true);
    v.setFloat64(CT.RBYTES, o.rb ?? 0, true);
    return b;
  };
  /**
   * A stand-in for the kernel's table: what the next dump lists (filtered by mark as the kernel does, and with
   * `deltas` each listed entry's counters since its last read, as the addon's delta mode: here the table's counters
   * are reset after the read), what was deleted or marked.
   */
  class FakeCt implements NativeConntrack {
    table: Uint8Array[] = [];
    events_: Uint8Array[] = [];
    removed: number[] = [];
    flushed: Array<[number, number]> = [];
    /** Client port and new mark of each entry setMarks changed. */
    marked: Array<[number, number]> = [];
    dumps: Array<[number, number]> = [];
    private static view = (r: Uint8Array) => new DataView(r.buffer, r.byteOffset, r.byteLength);
    dump(mark: number, mask: number, deltas?: boolean) {
      this.dumps.push([mark, mask]);
      const listed = this.table.filter((r) => ((FakeCt.view(r).getUint32(CT.MARK, true) & mask) >>> 0) === mark);
      const out = Buffer.concat(listed);
      if (deltas) for (const r of listed) for (const f of [CT.OPKTS, CT.OBYTES, CT.RPKTS, CT.RBYTES]) FakeCt.view(r).setFloat64(f, 0, true);
      return out;
    }
    setMarks(list: Uint32Array, n: number) {
      let done = 0;
      for (let i = 0; i < n; i++) {
        const [, , , sport, , mark] = list.subarray(i * 6, i * 6 + 6);
        const r = this.table.find((x) => FakeCt.view(x).getUint16(CT.OSPORT, true) === sport);
        if (r) FakeCt.view(r).setUint32(CT.MARK, mark, true), done++;
        this.marked.push([sport, mark]);
      }
      return done;
    }
    events() { const e = Buffer.concat(this.events_); this.events_ = []; return e; }
    flush(mark: number, mask: number) { this.flushed.push([mark, mask]); }
    remove(_p: number, _s: number, _d: number, sport: number) { this.removed.push(sport); return true; }
    stats() { return { dumps: 0, events: 0, datagrams: 0, enobufs: 0 }; }
    close() {}
  }

  it('states, counters less the queued packets, re-arming, and the entries of connections the core does not have', async () => {
    const d = await director(3);
    const key = { protocol: 'tcp' as const, address: V, port: 80 };
    d.addService(key);
    d.addDest(key, { address: R, port: 8080, method: 'masq' });
    // The SYN the core saw (and counted) on the queue.
    const [r] = d.packet({ protocol: 'tcp', direction: 'in', client: { address: C, port: 40000 }, virtual: { address: V, port: 80 }, flags: { syn: true }, length: 60 }, 10);
    expect(r).toMatchObject({ ok: true });
    const ct = new FakeCt();
    const feed = new CtFeed(ct, d, FAST_MARK_BASE, FAST_MARK_MASK);
    feed.countQueued(6, ip(C), 40000, ip(R), 8080, 60);
    const conn = () => d.connections().find((c) => c.client.port === 40000);
    // Established, 5 packets in (the SYN among them) and 4 out so far.
    ct.table = [rec({ state: 3, cport: 40000, op: 5, ob: 60 + 4 * 552, rp: 4, rb: 4 * 552 })];
    expect(feed.tick()).toBe(1);
    expect(conn()?.state).toBe('ESTABLISHED');
    expect(d.service(key).stats).toMatchObject({ inpkts: 5, inbytes: 60 + 4 * 552, outpkts: 4, outbytes: 4 * 552 });
    // The dump reset the counters it read: a dump lists the same entry with nothing new.
    expect(feed.tick()).toBe(1);
    expect(d.service(key).stats).toMatchObject({ inpkts: 5, outpkts: 4 });
    // The server closed first (CLOSE_INIT on the reply side), then the client: TIME_WAIT, inactive; two
    // packets each way since the last read.
    ct.table = [rec({ state: 7, close: 2, cport: 40000, op: 2, ob: 104, rp: 2, rb: 104 })];
    feed.tick();
    expect(conn()?.state).toBe('TIME_WAIT');
    expect(d.service(key).stats).toMatchObject({ inpkts: 7, outpkts: 6 });
    expect(d.dests(key)[0]).toMatchObject({ activeconns: 0, inactconns: 1 });
    // Settled: its entry takes the settled bit, so the next dumps leave it out.
    expect(ct.marked).toEqual([[40000, (FAST_MARK_BASE + 1 + CT_SETTLED) >>> 0]]);
    expect(feed.tick()).toBe(0);
    // Each dump: our unsettled entries and the young generation handed out after it (its bit masked off).
    expect(ct.dumps.at(-1)).toEqual([FAST_MARK_BASE, (FAST_MARK_MASK & ~feed.young) >>> 0]);
    expect(feed.totals).toMatchObject({ flows: 0, settled: 1 });
    expect(d.service(key).stats).toMatchObject({ inpkts: 7, outpkts: 6 });
    // Its last counters come with its destroy event (one more ACK each way since the last read), once.
    ct.events_ = [rec({ kind: CT.KIND_DESTROY, state: 7, close: 2, cport: 40000, op: 1, ob: 52, rp: 1, rb: 52,
      mark: FAST_MARK_BASE + 1 + CT_SETTLED })];
    ct.table = [];
    feed.tick();
    expect(d.service(key).stats).toMatchObject({ inpkts: 8, outpkts: 7 });
    expect(feed.totals.flows).toBe(0);
    // A flow the core has no connection for (expired, flushed) loses its kernel entry.
    ct.table = [rec({ state: 3, cport: 40001, id: 9, op: 3, rp: 2 })];
    feed.tick();
    expect(ct.removed).toEqual([40001]);
    expect(d.service(key).stats).toMatchObject({ inpkts: 8, outpkts: 7 });
    // A real server leaving takes its entries, settled or not; so does the end.
    feed.flushMark(FAST_MARK_BASE + 1);
    expect(ct.flushed).toEqual([[FAST_MARK_BASE + 1, (~CT_SETTLED & ~CT_YOUNG) >>> 0]]);
    feed.flushAll();
    expect(ct.flushed.at(-1)).toEqual([FAST_MARK_BASE, (FAST_MARK_MASK & ~CT_SETTLED & ~CT_YOUNG) >>> 0]);
  });

  it('a tuple used again: the new flow\'s queued SYN is taken off the new flow\'s counters, not lost with the old flow', async () => {
    const d = await director(3);
    const key = { protocol: 'tcp' as const, address: V, port: 80 };
    d.addService(key);
    d.addDest(key, { address: R, port: 8080, method: 'masq' });
    const syn = (t: number) => d.packet({ protocol: 'tcp', direction: 'in', client: { address: C, port: 40020 }, virtual: { address: V, port: 80 }, flags: { syn: true }, length: 60 }, t);
    const ct = new FakeCt();
    const feed = new CtFeed(ct, d, FAST_MARK_BASE, FAST_MARK_MASK);
    expect(syn(10)[0]).toMatchObject({ ok: true });
    feed.countQueued(6, ip(C), 40020, ip(R), 8080, 60);
    ct.table = [rec({ state: 7, close: 2, cport: 40020, id: 1, op: 5, ob: 300, rp: 4, rb: 250 })];
    feed.tick();
    expect(d.service(key).stats).toMatchObject({ inpkts: 5, inbytes: 300, outpkts: 4 });
    // The client opens the same tuple again: the core takes the new SYN, conntrack drops the old entry
    // (its destroy event) and starts a new one, whose counters include that SYN.
    const before = d.service(key).stats.inpkts;
    expect(syn(12)[0]).toMatchObject({ ok: true });
    const counted = d.service(key).stats.inpkts - before;
    feed.countQueued(6, ip(C), 40020, ip(R), 8080, 60);
    ct.events_ = [rec({ kind: CT.KIND_DESTROY, state: 7, close: 2, cport: 40020, id: 1, op: 0, ob: 0, rp: 0, rb: 0, mark: FAST_MARK_BASE + 1 + CT_SETTLED })];
    ct.table = [rec({ state: 3, cport: 40020, id: 2, op: 3, ob: 60 + 2 * 52, rp: 2, rb: 104 })];
    feed.tick();
    expect(d.service(key).stats).toMatchObject({ inpkts: 5 + counted + 2, inbytes: 300 + 60 * counted + 104, outpkts: 6 });
  });

  it('a settled flow stays out of the dumps until a sweep lists it, which removes its entry once the core has let the connection go', async () => {
    let t = 10;
    const d = await Director.create({ seed: 3, flavor: 'debug', clock: () => t });
    const key = { protocol: 'tcp' as const, address: V, port: 80 };
    d.addService(key);
    d.addDest(key, { address: R, port: 8080, method: 'masq' });
    d.packet({ protocol: 'tcp', direction: 'in', client: { address: C, port: 40010 }, virtual: { address: V, port: 80 }, flags: { syn: true }, length: 60 }, 10);
    const ct = new FakeCt();
    const feed = new CtFeed(ct, d, FAST_MARK_BASE, FAST_MARK_MASK);
    ct.table = [rec({ state: 8, cport: 40010, op: 2, rp: 1 })]; // reset: CLOSE
    feed.tick();
    expect(ct.marked.map(([p]) => p)).toEqual([40010]);
    expect(d.connections().find((c) => c.client.port === 40010)?.state).toBe('CLOSE');
    for (let k = 2; k < SWEEP_TICKS; k++) feed.tick();
    expect(ct.dumps.every(([, mask]) => (mask & CT_SETTLED) !== 0 && ((mask | CT_YOUNG) >>> 0) === FAST_MARK_MASK)).toBe(true);
    expect(feed.totals.flows).toBe(0);
    // The core lets the closed connection go (its CLOSE timeout); the sweep lists the settled entry and removes it.
    t = 100;
    d.advance();
    expect(d.connections().some((c) => c.client.port === 40010)).toBe(false);
    feed.tick();
    expect(ct.dumps.at(-1)).toEqual([FAST_MARK_BASE, (FAST_MARK_MASK & ~CT_SETTLED & ~CT_YOUNG) >>> 0]);
    expect(feed.totals.flows).toBe(1);
    expect(ct.removed).toEqual([40010]);
    expect(ct.marked).toHaveLength(1); // never settled again
  });

  it('young flows: out of the dumps until their generation comes round (then promoted); a short one is read once, from its destroy event', async () => {
    const d = await director(3);
    const key = { protocol: 'tcp' as const, address: V, port: 80 };
    d.addService(key);
    d.addDest(key, { address: R, port: 8080, method: 'masq' });
    const syn = (port: number) => d.packet({ protocol: 'tcp', direction: 'in', client: { address: C, port }, virtual: { address: V, port: 80 }, flags: { syn: true }, length: 60 }, 10);
    const conn = (port: number) => d.connections().find((c) => c.client.port === port);
    const ct = new FakeCt();
    const feed = new CtFeed(ct, d, FAST_MARK_BASE, FAST_MARK_MASK);
    // A long flow, queued under generation 1 (retarget gives its mark feed.young).
    expect(feed.young).toBe(youngBits(1));
    expect(syn(40040)[0]).toMatchObject({ ok: true });
    feed.countQueued(6, ip(C), 40040, ip(R), 8080, 60);
    ct.table = [rec({ state: 3, cport: 40040, id: 40, op: 3, ob: 164, rp: 2, rb: 104, mark: (FAST_MARK_BASE + 1 + youngBits(1)) >>> 0 })];
    // The first dump lists generation 2's entries with ours (none), then hands generation 2 out: the flow waits.
    expect(feed.tick()).toBe(0);
    expect(feed.young).toBe(youngBits(2));
    expect(conn(40040)?.state).toBe('SYN_RECV');
    // The next lists generation 1: established, counted (less the queued SYN), promoted to the plain mark.
    expect(feed.tick()).toBe(1);
    expect(feed.young).toBe(youngBits(1));
    expect(conn(40040)?.state).toBe('ESTABLISHED');
    expect(d.service(key).stats).toMatchObject({ inpkts: 3, inbytes: 164, outpkts: 2 });
    expect(ct.marked).toEqual([[40040, FAST_MARK_BASE + 1]]);
    expect(feed.totals.promoted).toBe(1);
    // From now on every dump lists it, whatever the generation.
    expect(feed.tick()).toBe(1);
    expect(feed.tick()).toBe(1);
    // A short connection, opened and closed between two dumps: no dump ever lists it (its entry dies
    // young, its TIME_WAIT cut by the ct timeout policy); its destroy event brings the core its
    // state and all of its counters, and nothing is marked.
    expect(syn(40041)[0]).toMatchObject({ ok: true });
    feed.countQueued(6, ip(C), 40041, ip(R), 8080, 60);
    ct.events_ = [rec({ kind: CT.KIND_DESTROY, state: 7, close: 2, cport: 40041, id: 41, op: 5, ob: 60 + 4 * 52, rp: 4, rb: 4 * 52,
      mark: (FAST_MARK_BASE + 1 + feed.young) >>> 0 })];
    feed.tick();
    expect(conn(40041)?.state).toBe('TIME_WAIT');
    expect(d.dests(key)[0]).toMatchObject({ activeconns: 1, inactconns: 1 });
    expect(d.service(key).stats).toMatchObject({ inpkts: 3 + 5, inbytes: 164 + 60 + 4 * 52, outpkts: 2 + 4 });
    expect(ct.marked).toHaveLength(1);
    expect(feed.totals.settled).toBe(0);
    // Between ticks (the gateway's faster timer) the events are read too, off the event loop's turn.
    expect(syn(40042)[0]).toMatchObject({ ok: true });
    feed.countQueued(6, ip(C), 40042, ip(R), 8080, 60);
    ct.events_ = [rec({ kind: CT.KIND_DESTROY, state: 7, close: 2, cport: 40042, id: 42, op: 5, ob: 60 + 4 * 52, rp: 4, rb: 4 * 52,
      mark: (FAST_MARK_BASE + 1 + feed.young) >>> 0 })];
    const errors: unknown[] = [];
    feed.eventsSliced((e) => errors.push(e));
    expect(conn(40042)?.state).toBe('SYN_RECV');
    await new Promise((r) => setImmediate(r));
    expect(conn(40042)?.state).toBe('TIME_WAIT');
    expect(d.service(key).stats).toMatchObject({ inpkts: 3 + 5 + 5, outpkts: 2 + 4 + 4 });
    expect(errors).toEqual([]);
  });

  it('a sliced tick (the gateway\'s timer) reads the dump a slice at a time, between turns of the event loop, with the same result; tick() finishes one under way', async () => {
    const d = await director(3);
    const key = { protocol: 'tcp' as const, address: V, port: 80 };
    d.addService(key);
    d.addDest(key, { address: R, port: 8080, method: 'masq' });
    const ports = [40030, 40031, 40032, 40033];
    for (const port of ports) d.packet({ protocol: 'tcp', direction: 'in', client: { address: C, port }, virtual: { address: V, port: 80 }, flags: { syn: true }, length: 60 }, 10);
    /** Its dump in slices of one record, as the addon's dumpBegin/dumpNext/dumpActive. */
    class SlicedCt extends FakeCt {
      pending: Uint8Array[] = [];
      nexts = 0;
      dumpBegin(mark: number, mask: number, deltas?: boolean) {
        const all = this.dump(mark, mask, false);
        this.pending = Array.from({ length: all.byteLength / CT.SIZE }, (_, i) => Uint8Array.from(all.subarray(i * CT.SIZE, (i + 1) * CT.SIZE)));
        if (deltas) this.dump(mark, mask, true);
      }
      dumpNext() { this.nexts++; return this.pending.shift() ?? new Uint8Array(0); }
      dumpActive() { return this.pending.length > 0; }
    }
    const ct = new SlicedCt();
    const feed = new CtFeed(ct, d, FAST_MARK_BASE, FAST_MARK_MASK);
    ct.table = ports.map((cport, i) => rec({ state: i < 2 ? 3 : 7, close: 2, cport, id: 20 + i, op: 3, ob: 156, rp: 2, rb: 104 }));
    const errors: unknown[] = [];
    expect(feed.tickSliced((e) => errors.push(e))).toBe(true);
    expect(feed.tickSliced((e) => errors.push(e))).toBe(false); // one at a time
    const states = () => ports.map((p) => d.connections().find((c) => c.client.port === p)?.state);
    expect(states()).toEqual(['SYN_RECV', 'SYN_RECV', 'SYN_RECV', 'SYN_RECV']); // nothing before the loop turns
    for (let i = 0; i < 10 && ct.nexts < 4; i++) await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(errors).toEqual([]);
    expect(states()).toEqual(['ESTABLISHED', 'ESTABLISHED', 'TIME_WAIT', 'TIME_WAIT']);
    expect(ct.marked.map(([p]) => p)).toEqual([40032, 40033]);
    expect(feed.totals.flows).toBe(4);
    expect(d.service(key).stats).toMatchObject({ inpkts: 4 * 3 + 4, outpkts: 4 * 2 });
    // A sliced tick under way: tick() applies the rest first, then its own dump.
    ct.table = ports.slice(0, 2).map((cport, i) => rec({ state: 7, close: 2, cport, id: 20 + i, op: 1, ob: 52, rp: 1, rb: 52 }));
    expect(feed.tickSliced((e) => errors.push(e))).toBe(true);
    feed.tick();
    expect(states()).toEqual(['TIME_WAIT', 'TIME_WAIT', 'TIME_WAIT', 'TIME_WAIT']);
    expect(d.service(key).stats).toMatchObject({ inpkts: 4 * 3 + 4 + 2, outpkts: 4 * 2 + 2 });
    await new Promise((r) => setImmediate(r));
    expect(errors).toEqual([]);
  });

  it('goneMarks: a real server that left the map, or whose mark now names another, takes its mark along', () => {
    const before = new Map([[1, 0x57b00001], [2, 0x57b00002], [3, 0x57b00003]]);
    expect(goneMarks(before, before)).toEqual([]);
    expect(goneMarks(before, new Map([[1, 0x57b00001], [3, 0x57b00003]]))).toEqual([0x57b00002]);
    expect(goneMarks(before, new Map([[1, 0x57b00001], [2, 0x57b00004], [3, 0x57b00003]]))).toEqual([0x57b00002]);
  });
});
