// The many-directors topology (docs/many-directors.md): a client,
// a router with an ECMP route to the VIP over three `wasmvsd gateway`
// directors, three real servers, and etcd on a management network. Every
// namespace, veth and bridge is created and removed here; addresses come
// from 198.18.0.0/15 only; names start with `wvE` (fixed: run the suite
// under flock /tmp/wasmvs-netns.lock).
//
//   client wvEc ── wvEr router ─┬─ front LAN (bridge wvEF) ── d1 d2 d3 (VIP on lo)
//                               ├─ server LAN (bridge wvEB) ── d1 d2 d3, s1 s2 s3
//                               └─ management LAN (bridge wvEM, no address) ── d1 d2 d3, etcd (wvEe)
//
// The router hashes on L4 (net.ipv4.fib_multipath_hash_policy=1). Replies:
//  - DR/TUN: the real servers answer the client directly, through the router.
//  - NAT: a reply must be de-NATed by a director holding the connection, and
//    the first replies of a new connection reach it before any sync could:
//    each real server sends a connection's replies back to the director its
//    requests come from (the request's source MAC sets the connection mark,
//    one routing table per director, nft + ip rule, as a multi-gateway host
//    does). When a director fails, its table is pointed at the survivors
//    (the same health check that takes its nexthop off the router); the
//    survivors hold its connections from the sync and de-NAT them.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sh, inNs, waitLine } from './netns.js';
import { WASMVSD, WASMVSADM } from '../../daemon/daemon.js';

export type Mode = 'nat' | 'dr' | 'tun';
export const VIP = '198.18.68.1', PORT = 8080;
export const CLIENT = '198.18.64.2';
/** More client addresses (persistence is per client address). */
export const CLIENTS = Array.from({ length: 8 }, (_, i) => `198.18.64.${10 + i}`);
const R_CLIENT = '198.18.64.1', R_FRONT = '198.18.65.1', R_BACK = '198.18.66.1';
export const ETCD = '198.18.67.1';
export const front = (k: number) => `198.18.65.${10 + k}`;
export const back = (k: number) => `198.18.66.${10 + k}`;
export const mgmt = (k: number) => `198.18.67.${10 + k}`;
export const RS = [1, 2, 3].map((j) => `198.18.66.${20 + j}`);
const macBack = (k: number) => `02:00:c6:12:42:${(0x10 + k).toString(16)}`;

export const NS = {
  client: 'wvEc', router: 'wvEr', etcd: 'wvEe',
  dir: (k: number) => `wvEd${k}`,
  rs: (j: number) => `wvEs${j}`,
};
/** Directors 1..3 serve; 4 is the extra one (a wrong sync key). */
const DIRECTORS = [1, 2, 3, 4];

export const ETCD_BIN = '/usr/bin/etcd';

/** Why this suite cannot run here beyond the gateway's own prerequisites, or null. */
export function missingEcmpPrereq(): string | null {
  for (const [cmd, args] of [[ETCD_BIN, ['--version']], ['etcdctl', ['version']], ['nft', ['--version']]] as const) {
    try { execFileSync(cmd, [...args], { stdio: 'ignore', timeout: 10_000 }); } catch { return `${cmd} not installed (etcd-server, etcd-client, nftables)`; }
  }
  return null;
}

export const inn = (ns: string, ...args: string[]) => sh('ip', 'netns', 'exec', ns, ...args);

export interface Director {
  k: number;
  proc: ChildProcess;
  log(): string;
  exited: Promise<number | null>;
  socket: string;
}

export class EcmpTopo {
  readonly tmp = mkdtempSync(join(tmpdir(), 'wasmvs-ecmp-'));
  private etcdProc: ChildProcess | null = null;
  private etcdLog = '';
  readonly key: string;
  readonly badKey: string;
  readonly directors = new Map<number, Director>();

  constructor(readonly mode: Mode) {
    this.key = join(this.tmp, 'sync.key');
    this.badKey = join(this.tmp, 'bad.key');
    writeFileSync(this.key, 'ecmp-suite-shared-sync-key-0123456789\n');
    writeFileSync(this.badKey, 'not-the-shared-key-9876543210abcdef\n');
  }

  static namespaces(): string[] {
    return [NS.client, NS.router, NS.etcd, ...DIRECTORS.map(NS.dir), ...[1, 2, 3].map(NS.rs)];
  }

  setup(): void {
    EcmpTopo.removeAll();
    for (const n of EcmpTopo.namespaces()) {
      sh('ip', 'netns', 'add', n);
      sh('ip', '-n', n, 'link', 'set', 'lo', 'up');
    }
    const r = NS.router;
    const up = (ns: string, dev: string) => sh('ip', '-n', ns, 'link', 'set', dev, 'up');
    const addr = (ns: string, dev: string, a: string) => { sh('ip', '-n', ns, 'addr', 'add', a, 'dev', dev); up(ns, dev); };
    // A veth from namespace ns (device dev) to a port of router bridge br.
    const leg = (ns: string, dev: string, br: string, port: string, mac?: string) => {
      sh('ip', 'link', 'add', dev, 'netns', ns, ...(mac ? ['address', mac] : []), 'type', 'veth', 'peer', 'name', port, 'netns', r);
      sh('ip', '-n', r, 'link', 'set', port, 'master', br);
      up(r, port);
    };
    for (const [br, a] of [['wvEF', `${R_FRONT}/24`], ['wvEB', `${R_BACK}/24`], ['wvEM', '']]) {
      sh('ip', '-n', r, 'link', 'add', br, 'type', 'bridge');
      if (a) addr(r, br, a); else up(r, br);
    }
    sh('ip', 'link', 'add', 'wvEc0', 'netns', NS.client, 'type', 'veth', 'peer', 'name', 'wvEr0', 'netns', r);
    addr(NS.client, 'wvEc0', `${CLIENT}/24`);
    for (const a of CLIENTS) sh('ip', '-n', NS.client, 'addr', 'add', `${a}/24`, 'dev', 'wvEc0');
    addr(r, 'wvEr0', `${R_CLIENT}/24`);
    sh('ip', '-n', NS.client, 'route', 'add', 'default', 'via', R_CLIENT);
    for (const [k, v] of [['net.ipv4.ip_forward', '1'], ['net.ipv4.fib_multipath_hash_policy', '1'],
      ['net.ipv4.conf.all.rp_filter', '0'], ['net.ipv4.conf.default.rp_filter', '0']]) inn(r, 'sysctl', '-qw', `${k}=${v}`);
    leg(NS.etcd, 'wvEe0', 'wvEM', 'wvEme');
    addr(NS.etcd, 'wvEe0', `${ETCD}/24`);
    for (const k of DIRECTORS) {
      const d = NS.dir(k);
      leg(d, 'f0', 'wvEF', `wvEf${k}`);
      leg(d, 'b0', 'wvEB', `wvEb${k}`, macBack(k));
      leg(d, 'm0', 'wvEM', `wvEm${k}`);
      addr(d, 'f0', `${front(k)}/24`);
      addr(d, 'b0', `${back(k)}/24`);
      addr(d, 'm0', `${mgmt(k)}/24`);
      sh('ip', '-n', d, 'route', 'add', 'default', 'via', R_FRONT);
      // An IPVS director holds the VIP on lo.
      sh('ip', '-n', d, 'addr', 'add', `${VIP}/32`, 'dev', 'lo');
    }
    for (const j of [1, 2, 3]) {
      const s = NS.rs(j);
      leg(s, 'e0', 'wvEB', `wvEs${j}`);
      addr(s, 'e0', `${RS[j - 1]}/24`);
      // The servers verify every checksum the directors wrote.
      inn(s, 'ethtool', '-K', 'e0', 'rx', 'off');
      if (this.mode === 'nat') this.natReplies(s);
      else {
        sh('ip', '-n', s, 'route', 'add', 'default', 'via', R_BACK);
        sh('ip', '-n', s, 'addr', 'add', `${VIP}/32`, 'dev', 'lo');
        for (const [key, v] of [['arp_ignore', '1'], ['arp_announce', '2'], ['rp_filter', '0']]) {
          for (const c of ['all', 'default', 'e0']) inn(s, 'sysctl', '-qw', `net.ipv4.conf.${c}.${key}=${v}`);
        }
      }
    }
    this.route([1, 2, 3]);
  }

  /** NAT: replies go back through the director the connection's requests come from (see the header). */
  private natReplies(s: string): void {
    const map = [1, 2, 3].map((k) => `${macBack(k)} : ${k}`).join(', ');
    execFileSync('ip', ['netns', 'exec', s, 'nft', '-f', '-'], {
      input: `table ip wvE {
  chain pre {
    type filter hook prerouting priority -150;
    ct mark set ether saddr map { ${map} };
  }
  chain out {
    type route hook output priority -150;
    meta mark set ct mark;
  }
}
`, stdio: ['pipe', 'pipe', 'pipe'],
    });
    for (const k of [1, 2, 3]) {
      sh('ip', '-n', s, 'rule', 'add', 'fwmark', String(k), 'table', String(100 + k));
      sh('ip', '-n', s, 'route', 'add', 'default', 'via', back(k), 'table', String(100 + k));
    }
    // A reply without a mark (none expected) still goes through some director.
    sh('ip', '-n', s, 'route', 'add', 'default', ...[1, 2, 3].flatMap((k) => ['nexthop', 'via', back(k)]));
  }

  /** The router's ECMP route to the VIP over directors `ks`; NAT: each failed director's reply table → the survivors. */
  route(ks: number[]): void {
    const hops = ks.flatMap((k) => ['nexthop', 'via', front(k)]);
    sh('ip', '-n', NS.router, 'route', 'replace', `${VIP}/32`, ...hops);
    if (this.mode !== 'nat') return;
    for (const j of [1, 2, 3]) {
      for (const k of [1, 2, 3]) {
        const to = ks.includes(k) ? ['via', back(k)] : ks.flatMap((x) => ['nexthop', 'via', back(x)]);
        sh('ip', '-n', NS.rs(j), 'route', 'replace', 'default', 'table', String(100 + k), ...to);
      }
    }
  }

  /** Packets director k received from the router (its front leg's counter: survives a restart of the daemon). */
  frontRx(k: number): number {
    const j = JSON.parse(sh('ip', '-n', NS.dir(k), '-s', '-j', 'link', 'show', 'f0')) as { stats64: { rx: { packets: number } } }[];
    return j[0].stats64.rx.packets;
  }

  /** The router's current nexthops to the VIP. */
  nexthops(): string {
    return sh('ip', '-n', NS.router, 'route', 'show', `${VIP}/32`);
  }

  etcdUrl(): string { return `etcd://${ETCD}:2379/wvE`; }

  async startEtcd(): Promise<void> {
    const dir = join(this.tmp, 'etcd');
    const p = spawn('ip', ['netns', 'exec', NS.etcd, ETCD_BIN, '--name', 'wvE', '--data-dir', dir,
      '--listen-client-urls', `http://${ETCD}:2379`, '--advertise-client-urls', `http://${ETCD}:2379`,
      '--listen-peer-urls', `http://${ETCD}:2380`, '--initial-advertise-peer-urls', `http://${ETCD}:2380`,
      '--initial-cluster', `wvE=http://${ETCD}:2380`, '--log-level', 'error', '--logger', 'zap'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.etcdProc = p;
    p.stdout!.on('data', (d) => { this.etcdLog += d; });
    p.stderr!.on('data', (d) => { this.etcdLog += d; });
    for (let i = 0; i < 100; i++) {
      if (p.exitCode !== null) break;
      try {
        inn(NS.etcd, 'etcdctl', '--endpoints', `${ETCD}:2379`, '--dial-timeout', '1s', 'endpoint', 'health');
        return;
      } catch { await new Promise((r) => setTimeout(r, 200)); }
    }
    throw new Error(`etcd did not become healthy: ${this.etcdLog.slice(-2000)}`);
  }

  /**
   * `wasmvsd gateway` in director k's namespace with the store, sync over the
   * management LAN (peers from etcd), fail-closed (a director whose process
   * died must not forward packets unchanged). Resolves once it reports ready
   * (its control socket: after the peers' snapshots).
   */
  async startDirector(k: number, opts: { key?: string; wait?: number; sync?: boolean; config?: string } = {}): Promise<Director> {
    const socket = join(this.tmp, `d${k}.sock`);
    const sync = opts.sync === false ? [] : ['--sync-listen', `${mgmt(k)}:7013`, '--sync-peers', 'etcd', '--sync-key', opts.key ?? this.key,
      '--sync-wait', String(opts.wait ?? 10)];
    const proc = spawn('ip', ['netns', 'exec', NS.dir(k), process.execPath, WASMVSD, 'gateway', '--socket', socket,
      '--state', join(this.tmp, `d${k}.rules`), '--queue', '0', '--fail-closed', '--store', this.etcdUrl(), '--name', `d${k}`,
      ...(opts.config ? ['--config', opts.config] : []), ...sync],
    { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    proc.stdout!.on('data', (d) => { log += d; });
    proc.stderr!.on('data', (d) => { log += d; });
    const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
    const d: Director = { k, proc, log: () => log, exited, socket };
    this.directors.set(k, d);
    for (let i = 0; i < 600 && !log.includes('control socket'); i++) {
      if (proc.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!log.includes('control socket')) {
      proc.kill('SIGKILL');
      throw new Error(`director d${k} did not start: ${log}`);
    }
    return d;
  }

  /** SIGKILL: the director's process dies, its machine stays (its fail-closed rules drop). */
  async kill(k: number): Promise<void> {
    const d = this.directors.get(k);
    if (!d || d.proc.exitCode !== null) return;
    d.proc.kill('SIGKILL');
    await d.exited;
  }

  /** SIGTERM (clean stop), SIGKILL after 10 s; returns its log. */
  async stop(k: number): Promise<string> {
    const d = this.directors.get(k);
    if (!d) return '';
    if (d.proc.exitCode === null) {
      d.proc.kill('SIGTERM');
      const done = await Promise.race([d.exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 10_000))]);
      if (!done) { d.proc.kill('SIGKILL'); await d.exited; }
    }
    return d.log();
  }

  adm(k: number, ...args: string[]): string {
    return sh(process.execPath, WASMVSADM, '--socket', this.directors.get(k)!.socket, ...args);
  }

  /** The client ports of director k's VIP connections, and its whole listing. */
  connPorts(k: number): Set<number> {
    const out = new Set<number>();
    for (const l of this.adm(k, '-L', '-c', '-n').split('\n')) {
      const m = new RegExp(`^TCP\\s+\\S+\\s+\\S+\\s+${CLIENT.replace(/\./g, '\\.')}:(\\d+)\\s+${VIP.replace(/\./g, '\\.')}:${PORT}\\s`).exec(l.trim());
      if (m) out.add(Number(m[1]));
    }
    return out;
  }

  /** Echo servers on the three real servers; TUN: the userspace decapsulators first. */
  async servers(): Promise<ChildProcess[]> {
    const peer = fileURLToPath(new URL('./ecmp-peer.mjs', import.meta.url));
    const out: ChildProcess[] = [];
    for (const j of [1, 2, 3]) {
      const s = NS.rs(j);
      if (this.mode === 'tun') {
        const decap = inNs(s, 'python3', [fileURLToPath(new URL('./ipip-decap.py', import.meta.url)), 'wvEt', 'quiet']);
        await waitLine(decap, (l) => l === 'ready', 10_000);
        sh('ip', '-n', s, 'link', 'set', 'wvEt', 'up');
        for (const c of ['wvEt']) inn(s, 'sysctl', '-qw', `net.ipv4.conf.${c}.rp_filter=0`);
        out.push(decap);
      }
      const srv = inNs(s, process.execPath, [peer, 'server', String(PORT), `s${j}`]);
      await waitLine(srv, (l) => l === 'ready', 10_000);
      out.push(srv);
    }
    return out;
  }

  /** `n` short connections from each of `sources` to VIP:port: the real server that greeted each. */
  greet(port: number, n: number, sources: readonly string[]): { src: string; rs: string }[] {
    const out = inn(NS.client, process.execPath, fileURLToPath(new URL('./ecmp-peer.mjs', import.meta.url)), 'greet', VIP, String(port), String(n), ...sources);
    return out.split('\n').filter((l) => l.startsWith('served ')).map((l) => { const [, src, ...rs] = l.split(' '); return { src, rs: rs.join(' ') }; });
  }

  /** Director k's persistence templates of VIP:port (client port 0): their client addresses. */
  templates(k: number, port: number): Set<string> {
    const out = new Set<string>();
    for (const l of this.adm(k, '-L', '-c', '-n').split('\n')) {
      const m = new RegExp(`\\s(198\\.18\\.64\\.\\d+):0\\s+${VIP.replace(/\./g, '\\.')}:${port}\\s`).exec(l);
      if (m) out.add(m[1]);
    }
    return out;
  }

  client(n: number): ChildProcess {
    return inNs(NS.client, process.execPath, [fileURLToPath(new URL('./ecmp-peer.mjs', import.meta.url)), 'client', VIP, String(PORT), String(n)]);
  }

  async teardown(): Promise<void> {
    for (const k of this.directors.keys()) await this.kill(k);
    if (this.etcdProc && this.etcdProc.exitCode === null) {
      const gone = new Promise((r) => this.etcdProc!.once('exit', r));
      this.etcdProc.kill('SIGKILL');
      await gone;
    }
    EcmpTopo.removeAll();
    rmSync(this.tmp, { recursive: true, force: true });
  }

  static removeAll(): void {
    for (const n of EcmpTopo.namespaces()) {
      try { sh('ip', 'netns', 'del', n); } catch { /* not there */ }
    }
  }
}
