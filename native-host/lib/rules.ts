// The netfilter and policy-routing state the gateway owns, computed from the
// Director's services and applied atomically. Everything lives in dedicated
// chains (WASMVS-GW in mangle, WASMVS-GW-RAW in raw, each jumped to from
// PREROUTING) and in ip rules at one dedicated preference, so a run can find
// and remove what a crashed run left behind without touching anyone else's.
import { execFileSync } from 'node:child_process';
import { layout as L } from '../../sdk/src/core/abi.gen.js';
import type { ServiceInfo, DestInfo } from '../../sdk/src/types.js';

export interface ServiceView { service: ServiceInfo; dests: readonly DestInfo[] }

export const CHAIN = 'WASMVS-GW';
export const RAW_CHAIN = 'WASMVS-GW-RAW';
/** ip rule preference of every DR rule (ours alone; cleanup deletes all rules at it). */
export const RULE_PREF = 31337;

export interface QueueSpec { first: number; last: number; failOpen: boolean }

/** A run of commands; the default runs them (tests may record instead). */
export type Exec = (cmd: string, args: string[], input?: string) => string;
export const run: Exec = (cmd, args, input) =>
  execFileSync(cmd, args, { encoding: 'utf8', input, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });

/** The chains' content and DR routes of one address family. */
export interface FamilyRules {
  mangle: string[];
  raw: string[];
  /** DR: verdict mark → real server next hop. */
  routes: { mark: number; via: string }[];
}

export interface RuleSet extends FamilyRules {
  /** IPv6 services (iptables rules per address; the core's ICMP path is IPv4 only, so no ICMPv6). */
  v6: FamilyRules;
  /** Some dest tunnels: the host needs accept_local and a tunnel source. */
  tunnels: string[];
}

interface Family { iptables: string; restore: string; ip: string[] }
const V4: Family = { iptables: 'iptables', restore: 'iptables-restore', ip: [] };
const V6: Family = { iptables: 'ip6tables', restore: 'ip6tables-restore', ip: ['-6'] };

function queueTarget(q: QueueSpec): string {
  const t = q.first === q.last ? `--queue-num ${q.first}` : `--queue-balance ${q.first}:${q.last}`;
  // --queue-bypass: with no consumer bound the kernel accepts instead of dropping.
  return `-j NFQUEUE ${t}${q.failOpen ? ' --queue-bypass' : ''}`;
}

const ip4 = (a: string) => a.split('.').reduce((x, b) => x * 256 + Number(b), 0);
const text4 = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

/**
 * The exact set of addresses as the fewest aligned CIDR blocks: netfilter
 * walks its rules one by one, so 20,000 consecutive VIPs must not become
 * 20,000 rules (per-service decisions live in the core's hash tables).
 */
export function cidrs(addresses: Iterable<string>): string[] {
  const sorted = [...new Set([...addresses].map(ip4))].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    for (let lo = sorted[i]; lo <= sorted[j];) {
      let size = 1;
      while (size < 2 ** 32 && lo % (size * 2) === 0 && lo + size * 2 - 1 <= sorted[j]) size *= 2;
      out.push(`${text4(lo)}/${32 - Math.log2(size)}`);
      lo += size;
    }
    i = j + 1;
  }
  return out;
}

/** Groups addresses under a match key, then emits one rule per CIDR block of each group. */
class Groups {
  private readonly m = new Map<string, Set<string>>();
  constructor(private readonly blocks: (a: Iterable<string>) => string[] = cidrs) {}
  add(key: string, address: string): void {
    let g = this.m.get(key);
    if (!g) this.m.set(key, (g = new Set()));
    g.add(address);
  }
  rules(make: (key: string, cidr: string) => string): string[] {
    const out: string[] = [];
    for (const [k, set] of this.m) for (const c of this.blocks(set)) out.push(make(k, c));
    return out;
  }
}

/** Per family: the services' match groups, then the rules. */
class Collect {
  readonly vips: Groups;
  readonly replies: Groups;
  readonly marks = new Set<number>();
  readonly out: FamilyRules = { mangle: [], raw: [], routes: [] };
  constructor(readonly v6: boolean) {
    const blocks = v6 ? (a: Iterable<string>) => [...new Set(a)].map((x) => `${x}/128`) : cidrs;
    this.vips = new Groups(blocks); // key "proto port": -d BLOCK -p proto [--dport port]
    this.replies = new Groups(blocks); // key "proto port": -s BLOCK -p proto [--sport port]
  }

  finish(q: QueueSpec): FamilyRules {
    const portMatch = (dir: 'd' | 's', key: string) => {
      const [proto, port] = key.split(' ');
      return `-p ${proto}${port !== '0' ? ` --${dir}port ${port}` : ''}`;
    };
    const matches = [
      ...this.vips.rules((k, c) => `-d ${c} ${portMatch('d', k)}`),
      ...[...this.marks].map((m) => `-m mark --mark ${m}`),
      ...this.replies.rules((k, c) => `-s ${c} ${portMatch('s', k)}`),
    ];
    for (const m of matches) {
      this.out.mangle.push(`-A ${CHAIN} ${m} ${queueTarget(q)}`);
      this.out.raw.push(`-A ${RAW_CHAIN} ${m} -j CT --notrack`);
    }
    return this.out;
  }
}

/** The rules for the current configuration, IPv4 and IPv6. */
export function ruleSet(services: readonly ServiceView[], q: QueueSpec): RuleSet {
  const fam = { 4: new Collect(false), 6: new Collect(true) };
  const tunnels: string[] = [];
  for (const { service: s, dests } of services) {
    const c = fam[s.af];
    const proto = s.protocol === 'udp' ? 'udp' : 'tcp';
    if (s.fwmark !== 0) c.marks.add(s.fwmark);
    else if (s.address !== null && (s.protocol === 'tcp' || s.protocol === 'udp')) {
      c.vips.add(`${proto} ${s.port}`, s.address);
      // ICMP errors about the service's connections (§2.9) come to the VIP too.
      if (!c.v6) c.vips.add('icmp 0', s.address);
    } else continue;
    for (const d of dests) {
      const dc = fam[d.af];
      if (d.method === 'masq') {
        dc.replies.add(`${proto} ${d.port}`, d.address);
        if (!dc.v6) dc.replies.add('icmp 0', d.address);
      } else if (d.method === 'route') {
        dc.out.routes.push({ mark: (L.GW_DR_MARK_BASE + (d.id & L.GW_DR_SLOT_MASK)) >>> 0, via: d.address });
      } else if (d.method === 'tunnel' && d.af === 4) tunnels.push(d.address);
    }
  }
  return { ...fam[4].finish(q), v6: fam[6].finish(q), tunnels };
}

/** iptables-restore input replacing our chain of one table (--noflush keeps everyone else's). */
function restoreText(table: string, chain: string, rules: readonly string[]): string {
  return `*${table}\n:${chain} - [0:0]\n${rules.join('\n')}${rules.length ? '\n' : ''}COMMIT\n`;
}

function hasJump(exec: Exec, f: Family, table: string, chain: string): boolean {
  try {
    exec(f.iptables, ['-t', table, '-C', 'PREROUTING', '-j', chain]);
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes the chains (atomically per table) and makes sure PREROUTING jumps
 * to them first; returns the DR routes that could not be installed (a real
 * server not on a connected segment), as messages. IPv6 is touched only when
 * some IPv6 service needs it (ip6tables may be missing otherwise).
 */
export function applyRules(rs: RuleSet, exec: Exec = run): string[] {
  const errors = applyFamily(V4, rs, exec);
  if (rs.v6.mangle.length || rs.v6.routes.length) errors.push(...applyFamily(V6, rs.v6, exec));
  else removeFamily(V6, exec);
  return errors;
}

function applyFamily(f: Family, rs: FamilyRules, exec: Exec): string[] {
  exec(f.restore, ['--noflush'], restoreText('raw', RAW_CHAIN, rs.raw));
  exec(f.restore, ['--noflush'], restoreText('mangle', CHAIN, rs.mangle));
  for (const [table, chain] of [['raw', RAW_CHAIN], ['mangle', CHAIN]]) {
    if (!hasJump(exec, f, table, chain)) exec(f.iptables, ['-t', table, '-I', 'PREROUTING', '1', '-j', chain]);
  }
  return applyRoutes(f, rs.routes, exec);
}

/** ip rule fwmark M → table M whose default route is the real server (on-link). */
function applyRoutes(f: Family, routes: FamilyRules['routes'], exec: Exec): string[] {
  deleteRoutes(f, exec);
  const errors: string[] = [];
  for (const r of routes) {
    try {
      exec('ip', [...f.ip, 'route', 'replace', 'default', 'via', r.via, 'table', String(r.mark)]);
      exec('ip', [...f.ip, 'rule', 'add', 'pref', String(RULE_PREF), 'fwmark', String(r.mark), 'table', String(r.mark)]);
    } catch (e) {
      errors.push(`DR real server ${r.via}: no route on a connected segment (${String((e as Error).message).split('\n').slice(-2).join(' ').trim()})`);
    }
  }
  return errors;
}

/** Removes every ip rule at RULE_PREF and flushes the tables they pointed to. */
function deleteRoutes(f: Family, exec: Exec): void {
  const tables = new Set<string>();
  for (let i = 0; i < 4096; i++) {
    let line: string;
    try {
      line = exec('ip', [...f.ip, 'rule', 'show', 'pref', String(RULE_PREF)]).split('\n').find((l) => l.trim() !== '') ?? '';
    } catch {
      break;
    }
    if (!line) break;
    const t = /lookup (\S+)/.exec(line);
    if (t) tables.add(t[1]);
    exec('ip', [...f.ip, 'rule', 'del', 'pref', String(RULE_PREF)]);
  }
  for (const t of tables) {
    try { exec('ip', [...f.ip, 'route', 'flush', 'table', t]); } catch { /* already empty */ }
  }
}

function removeFamily(f: Family, exec: Exec): void {
  for (const [table, chain] of [['raw', RAW_CHAIN], ['mangle', CHAIN]]) {
    for (let i = 0; i < 16 && hasJump(exec, f, table, chain); i++) exec(f.iptables, ['-t', table, '-D', 'PREROUTING', '-j', chain]);
    try { exec(f.iptables, ['-t', table, '-F', chain]); } catch { /* no chain */ }
    try { exec(f.iptables, ['-t', table, '-X', chain]); } catch { /* no chain */ }
  }
  deleteRoutes(f, exec);
}

/** Removes every trace of a gateway run (ours or a crashed one's), both families; safe when nothing is there. */
export function removeRules(exec: Exec = run): void {
  removeFamily(V4, exec);
  removeFamily(V6, exec);
}
