// The gateway end-to-end topology, modelled on the kernel selftest (reference
// §6) with 198.18.0.0/15 addresses: the client namespace holds a bridge with
// legs to the director and (DR/TUN) to the real server, so replies can go
// straight back; the director has a client side (x1) and a server side (x2).
// Real servers are addresses of one server namespace. Everything is created
// and deleted by the test; names carry the test's pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sh, waitLine } from './netns.js';

export type Mode = 'nat' | 'dr' | 'tun';

/**
 * Where the VIP lives on the director and what the veths offload.
 *  - vip 'local': `ip addr add VIP/32 dev lo` on the director, as on every
 *    IPVS director; 'routed': the director only routes it.
 *  - offload 'on': the veth defaults (tx checksum offload and TSO on, so the
 *    director sees partial checksums), except rx checksumming off at the
 *    client's and servers' ends so they verify every checksum the core wrote;
 *    'off': tx and rx checksumming off on every veth of every namespace.
 */
export interface TopoOptions { vip?: 'local' | 'routed'; offload?: 'on' | 'off' }
export const VIP = '198.18.42.1', CLIENT = '198.18.40.2', DIR_IN = '198.18.40.1', DIR_OUT = '198.18.41.1';
export const RS = ['198.18.41.2', '198.18.41.3', '198.18.41.4'];

export class Topo {
  readonly ns: { client: string; director: string; server: string };
  readonly dev: { dirIn: string; dirOut: string; client: string; server: string };
  readonly tmp = mkdtempSync(join(tmpdir(), 'wasmvs-gw-'));
  readonly socket: string;
  readonly state: string;
  /** Where wasmvsd's gateway records the original sysctls (beside the socket). */
  readonly sysctlRecord: string;

  constructor(readonly tag: string) {
    this.ns = { client: `${tag}c`, director: `${tag}d`, server: `${tag}r` };
    this.dev = { dirIn: `${tag}x1`, dirOut: `${tag}x2`, client: `${tag}br`, server: `${tag}s3` };
    this.socket = join(this.tmp, 'wasmvsd.sock');
    this.state = join(this.tmp, 'wasmvsd.rules');
    this.sysctlRecord = join(this.tmp, 'wasmvsd.sysctl.json');
  }

  in(ns: keyof Topo['ns'], ...args: string[]): string {
    return sh('ip', 'netns', 'exec', this.ns[ns], ...args);
  }

  setup(mode: Mode, opts: TopoOptions = {}): void {
    this.teardown(false);
    mkdirSync(this.tmp, { recursive: true });
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
      sh('ip', '-n', n, 'addr', 'add', a, 'dev', dev);
      sh('ip', '-n', n, 'link', 'set', dev, 'up');
    };
    addr(client, this.dev.client, `${CLIENT}/24`);
    sh('ip', '-n', client, 'link', 'set', `${t}c0`, 'up');
    addr(director, this.dev.dirIn, `${DIR_IN}/24`);
    addr(director, this.dev.dirOut, `${DIR_OUT}/24`);
    addr(server, this.dev.server, `${RS[0]}/24`);
    for (const a of RS.slice(1)) sh('ip', '-n', server, 'addr', 'add', `${a}/24`, 'dev', this.dev.server);
    // rx checksumming off: the client and the servers verify every checksum the core wrote.
    this.in('client', 'ethtool', '-K', `${t}c0`, 'rx', 'off');
    this.in('server', 'ethtool', '-K', this.dev.server, 'rx', 'off');
    if (opts.offload === 'off') {
      this.in('client', 'ethtool', '-K', `${t}c0`, 'tx', 'off');
      this.in('client', 'ethtool', '-K', this.dev.client, 'tx', 'off');
      this.in('server', 'ethtool', '-K', this.dev.server, 'tx', 'off');
      for (const d of [this.dev.dirIn, this.dev.dirOut]) this.in('director', 'ethtool', '-K', d, 'rx', 'off', 'tx', 'off');
    }
    if (opts.vip === 'local') sh('ip', '-n', director, 'addr', 'add', `${VIP}/32`, 'dev', 'lo');
    sh('ip', '-n', client, 'route', 'add', `${VIP}/32`, 'via', DIR_IN);
    if (mode === 'nat') {
      sh('ip', '-n', server, 'route', 'add', 'default', 'via', DIR_OUT);
      return;
    }
    // DR/TUN: the server holds the VIP on lo, never ARPs for it, and answers
    // the client directly over its own leg on the client's bridge.
    sh('ip', 'link', 'add', `${t}c1`, 'netns', client, 'type', 'veth', 'peer', 'name', `${t}s0`, 'netns', server);
    sh('ip', '-n', client, 'link', 'set', `${t}c1`, 'master', this.dev.client);
    sh('ip', '-n', client, 'link', 'set', `${t}c1`, 'up');
    addr(server, `${t}s0`, '198.18.40.3/24');
    this.in('server', 'ethtool', '-K', `${t}s0`, 'rx', 'off', ...(opts.offload === 'off' ? ['tx', 'off'] : []));
    if (opts.offload === 'off') this.in('client', 'ethtool', '-K', `${t}c1`, 'rx', 'off', 'tx', 'off');
    sh('ip', '-n', server, 'addr', 'add', `${VIP}/32`, 'dev', 'lo');
    for (const [k, v] of [['arp_ignore', '1'], ['arp_announce', '2'], ['rp_filter', '0']]) {
      for (const c of ['all', 'default', this.dev.server, `${t}s0`]) this.in('server', 'sysctl', '-qw', `net.ipv4.conf.${c}.${k}=${v}`);
    }
  }

  teardown(removeTmp = true): void {
    for (const n of Object.values(this.ns)) {
      try { sh('ip', 'netns', 'del', n); } catch { /* not there */ }
    }
    if (removeTmp) rmSync(this.tmp, { recursive: true, force: true });
  }

  /**
   * The director's netfilter and policy-routing state that the gateway may
   * have touched: '' and '' once it is gone (our DR rules removed, the plain
   * `0: from all lookup local` rule back and alone).
   */
  ownedState(): { iptables: string; rules: string } {
    // The fast path's nftables table counts as netfilter state too (absent nft: nothing of it can be there).
    let nft: string[] = [];
    try { nft = this.in('director', 'nft', 'list', 'tables').split('\n').filter((l) => l.includes('wasmvs')); } catch { /* no nft */ }
    // So do its ipsets (absent the ipset tool the gateway makes none).
    let sets: string[] = [];
    try { sets = this.in('director', 'ipset', 'list', '-n').split('\n').filter((l) => l.startsWith('wasmvs')); } catch { /* no ipset */ }
    const iptables = [...this.in('director', 'iptables-save').split('\n').filter((l) => l.includes('WASMVS') || l.includes('NFQUEUE') || l.includes('notrack')), ...nft, ...sets].join('\n');
    const all = this.in('director', 'ip', 'rule', 'show').split('\n');
    const plainLocal = '0:\tfrom all lookup local';
    const rules = [...all.filter((l) => l.startsWith('31337:') || (l.includes('lookup local') && l.trim() !== plainLocal.trim())),
      ...(all.includes(plainLocal) ? [] : [`missing: ${plainLocal}`])].join('\n');
    return { iptables, rules };
  }
}

/**
 * tcpdump in a namespace, written to a pcap file; stop() returns the decoded
 * lines (-nn -e), dropped() then says how many packets tcpdump itself lost
 * ("packets dropped by kernel": its ring buffer full while it was not
 * scheduled, as on a loaded machine), so a count of its lines is exact only
 * when that is 0. The ring buffer is 32 MiB (a forwarded GRO/GSO packet takes
 * up to 64 KiB of it), not the 2 MiB default.
 */
export async function capture(topo: Topo, ns: keyof Topo['ns'], dev: string, filter: string, name: string) {
  const file = join(topo.tmp, `${name}.pcap`);
  const proc: ChildProcess = spawn('ip', ['netns', 'exec', topo.ns[ns], 'tcpdump', '-i', dev, '-nn', '-U', '--immediate-mode', '-B', '32768', '-w', file, filter], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tcpdump did not start: ${err}`)), 10_000);
    proc.stderr!.on('data', (d) => {
      err += d;
      if (err.includes('listening on')) { clearTimeout(timer); resolve(); }
    });
    proc.once('exit', (c) => { clearTimeout(timer); reject(new Error(`tcpdump exited ${c}: ${err}`)); });
  });
  return {
    /** verbose: decoded with -vv, so TCP/UDP checksums read "(correct)" or "(incorrect -> …)". */
    async stop(verbose = false): Promise<string[]> {
      // Let the last packets be written (-U flushes per packet), then stop.
      await new Promise((r) => setTimeout(r, 300));
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGINT');
      await exited;
      if (!err.includes('packets captured')) throw new Error(`tcpdump: ${err}`);
      return sh('tcpdump', '-r', file, '-nn', '-e', ...(verbose ? ['-vv'] : [])).split('\n').filter((l) => l.trim() !== '');
    },
    /** After stop(): the packets tcpdump lost (dropped by the kernel or the interface before it read them). */
    dropped(): number {
      const m = /(\d+) packets? dropped by kernel/.exec(err);
      if (!m) throw new Error(`tcpdump: no drop count (stopped?): ${err}`);
      const ifd = /(\d+) packets? dropped by interface/.exec(err);
      return Number(m[1]) + Number(ifd?.[1] ?? 0);
    },
  };
}

export const DECAP = fileURLToPath(new URL('./ipip-decap.py', import.meta.url));
export const MALFORMED = fileURLToPath(new URL('./malformed.py', import.meta.url));
export { waitLine };
