// The fast path's computations (no root needed): which services take it,
// the iptables rules and nft map they get, and how a core NAT verdict turns
// into a mark verdict. The namespace suite (gw-fastpath.test.ts) runs them
// against the kernel.
import { describe, expect, it } from 'vitest';
import { layout as L } from '../../sdk/src/core/abi.gen.js';
import { ruleSet, CHAIN } from '../../native-host/lib/rules.js';
import { fastPlan, retarget, FAST_MARK_BASE, FAST_MARK_MASK } from '../../native-host/lib/fastpath.js';
import { parseGatewayArgs } from '../../native-host/lib/gateway.js';
import { director } from '../helpers.js';

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
    expect(rs.mangle).toEqual([`-A ${CHAIN} -d 198.18.42.1/32 -p tcp --dport 80 -m conntrack --ctstate NEW -j NFQUEUE --queue-num 2 --queue-bypass`]);
    expect(rs.forward).toEqual([]);
    expect(rs.raw.filter((r) => r.includes('notrack'))).toEqual([]);
    const marks = v[0].dests.map((d) => (FAST_MARK_BASE + (d.id & L.GW_DR_SLOT_MASK)) >>> 0);
    for (const m of marks) expect((m & FAST_MARK_MASK) >>> 0).toBe(FAST_MARK_BASE);
    expect([...plan.targets.values()].sort()).toEqual([...marks].sort());
    const elements = v[0].dests.map((d, i) => `0x${marks[i].toString(16)} : ${d.address} . ${d.port}`);
    expect(v[0].dests.map((d) => d.address).sort()).toEqual(['198.18.41.2', '198.18.41.3']);
    expect(plan.script).toContain(`add element ip wasmvs_gw dests { ${elements.join(', ')} }`);
    expect(plan.script).toContain('flush map ip wasmvs_gw dests');
    expect(plan.script).toContain('dnat ip to ct mark map @dests');
  });

  it('a service with a DR or TUN real server, or sharing a NAT real server with a userspace service, stays on the userspace path', async () => {
    const v = await views(
      [['masq', '198.18.41.2', 8080], ['route', '198.18.41.4', 80]], // mixed: userspace, its NAT replies queued untracked
      [['masq', '198.18.41.2', 8080]], // shares 198.18.41.2:8080 with the first: userspace too
      [['masq', '198.18.41.5', 8080]], // fast
    );
    const plan = fastPlan(v);
    expect([...plan.services].map((s) => s.service.address)).toEqual(['198.18.42.3']);
    const rs = ruleSet(v, Q, plan.services);
    expect(rs.mangle.filter((r) => r.includes('ctstate NEW'))).toEqual([`-A ${CHAIN} -d 198.18.42.3/32 -p tcp --dport 80 -m conntrack --ctstate NEW -j NFQUEUE --queue-num 2 --queue-bypass`]);
    expect(rs.forward.some((r) => r.includes('198.18.41.2/32 -p tcp --sport 8080'))).toBe(true);
    expect(rs.forward.some((r) => r.includes('198.18.41.5'))).toBe(false);
    expect(plan.script).not.toContain('198.18.41.2');
  });

  it('no fast service: an empty map, and the rules are exactly those of the userspace path', async () => {
    const v = await views([['route', '198.18.41.4', 80]]);
    const plan = fastPlan(v);
    expect(plan.services.size).toBe(0);
    expect(plan.script).not.toContain('add element');
    expect(ruleSet(v, Q, plan.services)).toEqual(ruleSet(v, Q));
  });

  it('retarget: a NAT verdict to a fast real server becomes "accept the original with its mark"; others are left alone', () => {
    const list = 0, packets = 4096;
    const mem = new DataView(new ArrayBuffer(8192));
    const ip = (p: number, dst: number[], dport: number, proto = 6) => {
      mem.setUint8(p, 0x45);
      mem.setUint16(p + 2, 40);
      mem.setUint8(p + 9, proto);
      dst.forEach((b, i) => mem.setUint8(p + 16 + i, b));
      mem.setUint16(p + 22, dport);
    };
    const verdict = (i: number, flags: number, off: number) => {
      const v = list + i * L.GW_VER_SIZE;
      mem.setUint32(v + L.GW_VER_ID, 100 + i, true);
      mem.setUint32(v + L.GW_VER_VERDICT, 1, true);
      mem.setUint32(v + L.GW_VER_FLAGS, flags, true);
      mem.setUint32(v + L.GW_VER_OFF, off, true);
      mem.setUint32(v + L.GW_VER_LEN, 40, true);
    };
    ip(packets, [198, 18, 41, 2], 8080); // to the fast real server
    ip(packets + 64, [198, 18, 41, 9], 8080); // to another address
    ip(packets + 128, [198, 18, 41, 2], 8080, 1); // ICMP
    verdict(0, L.GW_VF_PAYLOAD, 0);
    verdict(1, L.GW_VF_PAYLOAD, 64);
    verdict(2, L.GW_VF_PAYLOAD, 128);
    verdict(3, 0, 0); // plain accept
    const mark = FAST_MARK_BASE + 5;
    const targets = new Map([[((198 * 256 + 18) * 256 + 41) * 256 * 65536 + 2 * 65536 + 8080, mark]]);
    expect(retarget(mem, list, packets, 4, targets)).toBe(1);
    expect(mem.getUint32(list + L.GW_VER_FLAGS, true)).toBe(L.GW_VF_MARK);
    expect(mem.getUint32(list + L.GW_VER_MARK, true)).toBe(mark);
    expect(mem.getUint32(list + L.GW_VER_LEN, true)).toBe(0);
    expect(mem.getUint32(list + L.GW_VER_ID, true)).toBe(100);
    for (const i of [1, 2]) expect(mem.getUint32(list + i * L.GW_VER_SIZE + L.GW_VER_FLAGS, true)).toBe(L.GW_VF_PAYLOAD);
    expect(mem.getUint32(list + 3 * L.GW_VER_SIZE + L.GW_VER_FLAGS, true)).toBe(0);
  });

  it('--fast-path takes on or off, anything else is a clear error', () => {
    expect(parseGatewayArgs(['--fast-path', 'on']).fastPath).toBe(true);
    expect(parseGatewayArgs(['--fast-path=off']).fastPath).toBe(false);
    expect(parseGatewayArgs([]).fastPath).toBeUndefined();
    expect(() => parseGatewayArgs(['--fast-path', 'yes'])).toThrow(/invalid --fast-path yes \(on\|off\)/);
  });
});
