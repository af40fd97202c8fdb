// The gateway's fast path (`--fast-path on`), IPv4 and IPv6 NAT and DR services.
// NAT: just
// the packets conntrack calls NEW are queued (`-m conntrack --ctstate NEW`);
// the core schedules each with IPVS semantics and, for a real server on the
// fast path (gwFastDest, set from FastPlan.fastDests), answers with the
// original packet and a mark naming it instead of its rewrite (a verdict held
// while rules changed is turned the same way when released: retarget). One nftables table of
// our own copies the mark into the conntrack mark and DNATs by it (a map
// mark → real server address . port kept equal to the configuration), so the
// kernel NATs the rest of the flow, and de-NATs the replies, without us.
// What the core no longer sees on the wire (every packet after the first of a
// flow, and the replies) it learns from conntrack (ctfeed.ts): TCP states,
// packet and byte counters, activity that re-arms its timers; a flow it
// expires loses its conntrack entry. A real server that leaves the map takes
// its flows' conntrack entries with it (goneMarks): their next packets meet
// the core, which drops them as IPVS does for a deleted real server.
// DR (every real server -g): untracked as on the userspace path (conntrack
// would call the flow INVALID once the replies bypass us); an nft flow map
// keeps each flow's DR mark for DR_FLOW_TIMEOUT after the core's verdict, so
// the kernel routes the flow's packets by the mark (the DR routes, with the
// local-table swap when the VIP is local) while FIN, RST and one packet per
// flow and period still meet the core. A DR real server leaving empties the
// flow maps. What the kernel routed by the flow maps is counted per DR mark
// (a set `drpk`, one counter per real server's mark, updated by the lookup
// rule on each hit) and fed to the core's statistics once a second (DrStats),
// so `-L --stats` counts every DR packet, the queued ones by the core itself.
// IPv6 is the same in a table `ip6 wasmvs_gw` of its own (ip6tables queues
// its new flows): the DNAT map is mark → ipv6_addr . inet_service; the DR flow
// map is keyed by two 32-bit hashes of the flow (nft 1.0.6 cannot build a
// dynamic map key longer than 16 bytes, an IPv6 flow's is 36), so two flows
// share an entry only if both hashes collide (about n²/2^65 for n flows).
import { layout as L } from '../../sdk/core/abi.gen.js';
import type { ServiceView } from './rules.js';
import type { AsyncExec, Exec } from './rules.js';
import { queuedKey6, loadConntrack, CT_SETTLED, CT_YOUNG, SETTLED_CT_TIMEOUT_S } from './ctfeed.js';
import { parseAddr } from '../../sdk/address.js';
import { packedSpan } from './records.js';

export const FAST_TABLE = 'wasmvs_gw';
/** Marks of the fast path: base + (dest id & GW_DR_SLOT_MASK); distinct from the DR marks (0x57a…). */
export const FAST_MARK_BASE = 0x57b00000;
export const FAST_MARK_MASK = 0xfff00000;
/**
 * Packet mark of a fast NAT VIP's packets conntrack calls INVALID (malformed,
 * out of window, no entry with tcp_loose off), set by the rule before their
 * queue rule (rules.ts). They are queued too, so the core drops and counts
 * the malformed ones and rewrites the rest as on the userspace path; neither
 * the core's fast marks (gwFastParams) nor retarget touch their verdicts (with
 * no conntrack entry the kernel cannot NAT them by a mark). Outside
 * FAST_MARK_MASK's and the DR marks' ranges.
 */
export const FAST_INVALID_MARK = 0x57c00000;
/**
 * DR flow map: a flow is remembered this long after the core's verdict (never
 * refreshed), then its next packet meets the core again, which re-arms its
 * connection (or drops the packet when the connection is gone, as IPVS does)
 * and marks it for another period: one packet per flow per period in
 * userspace keeps the core's timers and table true. At most DR_FLOW_MAX flows.
 */
export const DR_FLOW_TIMEOUT = 10;
export const DR_FLOW_MAX = 262144;
/** DR marks counted at most (one per real server slot in use; the set keeps marks of deleted ones). */
export const DR_COUNTER_MAX = 65536;
/** Between raw (-300, where DR packets are untracked) and mangle (-150, the queue); learning after mangle. */
const DR_LOOKUP_PRIORITY = -160;
const DR_LEARN_PRIORITY = -140;

const ip4 = (s: string) => s.split('.').reduce((a, b) => a * 256 + Number(b), 0);
/** The key of an IPv6 real server (address words, port) in FastPlan.targets6 and retarget. */
const key6 = (w: ArrayLike<number>, port: number) => `${w[0] >>> 0}:${w[1] >>> 0}:${w[2] >>> 0}:${w[3] >>> 0} ${port}`;
const hex = (n: number) => `0x${(n >>> 0).toString(16)}`;

export interface FastPlan {
  /** NAT services on the fast path (the rest stay on the userspace path). */
  services: Set<ServiceView>;
  /** DR services on the fast path: a flow map keeps each flow's DR mark (drScript). */
  drServices: Set<ServiceView>;
  /** Their real servers' DR marks ("address slot" → mark). */
  drTargets: Map<string, number>;
  /** DR mark → the real server's id (the flow-map hits counted under the mark are fed to it). */
  drDests: Map<number, number>;
  /** Real server address × 65536 + port → the mark naming it (IPv4). */
  targets: Map<number, number>;
  /** The same for IPv6 real servers, by key6(address words, port). */
  targets6: Map<string, number>;
  /** The ids of the fast services' real servers (the core marks the flows it opens to them, gwFastDest). */
  fastDests: Set<number>;
  /** The nft transaction that makes the table say exactly this. */
  script: string;
  /** What the script fills its maps and sets with, and its shape without them (fastDelta). */
  parts: FastParts;
}

/**
 * The element lists of a fast-path script (IPv4 and IPv6 DNAT maps, DR service sets) and its
 * `shape`: the script with each list cut to whether it is empty, so two scripts of the same
 * shape differ only in elements.
 */
export interface FastParts {
  shape: string;
  lists: Readonly<Record<FastList, readonly string[]>>;
}
type FastList = 'dests' | 'drsvc' | 'dests6' | 'drsvc6';

/** Same key as a NAT reply rule: protocol, real server address and port. */
const replyKey = (proto: string, addr: string, port: number) => `${proto} ${addr} ${port}`;

/**
 * Which services take the fast path: TCP or UDP services by address and a
 * port (IPv4; IPv6 too with `v6`), every real server NAT (`-m`) with a port,
 * of the service's family. A service with a DR or
 * TUN real server stays whole on the userspace path; so does one whose real
 * server (address, port) is also a NAT real server of a userspace service
 * (that service's replies are queued untracked, which would break the
 * fast flows' de-NAT by conntrack). `nat: false` (connection sync): no NAT
 * service goes fast.
 */
export function fastPlan(views: readonly ServiceView[], opts: { nat?: boolean; v6?: boolean; ctTimeout?: boolean; had?: DrChains } = {}): FastPlan {
  const family = (af: number) => af === 4 || (af === 6 && opts.v6 === true);
  const eligible = (v: ServiceView) => opts.nat !== false && family(v.service.af) && v.service.fwmark === 0 && v.service.address !== null && v.service.port !== 0 &&
    (v.service.protocol === 'tcp' || v.service.protocol === 'udp') && v.dests.every((d) => d.method === 'masq' && d.af === v.service.af && d.port !== 0);
  // Once per service (a change at 20,000 services runs this whole pass).
  const fast = views.map(eligible);
  const slowReplies = new Set<string>();
  views.forEach((v, i) => {
    if (fast[i]) return;
    const proto = v.service.protocol === 'udp' ? 'udp' : 'tcp';
    for (const d of v.dests) if (d.method === 'masq') slowReplies.add(replyKey(proto, d.address, d.port));
  });
  const services = new Set<ServiceView>();
  const targets = new Map<number, number>();
  const targets6 = new Map<string, number>();
  const fastDests = new Set<number>();
  const elements: string[] = [], elements6: string[] = [];
  for (let i = 0; i < views.length; i++) {
    const v = views[i];
    if (!fast[i] || (slowReplies.size && v.dests.some((d) => slowReplies.has(replyKey(v.service.protocol!, d.address, d.port))))) continue;
    services.add(v);
    for (const d of v.dests) {
      const mark = (FAST_MARK_BASE + (d.id & L.GW_DR_SLOT_MASK)) >>> 0;
      fastDests.add(d.id);
      if (d.af === 6) {
        const key = key6(parseAddr(d.address)!.w, d.port);
        if (!targets6.has(key)) targets6.set(key, mark);
        elements6.push(`${hex(mark)} : ${d.address} . ${d.port}`);
        continue;
      }
      const key = ip4(d.address) * 65536 + d.port;
      if (!targets.has(key)) targets.set(key, mark);
      elements.push(`${hex(mark)} : ${d.address} . ${d.port}`);
    }
  }
  const drServices = new Set<ServiceView>();
  const drTargets = new Map<string, number>();
  const drDests = new Map<number, number>();
  const drVips: string[] = [], drVips6: string[] = [];
  for (const v of views) {
    const s = v.service;
    if (!family(s.af) || s.fwmark !== 0 || s.address === null || s.port === 0 || (s.protocol !== 'tcp' && s.protocol !== 'udp') ||
      !v.dests.length || !v.dests.every((d) => d.method === 'route' && d.af === s.af)) continue;
    drServices.add(v);
    (s.af === 6 ? drVips6 : drVips).push(`${s.address} . ${s.protocol} . ${s.port}`);
    for (const d of v.dests) {
      const mark = (L.GW_DR_MARK_BASE + (d.id & L.GW_DR_SLOT_MASK)) >>> 0;
      drTargets.set(`${d.address} ${d.id & L.GW_DR_SLOT_MASK}`, mark);
      drDests.set(mark, d.id);
    }
  }
  const v6 = opts.v6 ? { elements: [...new Set(elements6)], drVips: drVips6 } : undefined;
  const dests = [...new Set(elements)];
  const ct = opts.ctTimeout === true;
  // The same script with every list reduced to one stand-in or none: its shape.
  const one = (l: readonly string[]) => (l.length ? ['-'] : []);
  const shape = nftScript(one(dests), one(drVips), v6 && { elements: one(v6.elements), drVips: one(v6.drVips) }, ct, opts.had);
  const parts: FastParts = { shape, lists: { dests, drsvc: drVips, dests6: v6?.elements ?? [], drsvc6: v6?.drVips ?? [] } };
  return { services, targets, targets6, fastDests, drServices, drTargets, drDests, script: nftScript(dests, drVips, v6, ct, opts.had), parts };
}

/**
 * The transaction that turns the table `was` made into what `next` says, by its elements alone:
 * null when the two differ in shape (then the whole script). At 20,000 services one real server
 * added changes one element of 40,000; the whole script makes nft parse and the kernel replace
 * them all (~0.3 s), this one element. A map element goes by its key (a mark whose real server
 * changed is deleted and added again in the same transaction).
 */
export function fastDelta(was: FastParts, next: FastParts): string | null {
  if (was.shape !== next.shape) return null;
  const out: string[] = [];
  const lists: ReadonlyArray<[FastList, string, boolean]> = [
    ['dests', `ip ${FAST_TABLE} dests`, true], ['drsvc', `ip ${FAST_TABLE} drsvc`, false],
    ['dests6', `ip6 ${FAST_TABLE} dests`, true], ['drsvc6', `ip6 ${FAST_TABLE} drsvc`, false],
  ];
  for (const [list, where, isMap] of lists) {
    const { gone, added } = listDiff(was.lists[list], next.lists[list]);
    if (gone.length) out.push(`delete element ${where} { ${gone.map((e) => (isMap ? e.slice(0, e.indexOf(' : ')) : e)).join(', ')} }`);
    if (added.length) out.push(`add element ${where} { ${added.join(', ')} }`);
  }
  return out.length ? out.join('\n') + '\n' : '';
}

/**
 * The elements of `a` not in `b` and of `b` not in `a`, for lists without repeats (plans list them
 * in the configuration's order, so a change leaves a common head and tail: only what lies between
 * is compared by set, not 40,000 elements twice per change).
 */
export function listDiff(a: readonly string[], b: readonly string[]): { gone: string[]; added: string[] } {
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let ea = a.length, eb = b.length;
  while (ea > head && eb > head && a[ea - 1] === b[eb - 1]) { ea--; eb--; }
  const midA = a.slice(head, ea), midB = b.slice(head, eb);
  const inA = new Set(midA), inB = new Set(midB);
  return { gone: midA.filter((e) => !inB.has(e)), added: midB.filter((e) => !inA.has(e)) };
}

/** IPv6 parts of the fast path's nft script. */
export interface FastV6 { elements: readonly string[]; drVips: readonly string[] }

/**
 * The IPv6 table: as the IPv4 one, but the DR flow map is keyed by two
 * seeded 32-bit hashes of the flow (see the header). The map's key is
 * declared `typeof meta cpu . meta cpu`: two 32-bit integers (nft has no
 * plain fixed-size integer type to name, and a hash's own typeof does not
 * list back).
 */
function nftScript6(v6: FastV6, ctTimeout: boolean, had: boolean): string[] {
  const t = `ip6 ${FAST_TABLE}`;
  if (!v6.elements.length && !v6.drVips.length) return [`add table ${t}`, `delete table ${t}`];
  // 40 bytes hashed (with the protocol too, 44, nft 1.0.6 runs out of registers): one map per protocol.
  const tuple = 'ip6 saddr . ip6 daddr . th sport . th dport';
  const flow = `jhash ${tuple} mod 4294967295 seed ${hex(DR6_SEEDS[0])} . jhash ${tuple} mod 4294967295 seed ${hex(DR6_SEEDS[1])}`;
  const svc = 'ip6 daddr . meta l4proto . th dport @drsvc';
  const drMark = `meta mark and ${hex(~L.GW_DR_SLOT_MASK)} == ${hex(L.GW_DR_MARK_BASE)}`;
  return [
    `add table ${t}`,
    `add map ${t} dests { type mark : ipv6_addr . inet_service ; }`,
    `add chain ${t} prerouting { type nat hook prerouting priority dstnat ; policy accept ; }`,
    `flush chain ${t} prerouting`,
    `flush map ${t} dests`,
    ...natRule(t, 'ip6', ctTimeout),
    ...(v6.elements.length ? [`add element ${t} dests { ${v6.elements.join(', ')} }`] : []),
    `add set ${t} drsvc { type ipv6_addr . inet_proto . inet_service ; }`,
    `add set ${t} drpk { type mark ; flags dynamic ; counter ; size ${DR_COUNTER_MAX} ; }`,
    ...['dr6tcp', 'dr6udp'].map((m) => `add map ${t} ${m} { typeof meta cpu . meta cpu : meta mark ; flags dynamic, timeout ; timeout ${DR_FLOW_TIMEOUT}s ; size ${DR_FLOW_MAX} ; }`),
    `add set ${t} dr6stale { typeof meta cpu . meta cpu ; flags dynamic, timeout ; timeout ${DR_FLOW_TIMEOUT}s ; size ${DR_FLOW_MAX} ; }`,
    `flush set ${t} drsvc`,
    // As in the IPv4 table: the two base chains only while a DR service is here (drChains).
    `add chain ${t} drflow`,
    `flush chain ${t} drflow`,
    ...drChains(t, v6.drVips.length > 0, had),
    ...(v6.drVips.length ? [
      `add element ${t} drsvc { ${v6.drVips.join(', ')} }`,
      `add rule ${t} drlookup ${svc} jump drflow`,
      ...drStaleRules(t, flow, 'dr6tcp', 'dr6stale'),
      `add rule ${t} drflow tcp flags & (fin | rst) == 0 meta mark set ${flow} map @dr6tcp update @drpk { meta mark }`,
      `add rule ${t} drflow meta l4proto udp meta mark set ${flow} map @dr6udp update @drpk { meta mark }`,
      `add rule ${t} drlearn ${drMark} ${svc} meta l4proto tcp tcp flags & syn == 0 add @dr6tcp { ${flow} : meta mark }`,
      `add rule ${t} drlearn ${drMark} ${svc} meta l4proto udp add @dr6udp { ${flow} : meta mark }`,
    ] : []),
  ];
}

/** The ct timeout policy of fast TCP flows (CT_TIMEOUT_POLICY, see natRule). */
export const CT_TIMEOUT_POLICY = 'wasmvs_tcp';

/**
 * The NAT chain's rule and what it needs, for table t (`ip` or `ip6`): the
 * first packet of a fast flow (its mark from our verdict) gives its mark to
 * the conntrack entry and is DNATed by the map, read with the young bits off
 * (CT_YOUNG: generation bits of the feed's, ctfeed.ts). With ctTimeout, a
 * TCP flow's entry also takes our ct timeout policy: TIME_WAIT and CLOSE last
 * SETTLED_CT_TIMEOUT_S instead of conntrack's 120 s and 10 s (the other
 * states keep the namespace's values, as the policy is made), so a short
 * connection's entry goes soon after its close without any update from the
 * feed. The object is created once and never changed (a policy in use cannot
 * be replaced); `delete table` at stop takes it.
 */
function natRule(t: string, family: 'ip' | 'ip6', ctTimeout: boolean): string[] {
  const l3 = family === 'ip' ? 'ip' : 'ip6';
  return [
    ...(ctTimeout ? [`add ct timeout ${t} ${CT_TIMEOUT_POLICY} { protocol tcp ; l3proto ${l3} ; policy = { time_wait : ${SETTLED_CT_TIMEOUT_S}, close : ${SETTLED_CT_TIMEOUT_S} } ; }`] : []),
    `add rule ${t} prerouting meta l4proto { tcp, udp } meta mark and ${hex(FAST_MARK_MASK & ~CT_YOUNG)} == ${hex(FAST_MARK_BASE)} ct mark set meta mark` +
      `${ctTimeout ? ` ct timeout set "${CT_TIMEOUT_POLICY}"` : ''} dnat ${family} to meta mark and ${hex(~CT_YOUNG)} map @dests`,
  ];
}

/** Seeds of the IPv6 DR flow map's two hashes (any two distinct values). */
const DR6_SEEDS = [0x57617376, 0x6d763631] as const;

/** Whether the DR base chains (drlookup, drlearn) exist now in the IPv4 and the IPv6 table. */
export interface DrChains { dr: boolean; dr6: boolean }
/** Not known: a script deletes the chains it does not need, creating them first if missing. */
export const DR_CHAINS_UNKNOWN: DrChains = { dr: true, dr6: true };

/**
 * The DR base chains an applied script left (none before the first: the gateway removes its tables
 * at start and at stop), for the next script's `had`.
 */
export function drChainsAfter(script: string | null): DrChains {
  if (script === null) return { dr: false, dr6: false };
  const left = (t: string) => script.includes(`add chain ${t} drlookup`) && !script.includes(`delete chain ${t} drlookup`);
  return { dr: left(`ip ${FAST_TABLE}`), dr6: left(`ip6 ${FAST_TABLE}`) };
}

/**
 * Every SYN meets the core, as every SYN meets IPVS: a SYN whose client
 * port the TCP flow map still remembers (a client that reuses its port
 * within DR_FLOW_TIMEOUT) may be scheduled afresh (conn_reuse_mode: the old
 * entry in TIME_WAIT or CLOSE, or with bit 2 in FIN_WAIT), and the map's
 * element cannot be deleted or rewritten from the packet path (nft 1.0.6).
 * So the SYN puts its flow in the stale set (`update`: its timeout restarts,
 * so it outlives the map's element, which is never refreshed) and a stale
 * flow's packets skip the map and are queued: the core routes them by its
 * entry until the old element has expired and the flow learnt its new mark.
 * The SYN itself is queued the same way. Costs a set lookup per DR TCP packet
 * and one per SYN; the packets of other services pay one lookup (`drsvc`,
 * the jump to these rules) in all.
 */
function drStaleRules(t: string, flow: string, map: string, stale: string): string[] {
  return [
    `add rule ${t} drflow tcp flags & (syn | ack) == syn ${flow} @${map} update @${stale} { ${flow} }`,
    `add rule ${t} drflow meta l4proto tcp ${flow} @${stale} return`,
  ];
}

/**
 * The DR base chains of table t: created and emptied when `want`; deleted only when they may exist
 * (`had`), otherwise not mentioned. Never created and deleted in the same transaction: a base chain
 * that goes unregisters its hook, and the kernel then drops every packet waiting in any NFQUEUE of the
 * namespace (nf_queue_nf_hook_drop), which would cost every client whose SYN was queued meanwhile a
 * retransmission (1 s) on each configuration change.
 */
function drChains(t: string, want: boolean, had: boolean): string[] {
  if (!want && !had) return [];
  // Made if missing: while wanted, to be emptied and filled; otherwise so that the deletion cannot fail.
  const add = [
    `add chain ${t} drlookup { type filter hook prerouting priority ${DR_LOOKUP_PRIORITY} ; policy accept ; }`,
    `add chain ${t} drlearn { type filter hook prerouting priority ${DR_LEARN_PRIORITY} ; policy accept ; }`,
  ];
  return want ? [...add, `flush chain ${t} drlookup`, `flush chain ${t} drlearn`] : [...add, `delete chain ${t} drlookup`, `delete chain ${t} drlearn`];
}

/**
 * One nft transaction (all or nothing): the table, its map and chain created
 * if missing, then chain and map emptied and filled again. The chain runs at
 * the NAT hook of PREROUTING (after mangle, where the verdict set the mark),
 * so it sees the first packet of each connection only.
 */
export function nftScript(elements: readonly string[], drVips: readonly string[] = [], v6?: FastV6, ctTimeout = false, had: DrChains = DR_CHAINS_UNKNOWN): string {
  const t = `ip ${FAST_TABLE}`;
  const flow = 'ip saddr . ip daddr . th sport . th dport';
  const svc = 'ip daddr . meta l4proto . th dport @drsvc';
  const drMark = `meta mark and ${hex(~L.GW_DR_SLOT_MASK)} == ${hex(L.GW_DR_MARK_BASE)}`;
  return [
    `add table ${t}`,
    `add map ${t} dests { type mark : ipv4_addr . inet_service ; }`,
    `add chain ${t} prerouting { type nat hook prerouting priority dstnat ; policy accept ; }`,
    `flush chain ${t} prerouting`,
    `flush map ${t} dests`,
    ...natRule(t, 'ip', ctTimeout),
    ...(elements.length ? [`add element ${t} dests { ${elements.join(', ')} }`] : []),
    // DR: no conntrack (the replies never come back here). A flow map (one per protocol: nft 1.0.6
    // cannot build a five-part dynamic key) remembers each flow's DR mark for DR_FLOW_TIMEOUT,
    // learnt after the queue (the verdict's mark) and looked up before it, so the flow's later
    // packets are routed by their mark without us; FIN and RST still go through the core (its TCP states).
    `add set ${t} drsvc { type ipv4_addr . inet_proto . inet_service ; }`,
    // Packets and bytes the flow maps routed, per DR mark (never flushed: DrStats feeds differences).
    `add set ${t} drpk { type mark ; flags dynamic ; counter ; size ${DR_COUNTER_MAX} ; }`,
    ...['drtcp', 'drudp'].map((m) => `add map ${t} ${m} { typeof ${flow} : meta mark ; flags dynamic, timeout ; timeout ${DR_FLOW_TIMEOUT}s ; size ${DR_FLOW_MAX} ; }`),
    `add set ${t} drstale { typeof ${flow} ; flags dynamic, timeout ; timeout ${DR_FLOW_TIMEOUT}s ; size ${DR_FLOW_MAX} ; }`,
    `flush set ${t} drsvc`,
    // The DR services' flow rules (drlookup jumps here for their packets only): a chain with no hook,
    // so it costs nothing while no rule jumps to it, and it is never deleted.
    `add chain ${t} drflow`,
    `flush chain ${t} drflow`,
    // Without a DR service the two chains go: even empty, a base chain costs every packet of the
    // namespace a hook, NAT flows' included. They are created and deleted only when that changes (drChains).
    ...drChains(t, drVips.length > 0, had.dr),
    ...(drVips.length ? [
      `add element ${t} drsvc { ${drVips.join(', ')} }`,
      `add rule ${t} drlookup ${svc} jump drflow`,
      ...drStaleRules(t, flow, 'drtcp', 'drstale'),
      `add rule ${t} drflow tcp flags & (fin | rst) == 0 meta mark set ${flow} map @drtcp update @drpk { meta mark }`,
      `add rule ${t} drflow meta l4proto udp meta mark set ${flow} map @drudp update @drpk { meta mark }`,
      // Not from a SYN: the handshake's ACK meets the core too, so its input-only TCP states go
      // SYN_RECV → ESTABLISHED (→ FIN_WAIT at the client's FIN) as IPVS's do, not SYN_RECV → TIME_WAIT.
      `add rule ${t} drlearn ${drMark} ${svc} meta l4proto tcp tcp flags & syn == 0 add @drtcp { ${flow} : meta mark }`,
      `add rule ${t} drlearn ${drMark} ${svc} meta l4proto udp add @drudp { ${flow} : meta mark }`,
    ] : []),
    // IPv6 (when it may take the fast path): its own table, present only while it has services.
    ...(v6 ? nftScript6(v6, ctTimeout, had.dr6) : []),
    '',
  ].join('\n');
}

/** `nft -j list set ip wasmvs_gw drpk` (or ip6) → DR mark → [packets, bytes] (an empty map when nothing was counted yet). */
export function parseDrCounters(json: string): Map<number, [number, number]> {
  const out = new Map<number, [number, number]>();
  const doc = JSON.parse(json) as { nftables?: Array<{ set?: { elem?: Array<{ elem?: { val?: unknown; counter?: { packets?: unknown; bytes?: unknown } } }> } }> };
  for (const item of doc.nftables ?? []) {
    for (const e of item.set?.elem ?? []) {
      const { val, counter } = e.elem ?? {};
      if (typeof val !== 'number' || typeof counter?.packets !== 'number' || typeof counter.bytes !== 'number') continue;
      out.set(val >>> 0, [counter.packets, counter.bytes]);
    }
  }
  return out;
}

/**
 * The DR flow maps' counters into the core's statistics: each read, the
 * packets and bytes since the last one go to the real server the mark names
 * (its service and the total follow), as IPVS counts every forwarded DR
 * packet. A counter below its last value (the element was re-created) counts
 * from zero.
 */
export class DrStats {
  private readonly last = new Map<number, [number, number]>();
  /** Packets fed so far. */
  fedPackets = 0;

  feed(counts: ReadonlyMap<number, [number, number]>, dests: ReadonlyMap<number, number>,
    statsFeed: (dest: number, conns: number, inPkts: number, inBytes: number, outPkts: number, outBytes: number) => number): number {
    let fed = 0;
    for (const [mark, [pkts, bytes]] of counts) {
      const [lp, lb] = this.last.get(mark) ?? [0, 0];
      const [dp, db] = pkts < lp || bytes < lb ? [pkts, bytes] : [pkts - lp, bytes - lb];
      this.last.set(mark, [pkts, bytes]);
      const dest = dests.get(mark);
      if (dest === undefined || dp === 0) continue;
      // statsFeed takes u32 counts: larger differences go in parts.
      for (let p = dp, b = db; p + b > 0;) {
        const a = Math.min(p, 0xffffffff), c = Math.min(b, 0xffffffff);
        if (statsFeed(dest, 0, a, c, 0, 0) < 0) break; // the real server is gone
        p -= a; b -= c;
        fed += a;
      }
    }
    this.fedPackets += fed;
    return fed;
  }

  reset(): void {
    this.last.clear();
  }
}

/** Marks whose map entry is gone or now names another real server (their conntrack entries must go). */
export function goneMarks<K>(before: ReadonlyMap<K, number>, after: ReadonlyMap<K, number>): number[] {
  const now = new Set([...after].map(([key, mark]) => `${mark} ${key}`));
  return [...new Set([...before].filter(([key, mark]) => !now.has(`${mark} ${key}`)).map(([, mark]) => mark))];
}

/** The DR flow maps forget all flows (a DR real server left): their next packets meet the core again. */
export function drFlushScript(v6 = false): string {
  return [
    ...['drtcp', 'drudp'].map((m) => `flush map ip ${FAST_TABLE} ${m}`), `flush set ip ${FAST_TABLE} drstale`,
    ...(v6 ? [...['dr6tcp', 'dr6udp'].map((m) => `flush map ip6 ${FAST_TABLE} ${m}`), `flush set ip6 ${FAST_TABLE} dr6stale`] : []),
  ].join('\n') + '\n';
}

/** Applies a script in one transaction. */
export async function applyFast(runner: AsyncExec, script: string): Promise<void> {
  await runner('nft', ['-f', '-'], script);
}

/** Why the fast path cannot run here (nft missing or refusing our table), or null. */
export async function fastUnavailable(runner: AsyncExec): Promise<string | null> {
  try {
    await runner('nft', ['-c', '-f', '-'], nftScript([]));
    return null;
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    return err.code === 'ENOENT' ? 'nft (the nftables package) is not installed' : `nft refuses the fast path's table: ${(err.stderr || err.message).trim()}`;
  }
}

/** Whether nft and the kernel take the ct timeout policy (nftScript's ctTimeout), for IPv4 and, with v6, IPv6 too. */
export async function ctTimeoutUsable(runner: AsyncExec, v6: boolean): Promise<boolean> {
  try {
    await runner('nft', ['-c', '-f', '-'], nftScript([], [], v6 ? { elements: [`${hex(FAST_MARK_BASE)} : 2001:2::1 . 1`], drVips: [] } : undefined, true));
    return true;
  } catch {
    return false;
  }
}

/**
 * Why IPv6 services cannot take the fast path while IPv4 ones can (ip6tables
 * missing, nft or the kernel refusing the IPv6 table: no IPv6 NAT), or null.
 */
export async function fastUnavailable6(runner: AsyncExec): Promise<string | null> {
  try {
    await runner('ip6tables', ['--version']);
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    return err.code === 'ENOENT' ? 'ip6tables is not installed' : `ip6tables fails: ${(err.stderr || err.message).trim()}`;
  }
  try {
    await runner('nft', ['-c', '-f', '-'], nftScript([], [], { elements: [`${hex(FAST_MARK_BASE)} : 2001:2::1 . 1`], drVips: ['2001:2::1 . tcp . 1'] }));
    return null;
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    return `nft refuses the fast path's IPv6 table: ${(err.stderr || err.message).trim()}`;
  }
}

/**
 * Removes our tables, IPv4 and IPv6 (ours or a crashed run's), and the
 * conntrack entries they made (their NAT would outlive the table); the
 * tables that were there, as `ip wasmvs_gw` / `ip6 wasmvs_gw` ([] when none).
 * Never throws (nft or the addon may be missing).
 */
export function removeFast(exec: Exec): string[] {
  let tables: string[];
  try {
    tables = exec('nft', ['list', 'tables']).split('\n').map((l) => l.trim().split(/\s+/))
      .filter((w) => w[0] === 'table' && (w[1] === 'ip' || w[1] === 'ip6') && w[2] === FAST_TABLE).map((w) => w[1]);
  } catch {
    return [];
  }
  if (!tables.length) return [];
  for (const family of tables) {
    try {
      exec('nft', ['delete', 'table', family, FAST_TABLE]);
    } catch { /* gone meanwhile */ }
  }
  flushFastConntrack();
  return tables.map((family) => `${family} ${FAST_TABLE}`);
}

/** Deletes every conntrack entry (IPv4 and IPv6) with a fast-path mark; false when ctnetlink is unavailable. */
export function flushFastConntrack(): boolean {
  try {
    const ct = new (loadConntrack())({});
    try {
      ct.flush(FAST_MARK_BASE, (FAST_MARK_MASK & ~CT_SETTLED & ~CT_YOUNG) >>> 0); // settled and young entries too (ctfeed.ts)
    } finally {
      ct.close();
    }
    return true;
  } catch {
    return false;
  }
}

/**
 * A few real servers (the usual case): their keys and marks in two arrays,
 * made once per targets map and searched in order, instead of a map lookup
 * by a heap-number key (address × 65536 + port) per queued packet.
 */
const SMALL_TARGETS = 8;
let smallOf: ReadonlyMap<number, number> | null = null;
let smallKeys = new Float64Array(0), smallMarks = new Uint32Array(0);
function targetMark(targets: ReadonlyMap<number, number>, key: number): number | undefined {
  if (targets.size > SMALL_TARGETS) return targets.get(key);
  if (smallOf !== targets) {
    smallKeys = Float64Array.from(targets.keys());
    smallMarks = Uint32Array.from(targets.values());
    smallOf = targets;
  }
  for (let i = 0; i < smallKeys.length; i++) if (smallKeys[i] === key) return smallMarks[i];
  return undefined;
}

/**
 * For verdicts held while rules changed (gateway.ts releaseHeld; the core
 * marks fast flows itself at gwBurst): each NAT verdict whose rewritten packet
 * goes to a fast real server becomes "accept the original packet with mark M" (the nft table
 * DNATs by it), unless its packet record carries FAST_INVALID_MARK (no
 * conntrack entry to NAT it: the core's rewrite goes out). `packets` is the
 * burst's records (`stride` apart, or packed), in verdict order. Returns how
 * many verdicts were turned.
 */
export function retarget(mem: DataView, list: number, packets: number, n: number, targets: ReadonlyMap<number, number>,
  feed?: { countQueued(proto: number, caddr: number, cport: number, raddr: number, rport: number, len: number): void; countQueued6(key: string, len: number): void; young?: number } | null,
  stride: number = L.GW_STRIDE_PACKED,
  targets6: ReadonlyMap<string, number> = new Map()): number {
  let turned = 0;
  // TCP flows' marks carry the feed's young generation (ctfeed.ts CT_YOUNG); UDP ones none.
  const young = feed?.young ?? 0;
  for (let i = 0, rec = 0; i < n; i++) {
    const at = packets + (stride === L.GW_STRIDE_PACKED ? rec : i * stride);
    if (stride === L.GW_STRIDE_PACKED) rec += packedSpan(mem.getUint32(at + L.GW_REC_LEN, true));
    const v = list + i * L.GW_VER_SIZE;
    if (!(mem.getUint32(v + L.GW_VER_FLAGS, true) & L.GW_VF_PAYLOAD)) continue;
    if (mem.getUint32(at + L.GW_REC_MARK, true) === FAST_INVALID_MARK) continue;
    const p = packets + mem.getUint32(v + L.GW_VER_OFF, true);
    const len = mem.getUint32(v + L.GW_VER_LEN, true);
    if (len < 24) continue;
    const version = mem.getUint8(p) >> 4;
    let mark: number | undefined;
    if (version === 6) {
      // IPv6: TCP or UDP right after the fixed header (a rewrite with extension headers keeps the core's packet).
      const proto = mem.getUint8(p + 6);
      if ((proto !== 6 && proto !== 17) || len < 44 || !targets6.size) continue;
      const w = (at: number) => [mem.getUint32(at), mem.getUint32(at + 4), mem.getUint32(at + 8), mem.getUint32(at + 12)];
      const dst = w(p + 24), dport = mem.getUint16(p + 42);
      mark = targets6.get(key6(dst, dport));
      if (mark === undefined) continue;
      if (proto === 6) mark = (mark | young) >>> 0;
      feed?.countQueued6(queuedKey6(proto, w(p + 8), mem.getUint16(p + 40), dst, dport), len);
    } else {
      if (version !== 4) continue;
      const ihl = (mem.getUint8(p) & 15) * 4;
      const proto = mem.getUint8(p + 9);
      if ((proto !== 6 && proto !== 17) || (mem.getUint16(p + 6) & 0x1fff) !== 0 || len < ihl + 4) continue;
      mark = targetMark(targets, mem.getUint32(p + 16) * 65536 + mem.getUint16(p + ihl + 2));
      if (mark === undefined) continue;
      if (proto === 6) mark = (mark | young) >>> 0;
      // The core counted this packet: the conntrack feed leaves it out of what it adds.
      feed?.countQueued(proto, mem.getUint32(p + 12), mem.getUint16(p + ihl), mem.getUint32(p + 16), mem.getUint16(p + ihl + 2), len);
    }
    mem.setUint32(v + L.GW_VER_FLAGS, L.GW_VF_MARK, true);
    mem.setUint32(v + L.GW_VER_MARK, mark, true);
    mem.setUint32(v + L.GW_VER_OFF, 0, true);
    mem.setUint32(v + L.GW_VER_LEN, 0, true);
    turned++;
  }
  return turned;
}
