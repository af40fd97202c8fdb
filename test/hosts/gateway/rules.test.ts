// The gateway's rule computation and option parsing (no root needed): what
// goes into the dedicated chains for each forwarding method, how a crashed
// run's leftovers are found, and the daemon options.
import { describe, expect, it } from 'vitest';
import { layout as L } from '../../../sdk/core/abi.gen.js';
import { ruleSet, RuleSync, removeRules, cidrs, SET_MIN, deferred, CHAIN, FWD_CHAIN, RAW_CHAIN, DEFRAG_CHAIN, RULE_PREF, type Exec } from '../../../hosts/gateway/rules.js';
import { DR_MARK_SELECTOR, TunnelRouteCache, tunnelConfig, tunnelRoutes } from '../../../hosts/gateway/routes.js';
import { Gateway, GATEWAY_DEFAULTS, parseGatewayArgs } from '../../../hosts/gateway/gateway.js';
import type { NativeQueue, NfQueueOptions } from '../../../native/addon.js';
import { parseDaemonArgs } from '../../../cli/wasmvsd.js';
import { createDataPath } from '../../../hosts/gateway/datapath.js';
import { director } from '../../helpers.js';
import { coreOf } from '../../../sdk/core/index.js';

const VIP = '198.18.42.1';

async function view(methods: Array<'masq' | 'route' | 'tunnel'>) {
  const d = await director(5);
  const key = { protocol: 'tcp' as const, address: VIP, port: 80 };
  d.addService(key);
  methods.forEach((m, i) => d.addDest(key, { address: `198.18.41.${i + 2}`, port: 80, method: m }));
  d.addService({ fwmark: 7 });
  return d.services().map((s) => ({ service: s, dests: d.dests(s.fwmark ? { fwmark: s.fwmark } : key) }));
}

describe('gateway rules', () => {
  it('queues the VIP before routing, NAT replies after it (FORWARD), notracks both; DR gets mark routes; TUN is reported', async () => {
    const rs = ruleSet(await view(['masq', 'route', 'tunnel']), { first: 3, last: 3, failOpen: true });
    expect(rs.mangle).toEqual([
      `-A ${CHAIN} -d ${VIP}/32 -p tcp --dport 80 -j NFQUEUE --queue-num 3 --queue-bypass`,
      `-A ${CHAIN} -d ${VIP}/32 -p icmp -j NFQUEUE --queue-num 3 --queue-bypass`,
      `-A ${CHAIN} -m mark --mark 7 -j NFQUEUE --queue-num 3 --queue-bypass`,
    ]);
    expect(rs.forward).toEqual([
      `-A ${FWD_CHAIN} -s 198.18.41.2/32 -p tcp --sport 80 -j NFQUEUE --queue-num 3 --queue-bypass`,
      `-A ${FWD_CHAIN} -s 198.18.41.2/32 -p icmp -j NFQUEUE --queue-num 3 --queue-bypass`,
    ]);
    expect(rs.raw).toContain(`-A ${RAW_CHAIN} -d ${VIP}/32 -p tcp --dport 80 -j CT --notrack`);
    expect(rs.raw).toContain(`-A ${RAW_CHAIN} -s 198.18.41.2/32 -p tcp --sport 80 -j CT --notrack`);
    expect(rs.routes).toHaveLength(1);
    expect(rs.routes[0].via).toBe('198.18.41.3');
    expect(rs.routes[0].mark & ~L.GW_DR_SLOT_MASK).toBe(L.GW_DR_MARK_BASE);
    expect(rs.tunnels).toEqual(['198.18.41.4']);
  });

  it('a firewall-mark service queues its NAT real servers\' TCP and UDP replies (the mark groups both protocols)', async () => {
    const d = await director(5);
    d.addService({ fwmark: 7 });
    d.addDest({ fwmark: 7 }, { address: '198.18.41.2', port: 0, method: 'masq' });
    const rs = ruleSet(d.services().map((s) => ({ service: s, dests: d.dests({ fwmark: 7 }) })), { first: 3, last: 3, failOpen: false });
    expect(rs.mangle).toEqual([`-A ${CHAIN} -m mark --mark 7 -j NFQUEUE --queue-num 3`]);
    expect(rs.forward).toEqual([
      `-A ${FWD_CHAIN} -s 198.18.41.2/32 -p tcp -j NFQUEUE --queue-num 3`,
      `-A ${FWD_CHAIN} -s 198.18.41.2/32 -p udp -j NFQUEUE --queue-num 3`,
      `-A ${FWD_CHAIN} -s 198.18.41.2/32 -p icmp -j NFQUEUE --queue-num 3`,
    ]);
    expect(rs.raw).toContain(`-A ${RAW_CHAIN} -s 198.18.41.2/32 -p udp -j CT --notrack`);
  });

  it('VIPs aggregate into exact CIDR blocks: 20,000 consecutive services are 5 rules, gaps stay out', () => {
    const vips = Array.from({ length: 20_000 }, (_, s) => `198.19.${s >> 8}.${s & 255}`);
    expect(cidrs(vips)).toEqual(['198.19.0.0/18', '198.19.64.0/21', '198.19.72.0/22', '198.19.76.0/23', '198.19.78.0/27']);
    expect(cidrs(['198.18.0.3', '198.18.0.1', '198.18.0.2', '198.18.0.1', '198.18.0.9'])).toEqual(['198.18.0.1/32', '198.18.0.2/31', '198.18.0.9/32']);
    expect(cidrs(['0.0.0.0'])).toEqual(['0.0.0.0/32']);
  });

  it('IPv6 services get per-address ip6tables rules, ICMPv6 errors by type, and ip -6 DR routes', async () => {
    const d = await director(5);
    const key = { protocol: 'udp' as const, address: '2001:db8::1', port: 53 };
    d.addService(key);
    d.addDest(key, { address: '2001:db8:1::2', port: 5353, method: 'masq' });
    d.addDest(key, { address: '2001:db8:1::3', port: 53, method: 'route' });
    const rs = ruleSet(d.services().map((s) => ({ service: s, dests: d.dests(key) })), { first: 0, last: 0, failOpen: false });
    expect(rs.mangle).toEqual([]);
    const errors = (m: string) => [1, 2, 3, 4].map((t) => `${m} -p icmpv6 --icmpv6-type ${t} -j NFQUEUE --queue-num 0`);
    expect(rs.v6.mangle).toEqual([`-A ${CHAIN} -d 2001:db8::1/128 -p udp --dport 53 -j NFQUEUE --queue-num 0`, ...errors(`-A ${CHAIN} -d 2001:db8::1/128`)]);
    expect(rs.v6.forward).toEqual([`-A ${FWD_CHAIN} -s 2001:db8:1::2/128 -p udp --sport 5353 -j NFQUEUE --queue-num 0`, ...errors(`-A ${FWD_CHAIN} -s 2001:db8:1::2/128`)]);
    expect(rs.v6.routes.map((r) => r.via)).toEqual(['2001:db8:1::3']);
    const calls: string[] = [];
    await new RuleSync(deferred((cmd, args, input) => { calls.push(`${cmd} ${args.join(' ')} <<${input ?? ''}`); return ''; })).apply(rs);
    expect(calls.find((c) => c.startsWith('ip6tables-restore --noflush'))).toContain(`-I PREROUTING 1 -j ${CHAIN}\n`);
    expect(calls.find((c) => c.startsWith('ip -6 -force -batch -'))).toMatch(/<<route replace default via 2001:db8:1::3 table \d+\n/);
  });

  it('fail-closed drops --queue-bypass; a queue range balances', async () => {
    const rs = ruleSet(await view(['masq']), { first: 4, last: 7, failOpen: false });
    expect(rs.mangle[0]).toBe(`-A ${CHAIN} -d ${VIP}/32 -p tcp --dport 80 -j NFQUEUE --queue-balance 4:7`);
  });

  it('apply writes both chains with --noflush in one transaction and jumps once; remove finds every leftover', async () => {
    const calls: string[] = [];
    const jumps = new Set<string>();
    let rules = 2;
    const exec: Exec = (cmd, args, input) => {
      const line = `${cmd} ${args.join(' ')}`;
      calls.push(input ? `${line} <<${input}` : line);
      const jump = `${cmd} ${args[1]} ${args[3]}`;
      if (args[2] === '-C') { if (!jumps.has(jump)) throw new Error('no rule'); return ''; }
      if (args[2] === '-I') jumps.add(jump);
      if (args[2] === '-D') jumps.delete(jump);
      if (line.startsWith('ip rule show')) return rules > 0 ? `${RULE_PREF}:\tfrom all fwmark 0x57a00001 lookup 1470103553\n` : '';
      if (line.startsWith('ip rule del')) rules--;
      return '';
    };
    const sync = new RuleSync(deferred(exec));
    await sync.apply(ruleSet(await view(['route']), { first: 0, last: 0, failOpen: true }));
    expect(calls[0]).toBe(`iptables-restore --noflush <<*raw\n:${RAW_CHAIN} - [0:0]\n:${DEFRAG_CHAIN} - [0:0]\n-A ${RAW_CHAIN} -d ${VIP}/32 -p tcp --dport 80 -j CT --notrack\n-A ${RAW_CHAIN} -d ${VIP}/32 -p icmp -j CT --notrack\n-A ${RAW_CHAIN} -m mark --mark 7 -j CT --notrack\n` +
      `-A ${DEFRAG_CHAIN} -m socket -j RETURN\n-I PREROUTING 1 -j ${RAW_CHAIN}\nCOMMIT\n` +
      `*mangle\n:${CHAIN} - [0:0]\n:${FWD_CHAIN} - [0:0]\n` +
      `-A ${CHAIN} -d ${VIP}/32 -p tcp --dport 80 -j NFQUEUE --queue-num 0 --queue-bypass\n-A ${CHAIN} -d ${VIP}/32 -p icmp -j NFQUEUE --queue-num 0 --queue-bypass\n` +
      `-A ${CHAIN} -m mark --mark 7 -j NFQUEUE --queue-num 0 --queue-bypass\n-I PREROUTING 1 -j ${CHAIN}\nCOMMIT\n`); // no NAT reply yet: FORWARD is not hooked (an empty chain's jump costs every packet)
    expect(calls[1]).toBe('ip -j rule show');
    expect(calls[2]).toMatch(new RegExp(`^ip -force -batch - <<route replace default via 198\\.18\\.41\\.2 table (\\d+)\nrule add pref ${RULE_PREF} fwmark \\1 table \\1\n$`));
    expect(calls).toHaveLength(3);
    await sync.apply(ruleSet(await view(['route']), { first: 0, last: 0, failOpen: true }));
    expect(calls).toHaveLength(3); // a second apply of the same rules runs nothing
    await sync.apply(ruleSet(await view([]), { first: 0, last: 0, failOpen: true }));
    expect(calls.slice(3)).toEqual([expect.stringMatching(new RegExp(`^ip -force -batch - <<rule del pref ${RULE_PREF} fwmark (\\d+) table \\1\nroute flush table \\1\n$`))]);
    // A NAT service: its replies' chain gets its jump, once; the other jumps are not repeated.
    await sync.apply(ruleSet(await view(['masq']), { first: 0, last: 0, failOpen: true }));
    const nat = calls.slice(4).filter((c) => c.startsWith('iptables-restore'));
    expect(nat).toHaveLength(1);
    expect(nat[0]).toContain(`-I FORWARD 1 -j ${FWD_CHAIN}\nCOMMIT\n`);
    expect(nat[0]).not.toContain('-I PREROUTING');
    const before = calls.length;
    await sync.apply(ruleSet(await view(['masq', 'masq']), { first: 0, last: 0, failOpen: true }));
    expect(calls.slice(before).filter((c) => c.includes('-I '))).toEqual([]);
    calls.length = 0;
    rules = 1;
    removeRules(exec);
    expect(calls).toContain(`iptables -t mangle -X ${CHAIN}`);
    expect(calls).toContain(`iptables -t mangle -X ${FWD_CHAIN}`);
    expect(calls).toContain(`iptables -t raw -X ${RAW_CHAIN}`);
    expect(calls).toContain(`iptables -t raw -X ${DEFRAG_CHAIN}`);
    expect(calls).toContain(`ip rule del pref ${RULE_PREF}`);
    expect(jumps.size).toBe(0);
  });

  it('a kernel without the socket match still gets every other rule, once, and the missing defragmentation is reported', async () => {
    const inputs: string[] = [];
    const exec: Exec = (cmd, args, input) => {
      if (cmd !== 'iptables-restore') return '';
      inputs.push(input ?? '');
      if (input?.includes('-m socket')) throw new Error("iptables-restore v1.8.9 (nf_tables): Couldn't load match `socket'");
      return '';
    };
    const sync = new RuleSync(deferred(exec));
    const errors = await sync.apply(ruleSet(await view(['masq']), { first: 0, last: 0, failOpen: true }));
    expect(errors).toEqual([expect.stringMatching(/socket match .*not reassembled/)]);
    expect(inputs).toHaveLength(2);
    expect(inputs[1]).toBe(inputs[0].replace(`-A ${DEFRAG_CHAIN} -m socket -j RETURN\n`, ''));
    expect(inputs[1]).toContain(`-A ${CHAIN} -d ${VIP}/32 -p tcp --dport 80 -j NFQUEUE`);
    // The next change does not try again (and reports nothing new).
    expect(await sync.apply(ruleSet(await view(['masq', 'masq']), { first: 0, last: 0, failOpen: true }))).toEqual([]);
    expect(inputs.slice(2).every((i) => !i.includes('-m socket'))).toBe(true);
  });

  it('DR marks skip the local table (the VIP may be local): the plain rule is swapped, never missing, and restored', async () => {
    // A model of the ip rule list: add appends after rules of the same pref, del removes the first match.
    type R = { priority: number; table: string; src: string; not?: null; fwmark?: string; fwmask?: string };
    const list: R[] = [{ priority: 0, src: 'all', table: 'local' }, { priority: 32766, src: 'all', table: 'main' }];
    const seen: string[] = [];
    const exec: Exec = (cmd, args) => {
      if (cmd !== 'ip' || !args.includes('rule')) return '';
      if (args[0] === '-j') return JSON.stringify(list);
      const pref = Number(args[args.indexOf('pref') + 1]);
      const not = args.includes('not');
      const [fwmark, fwmask] = not ? DR_MARK_SELECTOR.split('/') : [];
      if (args[1] === 'add' && args.includes('local')) {
        const at = list.findIndex((r) => r.priority > pref);
        list.splice(at < 0 ? list.length : at, 0, not ? { priority: pref, not: null, src: 'all', fwmark, fwmask, table: 'local' } : { priority: pref, src: 'all', table: 'local' });
      } else if (args[1] === 'del' && args.includes('local')) {
        list.splice(list.findIndex((r) => r.priority === pref && r.table === 'local' && (!not || r.fwmark === fwmark)), 1);
      }
      // After every step some rule still sends unmarked packets to the local table.
      seen.push(list.filter((r) => r.table === 'local').map((r) => ('not' in r ? 'not' : 'plain')).join(','));
      return '';
    };
    // The batch runs its lines through the same model, in order.
    const sync = new RuleSync(deferred((cmd, args, input) => {
      if (!args.includes('-batch')) return exec(cmd, args);
      for (const l of input!.trim().split('\n')) exec('ip', l.split(' '));
      return '';
    }));
    const rs = ruleSet(await view(['route']), { first: 0, last: 0, failOpen: true });
    await sync.apply(rs);
    expect(list[0]).toEqual({ priority: 0, not: null, src: 'all', fwmark: '0x57a00000', fwmask: '0xfff00000', table: 'local' });
    expect(list.filter((r) => r.table === 'local')).toHaveLength(1);
    await sync.apply(ruleSet(await view(['route', 'route']), { first: 0, last: 0, failOpen: true })); // one more: no second swap
    expect(list.filter((r) => r.table === 'local')).toHaveLength(1);
    await sync.apply(ruleSet(await view(['masq']), { first: 0, last: 0, failOpen: true })); // no DR left: the plain rule is back
    expect(list).toEqual([{ priority: 0, src: 'all', table: 'local' }, { priority: 32766, src: 'all', table: 'main' }]);
    await sync.apply(rs);
    expect(list.filter((r) => r.table === 'local')).toHaveLength(1);
    removeRules(exec);
    expect(list).toEqual([{ priority: 0, src: 'all', table: 'local' }, { priority: 32766, src: 'all', table: 'main' }]);
    expect(seen.filter((s) => s === '')).toEqual([]);
  });
});

describe('gateway rule changes', () => {
  /** A service with `n` DR real servers (198.18.4x.y). */
  async function drView(n: number) {
    const d = await director(5);
    const key = { protocol: 'tcp' as const, address: VIP, port: 80 };
    d.addService(key);
    for (let i = 0; i < n; i++) d.addDest(key, { address: `198.18.${40 + (i >> 8)}.${i & 255}`, port: 80, method: 'route' });
    return { d, key, view: () => d.services().map((s) => ({ service: s, dests: d.dests(key) })) };
  }
  const Q = { first: 0, last: 0, failOpen: true };

  it('adding one DR server with 200 present runs one process, a batch of two lines', async () => {
    const { d, key, view } = await drView(200);
    const calls: { cmd: string; input?: string }[] = [];
    const sync = new RuleSync(async (cmd, args, input) => { calls.push({ cmd: `${cmd} ${args.join(' ')}`, input }); return '[{"priority":0,"src":"all","table":"local"}]'; });
    await sync.apply(ruleSet(view(), Q));
    // From nothing: one restore, one rule listing (the local swap), one batch.
    expect(calls.map((c) => c.cmd)).toEqual(['iptables-restore --noflush', 'ip -j rule show', 'ip -force -batch -']);
    expect(calls[2].input!.split('\n').filter((l) => l.startsWith('route replace'))).toHaveLength(200);
    calls.length = 0;
    d.addDest(key, { address: '198.18.45.1', port: 80, method: 'route' });
    await sync.apply(ruleSet(view(), Q));
    expect(calls).toEqual([{ cmd: 'ip -force -batch -', input: expect.stringMatching(/^route replace default via 198\.18\.45\.1 table (\d+)\nrule add pref 31337 fwmark \1 table \1\n$/) }]);
  });

  it('a DR route the kernel refuses is reported, its rule undone, and retried by the next change', async () => {
    const { view } = await drView(3);
    const batches: string[] = [];
    let refuse = true;
    const sync = new RuleSync(async (cmd, args, input) => {
      if (!args.includes('-batch')) return '[]';
      batches.push(input!);
      const bad = input!.split('\n').findIndex((l) => refuse && l.includes('via 198.18.40.1 '));
      if (bad < 0) return '';
      throw Object.assign(new Error('Command failed: ip'), { stderr: `Error: Nexthop has invalid gateway.\nCommand failed -:${bad + 1}\n` });
    });
    const errors = await sync.apply(ruleSet(view(), Q));
    expect(errors).toEqual(['DR real server 198.18.40.1: no route on a connected segment (Error: Nexthop has invalid gateway.)']);
    const mark = /via 198\.18\.40\.1 table (\d+)/.exec(batches[0])![1];
    expect(batches[1]).toBe(`rule del pref ${RULE_PREF} fwmark ${mark} table ${mark}\nroute flush table ${mark}\n`);
    refuse = false;
    expect(await sync.apply(ruleSet(view(), Q))).toEqual([]);
    expect(batches[2]).toBe(`route replace default via 198.18.40.1 table ${mark}\nrule add pref ${RULE_PREF} fwmark ${mark} table ${mark}\n`);
  });

  it('a batch that fails without naming a line throws and changes nothing it knows of', async () => {
    const { view } = await drView(1);
    let fail = true;
    const calls: string[] = [];
    const sync = new RuleSync(async (cmd, args, input) => {
      calls.push(`${cmd} ${args.join(' ')}`);
      if (args.includes('-batch') && fail) throw Object.assign(new Error('spawn ip ENOENT'), { stderr: '' });
      return args.includes('-batch') ? '' : '[]';
    });
    await expect(sync.apply(ruleSet(view(), Q))).rejects.toThrow(/ENOENT/);
    fail = false;
    calls.length = 0;
    await sync.apply(ruleSet(view(), Q));
    expect(calls).toEqual(['ip -j rule show', 'ip -force -batch -']); // the chains were written; the routes are tried again
  });
});

describe('tunnel routes', () => {
  // `ip -j -force -batch -` of `route get`: one JSON line per address with a route, none for the others.
  const kernel = new Map<string, string>([
    ['198.18.41.4', '{"dst":"198.18.41.4","dev":"x2","prefsrc":"198.18.41.1","flags":[]}'],
    ['198.18.43.9', '{"dst":"198.18.43.9","gateway":"198.18.41.254","dev":"x2","prefsrc":"198.18.41.1","flags":[],"metrics":[{"mtu":1400}]}'],
    ['198.18.50.2', '{"dst":"198.18.50.2","dev":"x3","prefsrc":"198.18.50.1","flags":[]}'],
  ]);
  const lookups: string[][] = [];
  const run = async (cmd: string, args: string[], input?: string) => {
    expect(`${cmd} ${args.join(' ')}`).toBe('ip -j -force -batch -');
    const asked = input!.trim().split('\n').map((l) => l.replace('route get ', ''));
    lookups.push(asked);
    const out = asked.filter((a) => kernel.has(a)).map((a) => `[${kernel.get(a)}]\n`).join('');
    if (asked.some((a) => !kernel.has(a))) throw Object.assign(new Error('Command failed'), { stdout: out, stderr: 'RTNETLINK answers: Network is unreachable\nCommand failed -:1\n' });
    return out;
  };
  const mtu = (dev: string) => (dev === 'x2' ? 9000 : 1500);

  it('each real server gets its own route: source, and the route MTU before the device MTU', async () => {
    const r = await tunnelRoutes(['198.18.41.4', '198.18.43.9', '198.18.50.2', '198.18.99.1'], run, mtu);
    expect(Object.fromEntries(r)).toEqual({
      '198.18.41.4': { src: '198.18.41.1', mtu: 9000 },
      '198.18.43.9': { src: '198.18.41.1', mtu: 1400 },
      '198.18.50.2': { src: '198.18.50.1', mtu: 1500 },
    });
  });

  it("the core's one setting: the smallest MTU, the first server's source, the others' sources named", async () => {
    const r = await tunnelRoutes([...kernel.keys()], run, mtu);
    expect(tunnelConfig(['198.18.41.4', '198.18.50.2'], r)).toEqual({ src: '198.18.41.1', mtu: 1500, mismatched: ['198.18.50.2'] });
    expect(tunnelConfig(['198.18.41.4', '198.18.43.9'], r)).toEqual({ src: '198.18.41.1', mtu: 1400, mismatched: [] });
    expect(tunnelConfig(['198.18.99.1'], r)).toBeNull();
  });

  it('the cache looks up only new servers, forgets removed ones, and looks up all again on refresh', async () => {
    lookups.length = 0;
    const cache = new TunnelRouteCache(run, mtu);
    const first = await cache.update(['198.18.41.4']);
    expect(cache.changed(first)).toBe(true);
    const second = await cache.update(['198.18.41.4', '198.18.43.9']);
    expect(second).toEqual({ src: '198.18.41.1', mtu: 1400, mismatched: [] });
    expect(cache.changed(second)).toBe(true);
    expect(cache.changed(await cache.update(['198.18.41.4', '198.18.43.9']))).toBe(false);
    expect(lookups).toEqual([['198.18.41.4'], ['198.18.43.9']]); // nothing new: no process
    kernel.set('198.18.41.4', '{"dst":"198.18.41.4","dev":"x2","prefsrc":"198.18.41.1","flags":[],"metrics":[{"mtu":1300}]}');
    const refreshed = await cache.update(['198.18.41.4', '198.18.43.9'], true);
    expect(lookups[2]).toEqual(['198.18.41.4', '198.18.43.9']);
    expect(refreshed!.mtu).toBe(1300);
    expect(cache.changed(refreshed)).toBe(true);
    expect(await cache.update(['198.18.43.9'])).toEqual({ src: '198.18.41.1', mtu: 1400, mismatched: [] });
  });

  it('the gateway gives the core the tunnel source and MTU of every server', async () => {
    class Idle implements NativeQueue {
      readonly fd = -1;
      constructor(readonly options: NfQueueOptions) {}
      start(): void {}
      stop(): void {}
      close(): void {}
      read(): number { return 0; }
      verdicts(): number { return 0; }
      stats() { return { packets: 0, enobufs: 0, nlErrors: 0, malformed: 0, verdictMsgs: 0, sends: 0 }; }
    }
    kernel.set('198.18.41.4', '{"dst":"198.18.41.4","dev":"x2","prefsrc":"198.18.41.1","flags":[]}');
    const d = await director(5);
    const key = { protocol: 'tcp' as const, address: VIP, port: 80 };
    d.addService(key);
    d.addDest(key, { address: '198.18.41.4', port: 80, method: 'tunnel' });
    const logs: string[] = [];
    const files = new Map<string, string>([['/proc/sys/net/ipv4/ip_forward', '0'], ['/sys/class/net/x2/mtu', '9000'], ['/sys/class/net/x3/mtu', '1500']]);
    const gw = new Gateway({ ...GATEWAY_DEFAULTS }, (m) => logs.push(m), {
      Native: Idle,
      exec: (cmd, args) => { if (args[2] === '-C') throw new Error('no'); return ''; },
      run: async (cmd, args, input) => (args.includes('-j') && input?.startsWith('route get') ? run(cmd, args, input) : ''),
      sysctl: { read: (p) => files.get(p) ?? '0', write: (p, v) => void files.set(p, v), list: () => ['all'] },
    });
    const seen: Array<[number, number]> = [];
    const real = coreOf(d).x.gwConfig;
    coreOf(d).x.gwConfig = (src: number, m: number) => { seen.push([src >>> 0, m]); return real(src, m); };
    const perDest = new Map<number, [number, number]>();
    const realDest = coreOf(d).x.gwDestTunnel;
    coreOf(d).x.gwDestTunnel = (id: number, src: number, m: number) => { perDest.set(id, [src >>> 0, m]); return realDest(id, src, m); };
    const ip = (a: string) => a.split('.').reduce((x, b) => ((x << 8) | Number(b)) >>> 0, 0);
    await gw.start(d);
    expect(seen).toEqual([[ip('198.18.41.1'), 9000]]);
    const b = d.addDest(key, { address: '198.18.50.2', port: 80, method: 'tunnel' });
    await gw.configChanged();
    expect(seen[1]).toEqual([seen[0][0], 1500]);
    // Each server gets its own route's source and MTU, so a server behind another interface is no longer wrong.
    const a = d.dests(key).find((x) => x.address === '198.18.41.4')!.id;
    expect(perDest.get(a)).toEqual([ip('198.18.41.1'), 9000]);
    expect(perDest.get(b)![1]).toBe(1500);
    expect(perDest.get(b)![0]).not.toBe(ip('198.18.41.1'));
    expect(logs.filter((l) => l.startsWith('TUN:'))).toEqual([]);
    await gw.stop();
  });
});

describe('gateway options', () => {
  it('parses queue ranges, burst, fail mode; refuses bad values with the usage', () => {
    expect(parseGatewayArgs(['--queue', '5:8', '--burst=16', '--fail-closed'])).toMatchObject({ first: 5, last: 8, burst: 16, failOpen: false });
    expect(() => parseGatewayArgs(['--burst', '0'])).toThrow(/invalid --burst 0/);
    expect(() => parseGatewayArgs(['--queue', '9:3'])).toThrow(/invalid --queue 3/);
    expect(() => parseGatewayArgs(['--burst', '1024', '--stride', '4096'])).toThrow(/exceeds the core's packet region/);
    expect(() => parseGatewayArgs(['--bogus'])).toThrow(/unknown gateway option --bogus/);
    expect(parseGatewayArgs([]).verdict).toBeUndefined();
    expect(parseGatewayArgs(['--verdict', 'per-packet'])).toMatchObject({ verdict: 'per-packet' });
    expect(parseGatewayArgs(['--verdict=batch'])).toMatchObject({ verdict: 'batch' });
    expect(() => parseGatewayArgs(['--verdict', 'single'])).toThrow(/invalid --verdict single/);
  });

  it('wasmvsd passes gateway options through and refuses them for the proxy', () => {
    expect(parseDaemonArgs(['gateway', '--queue', '3', '--fail-open'])).toMatchObject({ mode: 'gateway', dataPathOptions: { queue: { first: 3, last: 3 }, failOpen: true } });
    expect(parseDaemonArgs(['proxy', '--burst', '8'])).toBe('--burst is a gateway option');
    expect(parseDaemonArgs(['gateway', '--verdict', 'per-packet'])).toMatchObject({ dataPathOptions: { verdict: 'per-packet' } });
  });

  it('the gateway data path takes its options from wasmvsd: the values, the sysctl record beside the socket, connSync with --sync-*', () => {
    const args = parseDaemonArgs(['gateway', '--queue', '4:5', '--fail-closed', '--burst=32', '--sync-listen', '127.0.0.1:8849']);
    if (typeof args === 'string') throw new Error(args);
    const make = (connSync: boolean) => createDataPath({ mode: 'gateway', options: args.dataPathOptions, socket: '/run/wasmvs/wasmvsd.sock', connSync, log: () => {} }) as unknown as { gateway: Gateway };
    expect(make(true).gateway.opts).toEqual({ ...GATEWAY_DEFAULTS, first: 4, last: 5, failOpen: false, burst: 32, fastPath: true, connSync: true, sysctlRecord: '/run/wasmvs/wasmvsd.sysctl.json' });
    expect(make(false).gateway.opts).not.toHaveProperty('connSync');
  });
});

describe('gateway rules through ipsets', () => {
  /** `n` NAT services on VIPs no two of which are adjacent (no CIDR block merges them). */
  async function scattered(n: number, first = 0) {
    const d = await director(5);
    for (let i = first; i < first + n; i++) {
      const key = { protocol: 'tcp' as const, address: `198.19.${i}.${(i * 2) & 255}`, port: 80 };
      d.addService(key);
      d.addDest(key, { address: '198.18.41.2', port: 8080, method: 'masq' });
    }
    return d.services().map((s) => ({ service: s, dests: d.dests({ protocol: 'tcp', address: s.address!, port: 80 }) }));
  }
  const Q = { first: 0, last: 0, failOpen: true };

  it('more than SET_MIN blocks become one set match; without sets the rules grow and say how many', async () => {
    const v = await scattered(40);
    const linear = ruleSet(v, Q);
    expect(linear.mangle.filter((r) => r.includes('-p tcp --dport 80'))).toHaveLength(40);
    expect(linear.linear).toBe(80); // 40 VIPs and their 40 ICMP-error matches in one group
    expect(linear.sets).toEqual([]);
    const rs = ruleSet(v, Q, new Set(), new Set(), { sets: true });
    expect(rs.linear).toBe(0);
    expect(rs.mangle).toEqual([
      `-A ${CHAIN} -m set --match-set wasmvs-gw4-vips dst,dst -j NFQUEUE --queue-num 0 --queue-bypass`,
      `-A ${CHAIN} -p icmp -m set --match-set wasmvs-gw4-vips-icmp-0 dst -j NFQUEUE --queue-num 0 --queue-bypass`,
    ]);
    expect(rs.raw.filter((r) => r.includes('match-set'))).toHaveLength(2);
    const vips = rs.sets.find((s) => s.name === 'wasmvs-gw4-vips')!;
    expect(vips.type).toBe('hash:ip,port');
    expect(vips.entries).toHaveLength(40);
    expect(vips.entries).toContain('198.19.0.0,tcp:80');
    expect(rs.sets.find((s) => s.name === 'wasmvs-gw4-vips-icmp-0')!.entries).toContain('198.19.39.78');
    // The one real server's replies stay a rule (one block), as do small groups.
    expect(rs.forward).toEqual([`-A ${FWD_CHAIN} -s 198.18.41.2/32 -p tcp --sport 8080 -j NFQUEUE --queue-num 0 --queue-bypass`,
      `-A ${FWD_CHAIN} -s 198.18.41.2/32 -p icmp -j NFQUEUE --queue-num 0 --queue-bypass`]);
    expect(ruleSet(await scattered(SET_MIN / 2), Q, new Set(), new Set(), { sets: true }).sets).toEqual([]); // 16 blocks: rules
    expect(ruleSet(await scattered(SET_MIN / 2 + 1), Q, new Set(), new Set(), { sets: true }).sets).toHaveLength(2);
  });

  it('sets are written before the rules, by difference after that; unused ones are destroyed after the rules', async () => {
    const calls: { cmd: string; input?: string }[] = [];
    const sync = new RuleSync(async (cmd, args, input) => { calls.push({ cmd: `${cmd} ${args.join(' ')}`, input }); return ''; });
    await sync.apply(ruleSet(await scattered(40), Q, new Set(), new Set(), { sets: true }));
    expect(calls.map((c) => c.cmd)).toEqual(['ipset restore', 'iptables-restore --noflush']);
    const first = calls[0].input!.split('\n');
    expect(first).toContain('create wasmvs-gw4-vips hash:ip,port family inet maxelem 1048576 -exist');
    expect(first).toContain('flush wasmvs-gw4-vips');
    expect(first.filter((l) => l.startsWith('add wasmvs-gw4-vips '))).toHaveLength(40);
    calls.length = 0;
    // One service more (and one less): two lines of one ipset process, the rules untouched.
    await sync.apply(ruleSet(await scattered(40, 1), Q, new Set(), new Set(), { sets: true }));
    expect(calls).toEqual([{ cmd: 'ipset restore', input: 'del wasmvs-gw4-vips-icmp-0 198.19.0.0 -exist\nadd wasmvs-gw4-vips-icmp-0 198.19.40.80 -exist\n' +
      'del wasmvs-gw4-vips 198.19.0.0,tcp:80 -exist\nadd wasmvs-gw4-vips 198.19.40.80,tcp:80 -exist\n' }]);
    calls.length = 0;
    // Down to a few: rules per block first, then the sets go.
    await sync.apply(ruleSet(await scattered(3), Q, new Set(), new Set(), { sets: true }));
    expect(calls.map((c) => c.cmd)).toEqual(['iptables-restore --noflush', 'ipset restore']);
    expect(calls[1].input).toBe('destroy wasmvs-gw4-vips-icmp-0\ndestroy wasmvs-gw4-vips\n');
  });

  it('a failed ipset restore is an error and the next apply writes the sets whole', async () => {
    let fail = true;
    const inputs: string[] = [];
    const sync = new RuleSync(async (cmd, _args, input) => {
      if (cmd === 'ipset') { inputs.push(input!); if (fail) throw Object.assign(new Error('exit 1'), { stderr: 'ipset v7.17: Kernel error received: set type not supported' }); }
      return '';
    });
    const rs = ruleSet(await scattered(40), Q, new Set(), new Set(), { sets: true });
    await expect(sync.apply(rs)).rejects.toThrow(/ipset restore: .*set type not supported/);
    fail = false;
    await sync.apply(rs);
    expect(inputs[1]).toBe(inputs[0]);
  });

  it('removeRules destroys our sets only, after the chains', () => {
    const calls: string[] = [];
    const exec: Exec = (cmd, args, input) => {
      calls.push(`${cmd} ${args.join(' ')}${input ? ` <<${input}` : ''}`);
      return cmd === 'ipset' && args[0] === 'list' ? 'KUBE-CLUSTER-IP\nwasmvs-gw4-vips\nwasmvs-gw4-vips-icmp-0\nwasmvs-gw6-fresh\nother\n' : '';
    };
    removeRules(exec);
    const destroys = calls.filter((c) => c.startsWith('ipset restore'));
    expect(destroys).toEqual(['ipset restore <<destroy wasmvs-gw4-vips\ndestroy wasmvs-gw4-vips-icmp-0\n', 'ipset restore <<destroy wasmvs-gw6-fresh\n']);
    expect(calls.indexOf(destroys[0])).toBeGreaterThan(calls.indexOf(`iptables -t mangle -X ${CHAIN}`));
  });
});

describe('the gateway skips the rule pass when nothing it is made from changed', () => {
  it('sameLayout sees addresses, ports, methods, ids and families, not weights, schedulers or persistence', async () => {
    const { sameLayout } = await import('../../../hosts/gateway/gateway.js');
    const d = await director(5);
    const key = { protocol: 'tcp' as const, address: VIP, port: 80 };
    d.addService(key);
    d.addDest(key, { address: '198.18.41.2', port: 8080, method: 'masq' });
    const c0 = d.configuration();
    d.editDest(key, { address: '198.18.41.2', port: 8080, method: 'masq', weight: 0, uThreshold: 5 });
    d.editService(key, { scheduler: 'sh', persistent: 300 });
    expect(d.service(key)).toMatchObject({ scheduler: 'sh', persistent: 300 });
    expect(sameLayout(c0, d.configuration())).toBe(true);
    d.editDest(key, { address: '198.18.41.2', port: 8080, method: 'route' });
    const c1 = d.configuration();
    expect(sameLayout(c0, c1)).toBe(false);
    d.editDest(key, { address: '198.18.41.2', port: 8080, method: 'route', weight: 7 });
    expect(sameLayout(c1, d.configuration())).toBe(true);
    d.addDest(key, { address: '198.18.41.3', port: 8080, method: 'route' });
    expect(sameLayout(c1, d.configuration())).toBe(false);
    d.deleteDest(key, { address: '198.18.41.3', port: 8080 });
    expect(sameLayout(c1, d.configuration())).toBe(true);
    d.addService({ protocol: 'udp', address: VIP, port: 80 });
    expect(sameLayout(c1, d.configuration())).toBe(false);
    // Field by field: another port, family or fwmark is another layout.
    const moved = d.configuration().map((s) => ({ ...s, dests: s.dests.map((x) => ({ ...x, port: x.port + 1 })) }));
    expect(sameLayout(d.configuration(), moved)).toBe(false);
  });
});
