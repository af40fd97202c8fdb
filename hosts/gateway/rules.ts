// The netfilter and policy-routing state the gateway owns, computed from the
// Director's services and applied atomically. Everything lives in dedicated
// chains and in ip rules recognisable by content (routes.ts), so a run can
// find and remove what a crashed run left behind without touching anyone
// else's:
//   - mangle WASMVS-GW, from PREROUTING: requests to the VIPs, queued before
//     routing so the rewritten packet (NAT's RIP, TUN's outer header, DR's
//     mark) is what the kernel routes;
//   - mangle WASMVS-GW-FWD, from FORWARD: NAT replies, queued after routing
//     as IPVS does. Their new source is the VIP, a local address on an
//     IPVS-style director: rewritten before routing they would be martians
//     (or fail rp_filter); after it, the route (to the client) is decided
//     and nothing checks the source again;
//   - raw WASMVS-GW-RAW, from PREROUTING: both, untracked;
//   - raw WASMVS-GW-DEFRAG, jumped to from nowhere: one `-m socket` rule,
//     whose presence turns on the kernel's defragmentation (nf_defrag, at
//     PREROUTING priority -400, before raw) in the namespace and nothing
//     else, so the queue sees reassembled datagrams, as IPVS does; the
//     kernel fragments them again on output (or answers frag-needed).
// Start and stop clean up synchronously (removeRules). Configuration changes
// go through RuleSync: asynchronous, and a diff against what it installed, so
// a change costs one iptables-restore per family whose chains changed and one
// `ip -batch` for the DR routes, never a process per rule.
import { execFile, execFileSync } from 'node:child_process';
import { layout as L } from '../../sdk/core/abi.gen.js';
import type { ServiceConfig, DestConfig } from '../../sdk/types.js';
import { FAST_INVALID_MARK } from './fastpath.js';
import { deleteRoutes, syncRoutes, RouteState, RULE_PREF, DR_MARK_SELECTOR, type DrRoute } from './routes.js';

/** A service and its destinations as the rules need them (Director.configuration(); no counters). */
export interface ServiceView { service: Omit<ServiceConfig, 'dests'>; dests: readonly DestConfig[] }

export const CHAIN = 'WASMVS-GW';
export const FWD_CHAIN = 'WASMVS-GW-FWD';
export const RAW_CHAIN = 'WASMVS-GW-RAW';
export const DEFRAG_CHAIN = 'WASMVS-GW-DEFRAG';
export { RULE_PREF };

export interface QueueSpec { first: number; last: number; failOpen: boolean }

/** A run of commands; the default runs them (tests may record instead). */
export type Exec = (cmd: string, args: string[], input?: string) => string;
export const run: Exec = (cmd, args, input) =>
  execFileSync(cmd, args, { encoding: 'utf8', input, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });

/** The same, not waiting: what configuration changes use, so packets keep flowing meanwhile. */
export type AsyncExec = (cmd: string, args: string[], input?: string) => Promise<string>;
export const runAsync: AsyncExec = (cmd, args, input) => new Promise((resolve, reject) => {
  const child = execFile(cmd, args, { encoding: 'utf8', maxBuffer: 256 << 20 }, (err, stdout, stderr) => {
    if (err) reject(Object.assign(err, { stdout, stderr }));
    else resolve(stdout);
  });
  child.stdin?.end(input);
});
/** A synchronous runner seen as an asynchronous one (tests that record calls). */
export const deferred = (exec: Exec): AsyncExec => async (cmd, args, input) => exec(cmd, args, input);

/** The chains' content and DR routes of one address family. */
/**
 * An ipset the rules match against: a family's VIPs (or real servers) of
 * one shape once there are more than SET_MIN blocks of them, so a packet
 * costs one hash lookup however many services there are, as in IPVS
 * (kube-proxy's IPVS mode does the same). `hash:ip,port` entries are
 * `ADDRESS,PROTO:PORT`; `hash:ip` ones an address (a shape with a protocol
 * but no port: ICMP, port-0 services).
 */
export interface IpSet { name: string; type: 'hash:ip,port' | 'hash:ip'; entries: string[] }

/** Above this many blocks a group is matched through an ipset rather than a rule per block. */
export const SET_MIN = 16;
/** Our ipsets are named `wasmvs-gw4-…` / `wasmvs-gw6-…` (at most 31 characters). */
export const SET_PREFIX = 'wasmvs-gw';

export interface FamilyRules {
  /** WASMVS-GW (PREROUTING): requests. */
  mangle: string[];
  /** WASMVS-GW-FWD (FORWARD): NAT replies. */
  forward: string[];
  raw: string[];
  /** DR: verdict mark → real server next hop. */
  routes: DrRoute[];
  /** The ipsets the rules name (created before the rules are written, destroyed after they are gone). */
  sets: IpSet[];
  /** The most rules one group takes where it could not use an ipset (sets off); 0 with sets. */
  linear: number;
}

export interface RuleSet extends FamilyRules {
  /** IPv6 services (ip6tables rules per address, ICMPv6 errors included). */
  v6: FamilyRules;
  /** Some dest tunnels: the host needs accept_local and a tunnel source. */
  tunnels: string[];
}

interface Family { iptables: string; restore: string; ip: string[]; inet: 'inet' | 'inet6'; sets: string }
const V4: Family = { iptables: 'iptables', restore: 'iptables-restore', ip: [], inet: 'inet', sets: `${SET_PREFIX}4-` };
const V6: Family = { iptables: 'ip6tables', restore: 'ip6tables-restore', ip: ['-6'], inet: 'inet6', sets: `${SET_PREFIX}6-` };

/** Room for a million entries a set (the kernel allocates as they come). */
const SET_MAXELEM = 1 << 20;

function queueTarget(q: QueueSpec): string {
  const t = q.first === q.last ? `--queue-num ${q.first}` : `--queue-balance ${q.first}:${q.last}`;
  // --queue-bypass: with no consumer bound the kernel accepts instead of dropping.
  return `-j NFQUEUE ${t}${q.failOpen ? ' --queue-bypass' : ''}`;
}

const hex = (n: number) => `0x${(n >>> 0).toString(16)}`;
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

/** A key's protocol match: "proto port" → `-p proto [--Xport port]`, ICMPv6 by type. */
function portMatch(dir: 'd' | 's', key: string): string {
  const [proto, port] = key.split(' ');
  if (proto === 'icmpv6') return `-p icmpv6 --icmpv6-type ${port}`;
  return `-p ${proto}${port !== '0' ? ` --${dir}port ${port}` : ''}`;
}

/**
 * Groups addresses under a match key ("proto port"), then gives the matches
 * that select them: one per CIDR block of each key, or, with ipsets allowed
 * and more than SET_MIN blocks, one per set (every TCP/UDP port in one
 * `hash:ip,port` set, each other key in a `hash:ip` set of its own).
 */
class Groups {
  private readonly m = new Map<string, Set<string>>();
  constructor(private readonly name: string, private readonly dir: 'd' | 's', private readonly v6: boolean) {}
  add(key: string, address: string): void {
    let g = this.m.get(key);
    if (!g) this.m.set(key, (g = new Set()));
    g.add(address);
  }
  private blocks(a: Iterable<string>): string[] {
    return this.v6 ? [...new Set(a)].map((x) => `${x}/128`) : cidrs(a);
  }
  /** The matches; `sets` collects the ipsets they name, `stats.linear` the rules taken without them. */
  matches(useSets: boolean, sets: IpSet[], stats: { linear: number }): string[] {
    const perBlock: string[] = [];
    for (const [k, addrs] of this.m) for (const c of this.blocks(addrs)) perBlock.push(`-${this.dir} ${c} ${portMatch(this.dir, k)}`);
    if (perBlock.length <= SET_MIN) return perBlock;
    if (!useSets) { stats.linear = Math.max(stats.linear, perBlock.length); return perBlock; }
    const base = `${SET_PREFIX}${this.v6 ? 6 : 4}-${this.name}`;
    const flag = this.dir === 'd' ? 'dst' : 'src';
    const out: string[] = [];
    const ported: string[] = [];
    for (const [k, addrs] of this.m) {
      const [proto, port] = k.split(' ');
      if ((proto === 'tcp' || proto === 'udp') && port !== '0') {
        for (const a of addrs) ported.push(`${a},${proto}:${port}`);
        continue;
      }
      const name = `${base}-${proto}-${port}`;
      sets.push({ name, type: 'hash:ip', entries: [...addrs] });
      out.push(`${portMatch(this.dir, k)} -m set --match-set ${name} ${flag}`);
    }
    if (ported.length) {
      sets.push({ name: base, type: 'hash:ip,port', entries: ported });
      out.unshift(`-m set --match-set ${base} ${flag},${flag}`);
    }
    return out;
  }
}

/** Per family: the services' match groups, then the rules. */
class Collect {
  readonly vips: Groups;
  readonly replies: Groups;
  /** Fast-path VIPs (fastpath.ts): only conntrack's NEW packets are queued, and tracked. */
  readonly fresh: Groups;
  /** Fast-path DR VIPs: only packets without a DR mark (none from the flow map) are queued; untracked as DR always is. */
  readonly unmarked: Groups;
  readonly marks = new Set<number>();
  readonly out: FamilyRules = { mangle: [], forward: [], raw: [], routes: [], sets: [], linear: 0 };
  constructor(readonly v6: boolean) {
    this.vips = new Groups('vips', 'd', v6); // key "proto port": -d BLOCK -p proto [--dport port]
    this.replies = new Groups('replies', 's', v6); // key "proto port": -s BLOCK -p proto [--sport port]
    this.fresh = new Groups('fresh', 'd', v6);
    this.unmarked = new Groups('unmarked', 'd', v6);
  }

  finish(q: QueueSpec, useSets: boolean): FamilyRules {
    const { sets } = this.out;
    const requests = [
      ...this.vips.matches(useSets, sets, this.out),
      ...[...this.marks].map((m) => `-m mark --mark ${m}`),
    ];
    const replies = this.replies.matches(useSets, sets, this.out);
    // Fast NAT VIPs: conntrack's NEW packets, and its INVALID ones (malformed, out of window) with
    // FAST_INVALID_MARK first, so the core still gives them IPVS's verdict and counters (fastpath.ts).
    const freshMatches = this.fresh.matches(useSets, sets, this.out);
    const fresh = freshMatches.map((m) => `${m} -m conntrack --ctstate NEW,INVALID`);
    const invalid = freshMatches.map((m) => `-A ${CHAIN} ${m} -m conntrack --ctstate INVALID -j MARK --set-xmark ${hex(FAST_INVALID_MARK)}/0xffffffff`);
    const drFast = this.unmarked.matches(useSets, sets, this.out);
    const unmarked = `-m mark ! --mark ${DR_MARK_SELECTOR}`;
    // Every packet a rule here queues is untracked (the raw rules below) or one conntrack calls NEW or INVALID
    // (fast NAT VIPs), so a tracked packet of an open flow (the fast path's every packet after the first, both
    // ways) leaves the chain at its first rule instead of meeting each VIP's. Not with a fwmark service: a mark
    // an operator sets after raw leaves its packets tracked, and they must still reach the queue.
    if (fresh.length && !this.marks.size) this.out.mangle.push(`-A ${CHAIN} -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN`);
    for (const m of requests) this.out.mangle.push(`-A ${CHAIN} ${m} ${queueTarget(q)}`);
    this.out.mangle.push(...invalid);
    for (const m of fresh) this.out.mangle.push(`-A ${CHAIN} ${m} ${queueTarget(q)}`);
    for (const m of drFast) this.out.mangle.push(`-A ${CHAIN} ${m} ${unmarked} ${queueTarget(q)}`);
    for (const m of replies) this.out.forward.push(`-A ${FWD_CHAIN} ${m} ${queueTarget(q)}`);
    for (const m of [...requests, ...drFast, ...replies]) this.out.raw.push(`-A ${RAW_CHAIN} ${m} -j CT --notrack`);
    // Never evaluated (no jump leads here): loading the socket match enables nf_defrag (xt_socket).
    if (requests.length + replies.length + fresh.length + drFast.length) this.out.raw.push(`-A ${DEFRAG_CHAIN} -m socket -j RETURN`);
    return this.out;
  }
}

/**
 * The ICMP errors a connection may cause, queued by address: all ICMP for
 * IPv4 (the core passes what is not an error); for IPv6 only the error
 * types (destination unreachable, packet too big, time exceeded, parameter
 * problem), so neighbour discovery never meets the queue.
 */
const ICMPV6_ERRORS = [1, 2, 3, 4];
function icmpErrors(g: Groups, address: string, v6: boolean): void {
  if (!v6) g.add('icmp 0', address);
  else for (const t of ICMPV6_ERRORS) g.add(`icmpv6 ${t}`, address);
}

/**
 * The rules for the current configuration, IPv4 and IPv6; `fast`: NAT services
 * on the fast path, `drFast`: DR services on it (fastpath.ts); `sets`: large
 * groups are matched through ipsets (the gateway found the ipset tool).
 */
export function ruleSet(services: readonly ServiceView[], q: QueueSpec, fast: ReadonlySet<ServiceView> = new Set(),
  drFast: ReadonlySet<ServiceView> = new Set(), opts: { sets?: boolean } = {}): RuleSet {
  const fam = { 4: new Collect(false), 6: new Collect(true) };
  const tunnels: string[] = [];
  for (const view of services) {
    const { service: s, dests } = view;
    const c = fam[s.af];
    const proto = s.protocol === 'udp' ? 'udp' : 'tcp';
    if (s.fwmark !== 0) c.marks.add(s.fwmark);
    else if (fast.has(view)) {
      // Replies and ICMP errors are conntrack's (de-NAT, RELATED); nothing of the real servers is queued.
      c.fresh.add(`${proto} ${s.port}`, s.address!);
      continue;
    } else if (drFast.has(view)) {
      // Packets the flow map marked go by their DR route; the rest (first packets, FIN, RST) are queued.
      c.unmarked.add(`${proto} ${s.port}`, s.address!);
      icmpErrors(c.vips, s.address!, c.v6);
    } else if (s.address !== null && (s.protocol === 'tcp' || s.protocol === 'udp')) {
      c.vips.add(`${proto} ${s.port}`, s.address);
      // ICMP errors about the service's connections (§2.9) come to the VIP too.
      icmpErrors(c.vips, s.address, c.v6);
    } else continue;
    // A firewall-mark service carries TCP and UDP alike (the mark picks the service, not the protocol): replies of both.
    const replyProtos = s.fwmark !== 0 ? ['tcp', 'udp'] : [proto];
    for (const d of dests) {
      const dc = fam[d.af];
      if (d.method === 'masq') {
        for (const p of replyProtos) dc.replies.add(`${p} ${d.port}`, d.address);
        icmpErrors(dc.replies, d.address, dc.v6);
      } else if (d.method === 'route') {
        dc.out.routes.push({ mark: (L.GW_DR_MARK_BASE + (d.id & L.GW_DR_SLOT_MASK)) >>> 0, via: d.address });
      } else if (d.method === 'tunnel' && d.af === 4) tunnels.push(d.address);
    }
  }
  const sets = opts.sets ?? false;
  return { ...fam[4].finish(q, sets), v6: fam[6].finish(q, sets), tunnels };
}

/** iptables-restore input replacing our chains of one table (--noflush keeps everyone else's). */
function restoreText(table: string, chains: readonly string[], rules: readonly string[]): string {
  return `*${table}\n${chains.map((c) => `:${c} - [0:0]\n`).join('')}${rules.join('\n')}${rules.length ? '\n' : ''}COMMIT\n`;
}

/** Our chains and the built-in chain that jumps to each (first rule). */
const JUMPS: ReadonlyArray<readonly [table: string, hook: string, chain: string]> = [
  ['raw', 'PREROUTING', RAW_CHAIN],
  ['mangle', 'PREROUTING', CHAIN],
  ['mangle', 'FORWARD', FWD_CHAIN],
];

function hasJump(exec: Exec, f: Family, table: string, hook: string, chain: string): boolean {
  try {
    exec(f.iptables, ['-t', table, '-C', hook, '-j', chain]);
    return true;
  } catch {
    return false;
  }
}

function removeFamily(f: Family, exec: Exec): void {
  for (const [table, hook, chain] of JUMPS) {
    for (let i = 0; i < 16 && hasJump(exec, f, table, hook, chain); i++) exec(f.iptables, ['-t', table, '-D', hook, '-j', chain]);
    try { exec(f.iptables, ['-t', table, '-F', chain]); } catch { /* no chain */ }
    try { exec(f.iptables, ['-t', table, '-X', chain]); } catch { /* no chain */ }
  }
  try { exec(f.iptables, ['-t', 'raw', '-F', DEFRAG_CHAIN]); } catch { /* no chain */ }
  try { exec(f.iptables, ['-t', 'raw', '-X', DEFRAG_CHAIN]); } catch { /* no chain */ }
  // The sets once no rule names them (the kernel refuses to destroy a set in use).
  let names: string[] = [];
  try { names = exec('ipset', ['list', '-n']).split('\n').filter((n) => n.startsWith(f.sets)); } catch { /* no ipset tool: none of ours */ }
  if (names.length) {
    try { exec('ipset', ['restore'], names.map((n) => `destroy ${n}\n`).join('')); } catch { /* one at a time below */
      for (const n of names) try { exec('ipset', ['destroy', n]); } catch { /* gone or in use */ }
    }
  }
  deleteRoutes(f.ip, exec);
}

/** The iptables-nft tables our rules can make, as `nft list tables` names them. */
export const BASE_TABLES = ['ip raw', 'ip mangle', 'ip6 raw', 'ip6 mangle'] as const;

/** Which of BASE_TABLES exist now; null when nft cannot list tables (not installed): nothing to record then. */
export function baseTablesPresent(exec: Exec = run): Set<string> | null {
  let out: string;
  try { out = exec('nft', ['list', 'tables']); } catch { return null; }
  const listed = new Set(out.split('\n').map((l) => l.trim().split(/\s+/).slice(1).join(' ')));
  return new Set(BASE_TABLES.filter((t) => listed.has(t)));
}

/**
 * Deletes each of `made` (tables of BASE_TABLES that did not exist before a
 * gateway started) that holds nothing but empty built-in chains: after our
 * chains and jumps are gone, iptables-nft keeps a table's built-in chains,
 * empty but still hooked, and every packet of the namespace would pay their
 * hooks. A table holding anything else (someone's rule, chain or set) stays.
 * Returns the tables deleted.
 */
export function removeMadeTables(made: Iterable<string>, exec: Exec = run): string[] {
  const gone: string[] = [];
  for (const t of made) {
    if (!(BASE_TABLES as readonly string[]).includes(t)) continue;
    const [family, name] = t.split(' ');
    let items: Array<Record<string, { hook?: unknown }>>;
    try {
      items = (JSON.parse(exec('nft', ['-j', 'list', 'table', family, name])) as { nftables?: Array<Record<string, { hook?: unknown }>> }).nftables ?? [];
    } catch {
      continue; // not there (or nft gone)
    }
    if (items.some((i) => !('metainfo' in i) && !('table' in i) && !('chain' in i && i.chain.hook !== undefined))) continue;
    try {
      exec('nft', ['delete', 'table', family, name]);
      gone.push(t);
    } catch { /* in use meanwhile */ }
  }
  return gone;
}

/** Whether the ipset tool runs (the kernel's sets are asked for only when a configuration needs them). */
export function ipsetAvailable(exec: Exec = run): boolean {
  try {
    exec('ipset', ['version']);
    return true;
  } catch {
    return false;
  }
}

/** What one family has installed since the last cleanup. */
class FamilyState {
  /** The restore text of each table as last written; absent: never written. */
  tables = new Map<string, string>();
  /**
   * Our chains with a jump from their built-in chain. A chain gets its jump
   * once it first has a rule: an empty chain's jump would cost every packet
   * of the namespace a hook and a rule (iptables-nft registers a built-in
   * chain only once a rule is in it), which is all the fast path's NAT
   * flows would pay otherwise (their raw and FORWARD chains stay empty).
   */
  jumped = new Set<string>();
  routes = new RouteState();
  /** The kernel refused the socket match (no xt_socket): the defragmentation rule is left out. */
  noDefrag = false;
  /** Our ipsets as last written: name → entries; absent: not ours or not known (rewritten whole). */
  sets = new Map<string, { type: string; entries: Set<string> }>();
}

/**
 * `ipset restore` input that makes the kernel's sets what `want` says, by
 * difference against what was written (entries added and deleted; a set not
 * known is created if missing, flushed and filled). Returns '' when nothing changes.
 */
function setsText(f: Family, st: FamilyState, want: readonly IpSet[]): string {
  let out = '';
  for (const w of want) {
    const had = st.sets.get(w.name);
    if (!had || had.type !== w.type) {
      if (had) out += `destroy ${w.name}\n`; // a shape's type never changes under one name; defensive
      out += `create ${w.name} ${w.type} family ${f.inet} maxelem ${SET_MAXELEM} -exist\nflush ${w.name}\n`;
      for (const e of w.entries) out += `add ${w.name} ${e} -exist\n`;
      continue;
    }
    const now = new Set(w.entries);
    for (const e of had.entries) if (!now.has(e)) out += `del ${w.name} ${e} -exist\n`;
    for (const e of now) if (!had.entries.has(e)) out += `add ${w.name} ${e} -exist\n`;
  }
  return out;
}

/**
 * Keeps the installed rules equal to the wanted ones by diff: a table is
 * rewritten (atomically, our chains only) when its text changed, in one
 * iptables-restore per family with the jumps inserted on first use; DR
 * routes change by `ip -batch` (routes.ts). Starts from a clean slate
 * (removeRules) and must be reset after every removeRules. Calls must not
 * overlap (the gateway serialises them).
 */
export class RuleSync {
  private fam = { 4: new FamilyState(), 6: new FamilyState() };
  constructor(readonly runner: AsyncExec = runAsync) {}

  reset(): void {
    this.fam = { 4: new FamilyState(), 6: new FamilyState() };
  }

  /** Applies `rs`; returns the DR routes that could not be installed, as messages (retried on the next apply). */
  async apply(rs: RuleSet): Promise<string[]> {
    const errors = await this.family(V4, this.fam[4], rs);
    const v6 = this.fam[6];
    // IPv6 is touched only once some IPv6 service needs it (ip6tables may be missing otherwise);
    // after that its chains are emptied, not removed, until stop.
    if (rs.v6.mangle.length || rs.v6.forward.length || rs.v6.routes.length || v6.tables.size || v6.routes.size || v6.sets.size) {
      errors.push(...await this.family(V6, v6, rs.v6));
    }
    return errors;
  }

  private async family(f: Family, st: FamilyState, rs: FamilyRules): Promise<string[]> {
    const isDefrag = (r: string) => r.startsWith(`-A ${DEFRAG_CHAIN} `);
    const raw = st.noDefrag ? rs.raw.filter((r) => !isDefrag(r)) : rs.raw;
    const want = new Map([['raw', restoreText('raw', [RAW_CHAIN, DEFRAG_CHAIN], raw)],
      ['mangle', restoreText('mangle', [CHAIN, FWD_CHAIN], [...rs.mangle, ...rs.forward])]]);
    // Sets before the rules that name them; sets no longer named after the rules that named them are gone.
    const sets = setsText(f, st, rs.sets);
    if (sets) {
      try {
        await this.runner('ipset', ['restore'], sets);
      } catch (e) {
        for (const w of rs.sets) st.sets.delete(w.name); // unknown now: written whole next time
        throw new Error(`ipset restore: ${((e as { stderr?: string }).stderr || (e as Error).message).trim()}`);
      }
      for (const w of rs.sets) st.sets.set(w.name, { type: w.type, entries: new Set(w.entries) });
    }
    const used = (chain: string) => (chain === RAW_CHAIN ? raw : chain === CHAIN ? rs.mangle : rs.forward).some((r) => r.startsWith(`-A ${chain} `));
    let input = '';
    const jumped: string[] = [];
    for (const [table, text] of want) {
      const jumps = JUMPS.filter(([t, , chain]) => t === table && !st.jumped.has(chain) && used(chain));
      if (st.tables.get(table) === text && !jumps.length) continue;
      jumped.push(...jumps.map(([, , chain]) => chain));
      const lines = jumps.map(([, hook, chain]) => `-I ${hook} 1 -j ${chain}`);
      input += lines.length ? text.replace(/COMMIT\n$/, `${lines.join('\n')}\nCOMMIT\n`) : text;
    }
    if (input) {
      // One process for both tables (one transaction with iptables-nft; legacy commits per table).
      // On failure nothing is recorded, so the next change writes both again; a jump doubled by
      // a half-applied legacy restore is harmless (the chain is the same) and removed at stop.
      try {
        await this.runner(f.restore, ['--noflush'], input);
      } catch (e) {
        if (!raw.some(isDefrag)) throw e;
        // A kernel without the socket match (xt_socket) refuses the whole restore: the rest without it.
        st.noDefrag = true;
        const errors = await this.family(f, st, rs);
        return [`${f.restore}: cannot load the socket match that turns on defragmentation (${(e as Error).message.trim()}); ` +
          'fragmented datagrams to the services are not reassembled, so they are dropped', ...errors];
      }
      for (const [table, text] of want) st.tables.set(table, text);
      for (const chain of jumped) st.jumped.add(chain);
    }
    const stale = [...st.sets.keys()].filter((n) => !rs.sets.some((w) => w.name === n));
    if (stale.length) {
      for (const n of stale) st.sets.delete(n);
      // Unused now; a failure leaves an empty-ish set that stop (removeRules) destroys.
      try { await this.runner('ipset', ['restore'], stale.map((n) => `destroy ${n}\n`).join('')); } catch { /* left for stop */ }
    }
    return syncRoutes(f.ip, st.routes, rs.routes, this.runner);
  }
}

/** Removes every trace of a gateway run (ours or a crashed one's), both families; safe when nothing is there. */
export function removeRules(exec: Exec = run): void {
  removeFamily(V4, exec);
  removeFamily(V6, exec);
}
