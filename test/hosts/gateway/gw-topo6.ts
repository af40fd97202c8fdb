// The gateway topology of gw-topo.ts in IPv6, addresses from 2001:2::/48:
// the client namespace's bridge with a leg to the director (x1) and, for DR,
// one to the real server, which then holds the VIP on lo and answers the
// client directly; the director's server side (x2). Addresses are added
// without duplicate address detection so they are usable at once. Plus the
// client/server exchanges over IPv6 and the ICMPv6 peers.
import { fileURLToPath } from 'node:url';
import { inNs, sh } from './netns.js';
import { Topo, waitLine, type TopoOptions } from './gw-topo.js';
import { PEER } from './gw-daemon.js';

export const VIP6 = '2001:2:0:42::1', CLIENT6 = '2001:2:0:40::2', DIR_IN6 = '2001:2:0:40::1', DIR_OUT6 = '2001:2:0:41::1';
export const RS6 = '2001:2:0:41::2', RS6_CLIENT_SIDE = '2001:2:0:40::3';
export const ICMP6_PEER = fileURLToPath(new URL('./icmp6-peer.py', import.meta.url));

export type Mode6 = 'nat' | 'dr';

export class Topo6 extends Topo {
  setup6(mode: Mode6, opts: TopoOptions = {}): void {
    this.teardown(false);
    const { client, director, server } = this.ns;
    const t = this.tag;
    for (const n of [client, director, server]) {
      sh('ip', 'netns', 'add', n);
      sh('ip', '-n', n, 'link', 'set', 'lo', 'up');
    }
    sh('ip', '-n', client, 'link', 'add', this.dev.client, 'type', 'bridge');
    sh('ip', 'link', 'add', `${t}c0`, 'netns', client, 'type', 'veth', 'peer', 'name', this.dev.dirIn, 'netns', director);
    sh('ip', 'link', 'add', this.dev.dirOut, 'netns', director, 'type', 'veth', 'peer', 'name', this.dev.server, 'netns', server);
    sh('ip', '-n', client, 'link', 'set', `${t}c0`, 'master', this.dev.client);
    const addr = (n: string, dev: string, a: string) => {
      sh('ip', '-n', n, '-6', 'addr', 'add', a, 'dev', dev, 'nodad');
      sh('ip', '-n', n, 'link', 'set', dev, 'up');
    };
    addr(client, this.dev.client, `${CLIENT6}/64`);
    sh('ip', '-n', client, 'link', 'set', `${t}c0`, 'up');
    addr(director, this.dev.dirIn, `${DIR_IN6}/64`);
    addr(director, this.dev.dirOut, `${DIR_OUT6}/64`);
    addr(server, this.dev.server, `${RS6}/64`);
    // rx checksumming off: the client and the server verify every checksum the core wrote.
    this.in('client', 'ethtool', '-K', `${t}c0`, 'rx', 'off');
    this.in('server', 'ethtool', '-K', this.dev.server, 'rx', 'off');
    if (opts.offload === 'off') {
      this.in('client', 'ethtool', '-K', `${t}c0`, 'tx', 'off');
      this.in('client', 'ethtool', '-K', this.dev.client, 'tx', 'off');
      this.in('server', 'ethtool', '-K', this.dev.server, 'tx', 'off');
      for (const d of [this.dev.dirIn, this.dev.dirOut]) this.in('director', 'ethtool', '-K', d, 'rx', 'off', 'tx', 'off');
    }
    if (opts.vip === 'local') sh('ip', '-n', director, '-6', 'addr', 'add', `${VIP6}/128`, 'dev', 'lo', 'nodad');
    sh('ip', '-n', client, '-6', 'route', 'add', `${VIP6}/128`, 'via', DIR_IN6);
    if (mode === 'nat') {
      sh('ip', '-n', server, '-6', 'route', 'add', 'default', 'via', DIR_OUT6);
      return;
    }
    // DR: the server holds the VIP on lo (IPv6 answers neighbour solicitations
    // only for addresses of the asking link, so it never claims it) and answers
    // the client over its own leg on the client's bridge.
    sh('ip', 'link', 'add', `${t}c1`, 'netns', client, 'type', 'veth', 'peer', 'name', `${t}s0`, 'netns', server);
    sh('ip', '-n', client, 'link', 'set', `${t}c1`, 'master', this.dev.client);
    sh('ip', '-n', client, 'link', 'set', `${t}c1`, 'up');
    addr(server, `${t}s0`, `${RS6_CLIENT_SIDE}/64`);
    this.in('server', 'ethtool', '-K', `${t}s0`, 'rx', 'off', ...(opts.offload === 'off' ? ['tx', 'off'] : []));
    if (opts.offload === 'off') this.in('client', 'ethtool', '-K', `${t}c1`, 'rx', 'off', 'tx', 'off');
    sh('ip', '-n', server, '-6', 'addr', 'add', `${VIP6}/128`, 'dev', 'lo', 'nodad');
  }

  /**
   * The director's IPv6 netfilter and policy-routing state the gateway may
   * have touched: '' and '' once it is gone (ip6tables chains and jumps, the
   * DR rules, the plain `0: from all lookup local` back and alone).
   */
  ownedState6(): { ip6tables: string; rules: string } {
    const ip6tables = this.in('director', 'ip6tables-save').split('\n').filter((l) => l.includes('WASMVS') || l.includes('NFQUEUE') || l.includes('notrack')).join('\n');
    const all = this.in('director', 'ip', '-6', 'rule', 'show').split('\n');
    const plainLocal = '0:\tfrom all lookup local';
    const rules = [...all.filter((l) => l.startsWith('31337:') || (l.includes('lookup local') && l.trim() !== plainLocal.trim())),
      ...(all.includes(plainLocal) ? [] : [`missing: ${plainLocal}`])].join('\n');
    return { ip6tables, rules };
  }

  /** Every IPv6 forwarding value of the director (all, default, each interface). */
  forwarding6(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const d of ['all', 'default', 'lo', this.dev.dirIn, this.dev.dirOut]) out[d] = this.in('director', 'sysctl', '-n', `net.ipv6.conf.${d}.forwarding`).trim();
    return out;
  }
}

/** TCP exchanges client → [VIP6]:port; returns what the server got and what the client saw. */
export async function exchange6(topo: Topo6, listen: string, port: number, count = 1, size = 32) {
  const server = inNs(topo.ns.server, process.execPath, [PEER, 'tcp-server', listen, String(port), String(count)]);
  await waitLine(server, (l) => l === 'ready', 10_000);
  const lines: string[] = [];
  server.stdout!.on('data', (d) => lines.push(...String(d).split('\n').filter((l) => l.startsWith('got '))));
  const out = topo.in('client', process.execPath, PEER, 'tcp-client', VIP6, String(port), String(count), String(size)).split('\n');
  await new Promise((r) => setTimeout(r, 200));
  server.kill();
  return { sent: out.filter((l) => l.startsWith('sent ')).map((l) => l.slice(5)), replies: out.filter((l) => l.startsWith('reply ')), got: lines };
}

/** One UDP datagram client → [VIP6]:port and its echo; `listen` is the server's bound address. */
export async function udpExchange6(topo: Topo6, listen: string, port: number, size = 48) {
  const server = inNs(topo.ns.server, process.execPath, [PEER, 'udp-server', listen, String(port), '1']);
  await waitLine(server, (l) => l === 'ready', 10_000);
  const got = waitLine(server, (l) => l.startsWith('got '), 15_000);
  const out = topo.in('client', process.execPath, PEER, 'udp-client', VIP6, String(port), String(size)).split('\n');
  const sent = out.find((l) => l.startsWith('sent '))?.slice(5) ?? '';
  return { sent, got: await got.catch((e: Error) => `none: ${e.message}`), reply: out.find((l) => l.startsWith('udp-reply ')) ?? 'no reply' };
}

/** icmp6-peer.py in one of the topology's namespaces, run to its end; its output lines. */
export function icmp6Peer(topo: Topo6, ns: 'client' | 'server', ...args: string[]): string[] {
  return topo.in(ns, 'python3', ICMP6_PEER, ...args).split('\n').filter((l) => l !== '');
}
