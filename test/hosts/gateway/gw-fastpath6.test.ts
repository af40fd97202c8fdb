// `wasmvsd gateway --fast-path on` (fastpath.ts) for IPv6 services, in real
// namespaces (2001:2::/48, gw-topo6.ts, two real server addresses): NAT with
// the VIP local on the director and only routed to it, then DR likewise.
// TCP connections of several segments each way go through byte for byte,
// scheduled round-robin by the core, while the gateway's counters show that
// only the first packet of each flow crossed userspace (ip6tables queues
// conntrack's NEW packets, the ip6 nft table NATs by the verdict's mark or
// routes DR flows by their flow map); the core learns the flows' states and
// counters from conntrack (IPv6 records): `-L -c` reaches TIME_WAIT and
// `-L --stats` equals what the director's kernel forwarded (counted by a
// table of the test's own; NAT: less duplicate SYNs conntrack dropped after
// that count, when the machine was slow enough to cause any). Weight 0 leaves an established flow alone,
// deletion drops it (expire_nodest_conn=0) or expires it at once and resets
// it (expire_nodest_conn=1, after a --drain that let it go on). Nothing of
// ours is left after a clean stop, after SIGKILL + restart or SIGKILL +
// `wasmvsd gateway --cleanup`. Without
// ip6tables the gateway says IPv6 cannot have the fast path and keeps it for IPv4.
import { afterEach, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { inCI } from './prereq.js';
import { inNs, killChildren, sh, waitLine } from './netns.js';
import { capture } from './gw-topo.js';
import { Talk, ctStat, reuseClient, served, until } from './gw-talk.js';
import { Topo6, VIP6, RS6, CLIENT6, exchange6, udpExchange6 } from './gw-topo6.js';
import { missingGatewayPrereq, startGateway, startGatewayEnv, stopGateway, adm, summary, type Daemon } from './gw-daemon.js';
import { loadNativeAddon } from '../../../native/addon.js';
import { FAST_MARK_BASE, FAST_MARK_MASK } from '../../../hosts/gateway/fastpath.js';
import { CT, CT_SETTLED, CT_YOUNG, SETTLED_CT_TIMEOUT_S } from '../../../hosts/gateway/ctfeed.js';
import { WASMVSD } from '../../daemon/daemon.js';

const why = missingGatewayPrereq('nft', 'ip6tables');
if (why && !inCI) console.warn(`\n*** SKIPPING wasmvsd gateway IPv6 fast path: ${why} ***\n`);
const suite = describe.skipIf(why !== null && !inCI);
const PORT = 8080, UDP_PORT = 5353, QUEUE = 440 + (process.pid % 200), CONNS = 12, SIZE = 20_000;
/** The second real server: another address of the server namespace, on the director's side. */
const RS6B = '2001:2:0:41::3';
const RSS = [RS6, RS6B];
const TALK = fileURLToPath(new URL('./gw-fastpath-peer.mjs', import.meta.url));
const LOAD_PEER = fileURLToPath(new URL('./gw-load-peer.mjs', import.meta.url));

let topos = 0;
function fresh(mode: 'nat' | 'dr', vip: 'local' | 'routed'): Topo6 {
  const topo = new Topo6(`g6f${process.pid % 10000}x${topos++}`);
  topo.setup6(mode, { vip });
  topo.in('server', 'ip', '-6', 'addr', 'add', `${RS6B}/64`, 'dev', topo.dev.server, 'nodad');
  return topo;
}

/** Our IPv6 nftables table in the director ('' when there is none). */
function nftTable6(topo: Topo6): string {
  const all = topo.in('director', 'nft', 'list', 'ruleset');
  const at = all.indexOf('table ip6 wasmvs_gw {');
  return at < 0 ? '' : all.slice(at, all.indexOf('\n}', at) + 2);
}
/** Every table of ours (either family) and every IPv6 rule and route of ours: '' and '' once gone. */
function leftovers(topo: Topo6) {
  const { iptables } = topo.ownedState();
  const { ip6tables, rules } = topo.ownedState6();
  return { iptables, ip6tables, rules };
}

const CT_ANY_MASK = (FAST_MARK_MASK & ~CT_SETTLED & ~CT_YOUNG) >>> 0;
/** The director's IPv6 conntrack entries with a fast-path mark (settled or not), optionally from one client port. */
function ct6(topo: Topo6, port = 0, mask = CT_ANY_MASK): number {
  const js = 'const [p, mark, mask, size, fam, sport, want] = process.argv.slice(1); const a = require(p); const c = new a.Conntrack({}); ' +
    'const b = c.dump(Number(mark), Number(mask)); const v = new DataView(b.buffer, b.byteOffset, b.byteLength); let n = 0; ' +
    'for (let o = 0; o < b.length; o += Number(size)) if (v.getUint8(o + Number(fam)) === 6 && (Number(want) === 0 || v.getUint16(o + Number(sport), true) === Number(want))) n++; console.log(n)';
  return Number(topo.in('director', process.execPath, '-e', js, loadNativeAddon().path, String(FAST_MARK_BASE), String(mask),
    String(CT.SIZE), String(CT.FAMILY), String(CT.OSPORT), String(port)).trim());
}

const esc = (s: string) => s.replace(/[[\]:.]/g, (c) => `\\${c}`);
/** The service row of `-L -n --stats --exact`. */
function statsRow(topo: Topo6, proto = 'TCP', port = PORT) {
  const m = new RegExp(`${proto}\\s+${esc(`[${VIP6}]:${port}`)}\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)`).exec(adm(topo, '-L', '-n', '--stats', '--exact'));
  if (!m) throw new Error('no service row in -L --stats');
  const [conns, inPkts, outPkts, inBytes, outBytes] = m.slice(1).map(Number);
  return { conns, inPkts, outPkts, inBytes, outBytes };
}
/** `-L -n -c` lines of the TCP service. */
const connLines = (topo: Topo6) => adm(topo, '-L', '-n', '-c').split('\n').filter((l) => l.includes(`[${VIP6}]:${PORT}`));
/** The state of the client port's connection in `-L -n -c` ('none' when absent). */
const state = (topo: Topo6, port: number) => /^\S+\s+\S+\s+(\S+)/.exec(connLines(topo).find((l) => l.includes(`[${CLIENT6}]:${port} `)) ?? '')?.[1] ?? 'none';
/** A real server's ActiveConn and InActConn in `-L -n`. */
function destConns(topo: Topo6, rs: string, port = PORT): [number, number] | null {
  const m = new RegExp(`-> ${esc(`[${rs}]:${port}`)}\\s+\\S+\\s+\\d+\\s+(\\d+)\\s+(\\d+)`).exec(adm(topo, '-L', '-n'));
  return m ? [Number(m[1]), Number(m[2])] : null;
}

/**
 * What the director's kernel forwarded for the TCP service (a table of the
 * test's own, forward hook: after DNAT, before the replies' de-NAT), as
 * conntrack counts it: one skb a packet, its IPv6 length. `syns`: the
 * SYNs among the requests (more than one a connection: retransmitted while
 * the first waited in the queue; see the NAT test); `synacks`: the SYN/ACKs
 * among the replies (more than one a connection: answers to those).
 */
const FWD = 'wasmvs_fpcount6';
function forwardCounters(topo: Topo6, to: readonly string[]): void {
  const set = `{ ${to.join(', ')} }`;
  for (const cmd of [
    `add table ip6 ${FWD}`,
    `add counter ip6 ${FWD} toRs`,
    `add counter ip6 ${FWD} fromRs`,
    `add counter ip6 ${FWD} syns`,
    `add counter ip6 ${FWD} synacks`,
    `add chain ip6 ${FWD} count { type filter hook forward priority 100 ; policy accept ; }`,
    `add rule ip6 ${FWD} count ip6 saddr ${CLIENT6} ip6 daddr ${set} tcp dport ${PORT} counter name toRs`,
    `add rule ip6 ${FWD} count ip6 saddr ${CLIENT6} ip6 daddr ${set} tcp dport ${PORT} tcp flags & syn == syn counter name syns`,
    `add rule ip6 ${FWD} count ip6 saddr ${set} ip6 daddr ${CLIENT6} tcp sport ${PORT} counter name fromRs`,
    `add rule ip6 ${FWD} count ip6 saddr ${set} ip6 daddr ${CLIENT6} tcp sport ${PORT} tcp flags & (syn | ack) == syn | ack counter name synacks`,
  ]) topo.in('director', 'nft', ...cmd.split(' '));
}
function readForwardCounters(topo: Topo6) {
  const one = (name: string) => {
    const m = /packets (\d+) bytes (\d+)/.exec(topo.in('director', 'nft', 'list', 'counter', 'ip6', FWD, name));
    if (!m) throw new Error(`no counter ${name}`);
    return [Number(m[1]), Number(m[2])];
  };
  const [inPkts, inBytes] = one('toRs'), [outPkts, outBytes] = one('fromRs'), [synPkts, synBytes] = one('syns'), [synAckPkts, synAckBytes] = one('synacks');
  topo.in('director', 'nft', 'delete', 'table', 'ip6', FWD);
  return { counts: { inPkts, outPkts, inBytes, outBytes }, synPkts, synBytes, synAckPkts, synAckBytes };
}

/** One long-lived client connection to [VIP6]:PORT (gw-fastpath-peer.mjs talk). */
const talkTo = (topo: Topo6) => new Talk(topo.ns.client, VIP6, PORT);

/** The ip6 table holds `what` (a real server, a DR VIP) and ip6tables queues the service (applied after the table). */
async function installed(topo: Topo6, what: string): Promise<void> {
  await until(`the IPv6 table with ${what} and the ip6tables queue rules`, () => nftTable6(topo).includes(what) && topo.ownedState6().ip6tables.includes(`-d ${VIP6}/128`));
}


suite('wasmvsd gateway --fast-path on: IPv6 NAT and DR with only new flows in userspace', () => {
  afterEach(killChildren);

  it.each(['local', 'routed'] as const)('NAT, VIP %s: TCP byte-exact over round-robin, first packets only queued, states and stats from conntrack, UDP, clean stop', async (vip) => {
    if (why) throw new Error(`gateway IPv6 fast path prerequisites missing in CI: ${why}`);
    const topo = fresh('nat', vip);
    let gw: Daemon | undefined;
    try {
      gw = await startGateway(topo, QUEUE, '--fast-path', 'on');
      expect(gw.log()).toContain('fast path on for IPv4 and IPv6 NAT and DR services');
      adm(topo, '-A', '-t', `[${VIP6}]:${PORT}`, '-s', 'rr');
      for (const r of RSS) adm(topo, '-a', '-t', `[${VIP6}]:${PORT}`, '-r', `[${r}]:${PORT}`, '-m');
      adm(topo, '-A', '-u', `[${VIP6}]:${UDP_PORT}`, '-s', 'rr');
      adm(topo, '-a', '-u', `[${VIP6}]:${UDP_PORT}`, '-r', `[${RS6}]:${UDP_PORT}`, '-m');
      adm(topo, '--set', '0', '0', '3'); // UDP connections expire after 3 s
      // Every rule in (the UDP service's last): a SYN held in the queue while a rule update runs would be
      // retransmitted, and the copy conntrack then drops at confirm is one the forward hook below counted.
      await installed(topo, RS6B);
      await until('the UDP service\'s queue rule', () => topo.ownedState6().ip6tables.includes(`--dport ${UDP_PORT}`));
      // Only conntrack's new (and invalid) packets are queued, by ip6tables.
      expect(topo.ownedState6().ip6tables).toContain('ctstate INVALID,NEW');
      expect(topo.ownedState6().ip6tables).not.toContain('notrack');
      const toServer = await capture(topo, 'director', topo.dev.dirOut, 'ip6 and tcp', `fast6-${vip}`);
      forwardCounters(topo, RSS);
      const tcp = await exchange6(topo, '::', PORT, CONNS, SIZE);
      const wire = await toServer.stop();
      const { counts: forwarded, synPkts, synBytes, synAckPkts, synAckBytes } = readForwardCounters(topo);
      // Byte-exact both ways ("ok": the echo equals what was sent), round-robin over both real servers,
      // the client only ever talking to the VIP (replies de-NATed by conntrack).
      expect(tcp.sent).toHaveLength(CONNS);
      const first = /^reply 0 (\S+) /.exec(tcp.replies[0] ?? '')?.[1] ?? 'none';
      expect(RSS).toContain(first);
      const other = RSS.find((r) => r !== first)!;
      expect(tcp.replies).toEqual(tcp.sent.map((_, i) => `reply ${i} ${i % 2 === 0 ? first : other} [${VIP6}]:${PORT} ok`));
      // The kernel NATed the flows: the real servers' addresses on the server side, never the VIP.
      expect(wire.filter((l) => l.includes(`${CLIENT6}.`) && RSS.some((r) => l.includes(`> ${r}.${PORT}:`))).length).toBeGreaterThan(CONNS * 5);
      expect(wire.filter((l) => l.includes(VIP6))).toEqual([]);
      // The core scheduled each connection; from conntrack its states reach TIME_WAIT (both sides closed).
      expect(connLines(topo)).toHaveLength(CONNS);
      for (const r of RSS) expect(connLines(topo).filter((l) => l.includes(` [${r}]:${PORT}`))).toHaveLength(CONNS / 2);
      await until('the connections to reach TIME_WAIT in the core', () => connLines(topo).filter((l) => l.includes('TIME_WAIT')).length === CONNS, 50, 100);
      // -L --stats equals what the kernel forwarded, within a bounded wait (the feed runs once a second).
      expect(forwarded.inBytes).toBeGreaterThanOrEqual(CONNS * SIZE + 60 * forwarded.inPkts);
      // (On a miss, the gateway's warnings say whether a conntrack dump failed meanwhile.)
      const warnings = () => gw!.log().split('\n').filter((l) => /"level":[45]0/.test(l) && !l.includes('forwarding=1')).join(' | ') || 'none';
      // A SYN retransmitted while the first still waited in the queue (a loaded machine) makes a second
      // unconfirmed conntrack entry; both are queued and counted by the core, and the copy conntrack then
      // drops at confirm (a TCP clash, after the forward hook counted it) never leaves the director. So the
      // requests may be short of this reference by at most the SYNs beyond one a connection, none else.
      // Such a SYN that arrives after the real server's SYN/ACK passed is one conntrack ignores (a
      // retransmission: passed and NATed, counted by no entry), and so is the real server's SYN/ACK
      // repeated before the client's ACK reached it (its answer to that SYN): the replies may be short by
      // at most the SYN/ACKs beyond one a connection (bench/gateway/ANALYSIS.md, docs/gateway.md).
      const dupSyns = synPkts - CONNS, synLen = synPkts ? synBytes / synPkts : 0;
      const dupSynAcks = synAckPkts - CONNS, synAckLen = synAckPkts ? synAckBytes / synAckPkts : 0;
      expect(dupSyns).toBeGreaterThanOrEqual(0);
      expect(dupSynAcks).toBeGreaterThanOrEqual(0);
      // Closed flows' entries leave conntrack by themselves, SETTLED_CT_TIMEOUT_S after their close (the ct
      // timeout policy), their destroy events bringing the last counters: the wait is bounded by that.
      await until(() => `the packet counters from conntrack: ${JSON.stringify(statsRow(topo))} for ${JSON.stringify(forwarded)} (${dupSyns} duplicate SYNs, ${dupSynAcks} SYN/ACKs; conntrack ${ctStat(topo.ns.director)}); gateway warnings: ${warnings()}`,
        () => statsRow(topo).inPkts >= forwarded.inPkts - dupSyns && statsRow(topo).outPkts >= forwarded.outPkts - dupSynAcks, (SETTLED_CT_TIMEOUT_S + 5) * 5, 200);
      await new Promise((r) => setTimeout(r, 1200)); // one more feed round: nothing more may come
      const got = statsRow(topo);
      expect(got.conns).toBe(CONNS);
      const short = forwarded.inPkts - got.inPkts, outShort = forwarded.outPkts - got.outPkts;
      expect(short).toBeGreaterThanOrEqual(0);
      expect(short).toBeLessThanOrEqual(dupSyns);
      expect(forwarded.inBytes - got.inBytes).toBe(short * synLen);
      expect(outShort).toBeGreaterThanOrEqual(0);
      expect(outShort).toBeLessThanOrEqual(dupSynAcks);
      expect(forwarded.outBytes - got.outBytes).toBe(outShort * synAckLen);
      if (dupSyns === 0 && dupSynAcks === 0) expect(got).toEqual({ conns: CONNS, ...forwarded });
      // InActConn on each server.
      for (const r of RSS) expect(destConns(topo, r)).toEqual([0, CONNS / 2]);
      // UDP through the kernel too; the core's connection expires on its own timeout.
      const udp = await udpExchange6(topo, RS6, UDP_PORT);
      expect(udp.got).toBe(`got ${udp.sent} for ${RS6} from ${CLIENT6}`);
      expect(udp.reply).toBe(`udp-reply echo:${RS6}:${udp.sent} from [${VIP6}]:${UDP_PORT}`);
      expect(adm(topo, '-L', '-n', '-c')).toContain(`[${VIP6}]:${UDP_PORT}`);
      await until('the UDP connection to expire in the core', () => !adm(topo, '-L', '-n', '-c').includes(`[${VIP6}]:${UDP_PORT}`), 50, 200);
      const s = summary(await stopGateway(gw));
      gw = undefined;
      // Only the first packet(s) of each flow were queued (the SYNs, a retransmission at most, the datagram).
      console.log(`IPv6 fast path, VIP ${vip}: ${JSON.stringify({ queued: s.packets, marked: s.fast_marked, wire: wire.length, forwarded })}`);
      expect(s.fast_marked).toBeGreaterThanOrEqual(CONNS + 1);
      expect(s.packets).toBeLessThanOrEqual(2 * (CONNS + 1) + 2);
      expect(forwarded.inPkts + forwarded.outPkts).toBeGreaterThan(10 * s.packets);
      expect(s.ct_fed_packets).toBeGreaterThan(0);
      expect(s.nl_errors).toBe(0);
      expect(s.failed_bursts).toBe(0);
      expect(leftovers(topo)).toEqual({ iptables: '', ip6tables: '', rules: '' });
      expect(ct6(topo)).toBe(0);
    } finally {
      if (gw) await stopGateway(gw);
      topo.teardown();
    }
  });

  it.each(['local', 'routed'] as const)('NAT, VIP %s: established flows as in IPVS: weight 0 leaves them, deletion drops their packets, new flows go on', async (vip) => {
    if (why) throw new Error(`gateway IPv6 fast path prerequisites missing in CI: ${why}`);
    const topo = fresh('nat', vip);
    let gw: Daemon | undefined;
    const talks: Talk[] = [];
    const talk = () => { const t = talkTo(topo); talks.push(t); return t; };
    try {
      gw = await startGateway(topo, QUEUE, '--fast-path', 'on');
      const server = inNs(topo.ns.server, process.execPath, [TALK, 'echo-server', '::', String(PORT)]);
      await waitLine(server, (l) => l === 'ready', 10_000);
      adm(topo, '-A', '-t', `[${VIP6}]:${PORT}`, '-s', 'rr');
      for (const r of RSS) adm(topo, '-a', '-t', `[${VIP6}]:${PORT}`, '-r', `[${r}]:${PORT}`, '-m');
      await installed(topo, RS6B);
      const a = talk();
      const aPort = await a.port;
      const x = served(await a.send(2000));
      expect(RSS).toContain(x);
      const y = RSS.find((r) => r !== x)!;
      await until(() => `ESTABLISHED from conntrack (${state(topo, aPort)})`, () => state(topo, aPort) === 'ESTABLISHED', 50, 100);
      expect(destConns(topo, x)).toEqual([1, 0]);
      // Weight 0: the established flow goes on to its server, new flows go to the other.
      adm(topo, '-e', '-t', `[${VIP6}]:${PORT}`, '-r', `[${x}]:${PORT}`, '-m', '-w', '0');
      expect(served(await a.send(3000))).toBe(x);
      const b = talk();
      expect(served(await b.send(100))).toBe(y);
      // Deleted (expire_nodest_conn=0): its map entry goes, then its flows' conntrack entries; the next
      // segment meets the core, which drops it as IPVS does for a connection whose real server is gone.
      adm(topo, '-d', '-t', `[${VIP6}]:${PORT}`, '-r', `[${x}]:${PORT}`);
      await until('the deleted real server to leave the map', () => !nftTable6(topo).includes(x));
      await until('the conntrack entry of its flow to go', () => ct6(topo, aPort) === 0);
      expect(await a.send(1500)).toBe('failed timeout');
      expect(state(topo, aPort)).toBe('ESTABLISHED'); // still in the table, until its timeout
      expect(served(await b.send(100))).toBe(y);
      expect(served(await talk().send(100))).toBe(y);
      for (const t of talks) t.end();
      server.kill();
      const s = summary(await stopGateway(gw));
      gw = undefined;
      expect(s.ct_fed_packets).toBeGreaterThan(0);
      expect(leftovers(topo)).toEqual({ iptables: '', ip6tables: '', rules: '' });
      expect(nftTable6(topo)).toBe('');
    } finally {
      for (const t of talks) t.end();
      if (gw) await stopGateway(gw);
      topo.teardown();
    }
  });

  it('NAT, VIP local, expire_nodest_conn=1: a drained real server\'s flow goes on; once deleted, it is expired at once and its next segment reset', async () => {
    if (why) throw new Error(`gateway IPv6 fast path prerequisites missing in CI: ${why}`);
    const topo = fresh('nat', 'local');
    let gw: Daemon | undefined;
    const talks: Talk[] = [];
    const talk = () => { const t = talkTo(topo); talks.push(t); return t; };
    try {
      const config = join(topo.tmp, 'gateway.rules');
      writeFileSync(config, [`-A -t [${VIP6}]:${PORT} -s rr`, ...RSS.map((r) => `-a -t [${VIP6}]:${PORT} -r [${r}]:${PORT} -m`),
        '# wasmvs-proxy option expire_nodest_conn=1', ''].join('\n'));
      gw = await startGateway(topo, QUEUE, '--config', config); // the fast path by default
      expect(gw.log()).toContain('fast path on for IPv4 and IPv6 NAT and DR services');
      const server = inNs(topo.ns.server, process.execPath, [TALK, 'echo-server', '::', String(PORT)]);
      await waitLine(server, (l) => l === 'ready', 10_000);
      await installed(topo, RS6B);
      const a = talk();
      const aPort = await a.port;
      const x = served(await a.send(2000));
      expect(RSS).toContain(x);
      const y = RSS.find((r) => r !== x)!;
      await until(() => `ESTABLISHED from conntrack (${state(topo, aPort)})`, () => state(topo, aPort) === 'ESTABLISHED', 50, 100);
      expect(adm(topo, '--drain', '-t', `[${VIP6}]:${PORT}`, '-r', `[${x}]:${PORT}`, '--deadline', '1')).toContain('draining, 1 open (ActiveConn 1, InActConn 0)');
      const b = talk();
      expect(served(await b.send(100))).toBe(y);
      expect(served(await a.send(1000))).toBe(x);
      await until('the drain to end at its deadline', () => adm(topo, '--drain').includes('drained (deadline reached'), 50, 100);
      expect(served(await a.send(1000))).toBe(x);
      expect(ct6(topo, aPort)).toBe(1);
      adm(topo, '-d', '-t', `[${VIP6}]:${PORT}`, '-r', `[${x}]:${PORT}`);
      await until(() => `the connection to be expired in the core (${state(topo, aPort)})`, () => state(topo, aPort) === 'none', 50, 100);
      await until('its conntrack entry to go', () => ct6(topo, aPort) === 0, 50, 100);
      expect(await a.send(100)).toBe('failed error ECONNRESET');
      expect(served(await b.send(100))).toBe(y);
      expect(served(await talk().send(100))).toBe(y);
      for (const t of talks) t.end();
      server.kill();
      await stopGateway(gw);
      gw = undefined;
      expect(leftovers(topo)).toEqual({ iptables: '', ip6tables: '', rules: '' });
    } finally {
      for (const t of talks) t.end();
      if (gw) await stopGateway(gw);
      topo.teardown();
    }
  });

  it.each(['local', 'routed'] as const)('DR, VIP %s: byte-exact over round-robin, the flow map routes all but the first packets, FIN and RST; stats from its counters; a deleted real server\'s flow is dropped', async (vip) => {
    if (why) throw new Error(`gateway IPv6 fast path prerequisites missing in CI: ${why}`);
    const topo = fresh('dr', vip);
    let gw: Daemon | undefined;
    const talks: Talk[] = [];
    try {
      gw = await startGateway(topo, QUEUE, '--fast-path', 'on');
      adm(topo, '-A', '-t', `[${VIP6}]:${PORT}`, '-s', 'rr');
      for (const r of RSS) adm(topo, '-a', '-t', `[${VIP6}]:${PORT}`, '-r', r, '-g');
      adm(topo, '-A', '-u', `[${VIP6}]:${UDP_PORT}`, '-s', 'rr');
      adm(topo, '-a', '-u', `[${VIP6}]:${UDP_PORT}`, '-r', RS6, '-g');
      await installed(topo, `${VIP6} . tcp . ${PORT}`);
      const mac = topo.in('server', 'cat', `/sys/class/net/${topo.dev.server}/address`).trim();
      const toServer = await capture(topo, 'director', topo.dev.dirOut, 'ip6 and tcp', `dr6-${vip}`);
      forwardCounters(topo, [VIP6]);
      const tcp = await exchange6(topo, '::', PORT, CONNS, SIZE);
      const wire = await toServer.stop();
      const forwarded = readForwardCounters(topo).counts;
      expect(tcp.replies).toEqual(tcp.sent.map((_, i) => `reply ${i} ${VIP6} [${VIP6}]:${PORT} ok`));
      // Still addressed to the VIP, at the server's MAC; replies never pass the director.
      const requests = wire.filter((l) => l.includes(`> ${VIP6}.${PORT}:`));
      expect(requests.length).toBeGreaterThan(CONNS * 5);
      for (const l of requests) expect(l).toContain(`> ${mac},`);
      expect(wire.filter((l) => l.includes(`${VIP6}.${PORT} >`))).toEqual([]);
      // The core scheduled every connection, round-robin over both real servers.
      expect(connLines(topo)).toHaveLength(CONNS);
      for (const r of RSS) expect(connLines(topo).filter((l) => l.includes(` [${r}]:${PORT}`))).toHaveLength(CONNS / 2);
      // -L --stats counts every request packet forwarded: the queued ones by the core, the rest from
      // the flow map's per-mark counters (once a second).
      expect(forwarded.inPkts).toBeGreaterThan(CONNS * 5);
      expect(forwarded.outPkts).toBe(0);
      await until(() => `the DR counters: ${JSON.stringify(statsRow(topo))} for ${JSON.stringify(forwarded)}`, () => statsRow(topo).inPkts >= forwarded.inPkts, 50, 100);
      await new Promise((r) => setTimeout(r, 1200)); // one more round: nothing more may come
      expect(statsRow(topo)).toEqual({ conns: CONNS, ...forwarded });
      // UDP through the map too.
      const udp = await udpExchange6(topo, VIP6, UDP_PORT);
      expect(udp.got).toBe(`got ${udp.sent} for ${VIP6} from ${CLIENT6}`);
      expect(udp.reply).toBe(`udp-reply echo:${VIP6}:${udp.sent} from [${VIP6}]:${UDP_PORT}`);
      // An established flow whose real server is deleted: dropped, as IPVS does; new flows go on.
      const server = inNs(topo.ns.server, process.execPath, [TALK, 'echo-server', '::', String(PORT)]);
      await waitLine(server, (l) => l === 'ready', 10_000);
      const a = talkTo(topo);
      talks.push(a);
      const aPort = await a.port;
      expect(await a.send(2000)).toBe(`echoed 2000 ${VIP6} ok`);
      const line = connLines(topo).find((l) => l.includes(`[${CLIENT6}]:${aPort} `)) ?? '';
      const x = RSS.find((r) => line.includes(` [${r}]:${PORT}`));
      expect(x, line).toBeDefined();
      const drRules = () => topo.ownedState6().rules.split('\n').filter((l) => l.startsWith('31337:')).length;
      const rulesBefore = drRules();
      adm(topo, '-d', '-t', `[${VIP6}]:${PORT}`, '-r', `[${x}]:${PORT}`);
      await until('the deleted real server\'s route to go', () => drRules() === rulesBefore - 1);
      await new Promise((r) => setTimeout(r, 300));
      expect(await a.send(1000)).toBe('failed timeout');
      const b = talkTo(topo);
      talks.push(b);
      expect(await b.send(1000)).toBe(`echoed 1000 ${VIP6} ok`);
      for (const t of talks) t.end();
      server.kill();
      const s = summary(await stopGateway(gw));
      gw = undefined;
      // Queued: each connection's SYN, handshake ACK and FIN (a retransmission or two at most), the
      // datagram, the talks' first packets and the deleted server's dropped segments.
      console.log(`IPv6 DR fast path, VIP ${vip}: ${JSON.stringify({ queued: s.packets, requests: requests.length, fed: s.dr_fed_packets })}`);
      expect(s.packets).toBeLessThan(requests.length / 2);
      expect(s.dr_fed_packets).toBeGreaterThan(CONNS * 3);
      expect(s.nl_errors).toBe(0);
      expect(leftovers(topo)).toEqual({ iptables: '', ip6tables: '', rules: '' });
      expect(nftTable6(topo)).toBe('');
    } finally {
      for (const t of talks) t.end();
      if (gw) await stopGateway(gw);
      topo.teardown();
    }
  });

  it('DR, VIP local, conn_reuse_mode=3: a client port reused while the flow map remembers it meets the core, is scheduled afresh and followed there', async () => {
    if (why) throw new Error(`gateway IPv6 fast path prerequisites missing in CI: ${why}`);
    const topo = fresh('dr', 'local');
    let gw: Daemon | undefined;
    const procs: ChildProcess[] = [];
    const LOCAL = 32000 + (process.pid % 10000);
    try {
      const config = join(topo.tmp, 'reuse.rules');
      writeFileSync(config, '# wasmvs-proxy option conn_reuse_mode=3\n');
      gw = await startGateway(topo, QUEUE, '--fast-path', 'on', '--config', config);
      adm(topo, '-A', '-t', `[${VIP6}]:${PORT}`, '-s', 'rr');
      for (const r of RSS) adm(topo, '-a', '-t', `[${VIP6}]:${PORT}`, '-r', r, '-g');
      await installed(topo, `${VIP6} . tcp . ${PORT}`);
      const server = inNs(topo.ns.server, process.execPath, [LOAD_PEER, 'servers', '::', String(PORT)]);
      procs.push(server);
      await waitLine(server, (l) => l === 'ready', 10_000);
      const { proc: client, connect } = await reuseClient(topo.ns.client, VIP6, PORT, LOCAL);
      procs.push(client);
      const entries = () => connLines(topo).filter((l) => l.includes(`[${CLIENT6}]:${LOCAL} `));
      expect(await connect()).toMatch(/^served /);
      await until(() => `the first connection in FIN_WAIT (${entries().join(' | ')})`, () => state(topo, LOCAL) === 'FIN_WAIT', 50, 100);
      const dest = RSS.find((r) => entries()[0].includes(` [${r}]:${PORT}`))!;
      const other = RSS.find((r) => r !== dest)!;
      const listed = (what: string) => topo.in('director', 'nft', 'list', what, 'ip6', 'wasmvs_gw', what === 'map' ? 'dr6tcp' : 'dr6stale');
      expect(listed('map'), 'the flow remembered by the map').toContain('elements = {');
      expect(listed('set')).not.toContain('elements = {');
      expect(await connect()).toMatch(/^served /);
      await until(() => `the new connection on ${other}, past its FIN (${entries().join(' | ')})`,
        () => entries().length === 1 && entries()[0].includes(` [${other}]:${PORT}`) && state(topo, LOCAL) === 'FIN_WAIT', 50, 100);
      expect(listed('set'), 'the reused port\'s flow stale').toContain('elements = {');
      // Each real server counted one connection.
      const stats = adm(topo, '-L', '-n', '--stats');
      for (const r of RSS) expect(Number(new RegExp(`-> ${esc(`[${r}]:${PORT}`)}\\s+(\\d+)`).exec(stats)?.[1]), stats).toBe(1);
      const s = summary(await stopGateway(gw));
      gw = undefined;
      expect(s.dropped).toBe(0);
      expect(nftTable6(topo)).toBe('');
    } finally {
      for (const p of procs) p.kill();
      if (gw) await stopGateway(gw);
      topo.teardown();
    }
  });

  it('without ip6tables: a clear log line, IPv4 keeps the fast path, and no ip6 table is made', async () => {
    if (why) throw new Error(`gateway IPv6 fast path prerequisites missing in CI: ${why}`);
    const topo = fresh('nat', 'local');
    let gw: Daemon | undefined;
    try {
      // A PATH holding what the gateway runs, ip6tables and its tools excepted.
      const bin = join(topo.tmp, 'bin');
      mkdirSync(bin);
      for (const t of ['ip', 'nft', 'iptables', 'iptables-restore', 'iptables-save']) symlinkSync(sh('sh', '-c', `command -v ${t}`).trim(), join(bin, t));
      gw = await startGatewayEnv(topo, QUEUE, { PATH: bin }, '--fast-path', 'on');
      expect(gw.log()).toContain('fast path on for IPv4 NAT and DR services');
      expect(gw.log()).toContain('fast path not for IPv6 services, they stay on the userspace path: ip6tables is not installed');
      adm(topo, '-A', '-t', `[${VIP6}]:${PORT}`, '-s', 'rr');
      adm(topo, '-a', '-t', `[${VIP6}]:${PORT}`, '-r', `[${RS6}]:${PORT}`, '-m');
      adm(topo, '-A', '-t', `198.18.42.1:${PORT}`, '-s', 'rr');
      adm(topo, '-a', '-t', `198.18.42.1:${PORT}`, '-r', `198.18.41.2:${PORT}`, '-m');
      await until('the IPv4 DNAT map', () => topo.in('director', 'nft', 'list', 'ruleset').includes('198.18.41.2 . 8080'));
      expect(nftTable6(topo)).toBe('');
      await stopGateway(gw);
      gw = undefined;
      expect(leftovers(topo)).toEqual({ iptables: '', ip6tables: '', rules: '' });
    } finally {
      if (gw) await stopGateway(gw);
      topo.teardown();
    }
  });

  it('after SIGKILL: the next start removes the IPv6 table and our IPv6 conntrack entries, and so does `--cleanup` after another', async () => {
    if (why) throw new Error(`gateway IPv6 fast path prerequisites missing in CI: ${why}`);
    const topo = fresh('nat', 'local');
    let gw: Daemon | undefined;
    const talks: Talk[] = [];
    try {
      const server = inNs(topo.ns.server, process.execPath, [TALK, 'echo-server', '::', String(PORT)]);
      await waitLine(server, (l) => l === 'ready', 10_000);
      gw = await startGateway(topo, QUEUE, '--fast-path', 'on');
      adm(topo, '-A', '-t', `[${VIP6}]:${PORT}`, '-s', 'rr');
      for (const r of RSS) adm(topo, '-a', '-t', `[${VIP6}]:${PORT}`, '-r', `[${r}]:${PORT}`, '-m');
      await installed(topo, RS6B);
      const t = talkTo(topo);
      talks.push(t);
      expect(served(await t.send(100))).toMatch(/^2001:2:0:41::[23]$/);
      gw.proc.kill('SIGKILL');
      await gw.exited;
      gw = undefined;
      // The connection stays open (a closed one's entry would leave by itself SETTLED_CT_TIMEOUT_S after its close).
      expect(nftTable6(topo)).toContain('table ip6 wasmvs_gw');
      expect(ct6(topo)).toBeGreaterThanOrEqual(1);
      expect(leftovers(topo).ip6tables).not.toBe('');
      // Restarted (the services come back from the state file): the old table and entries go first.
      gw = await startGateway(topo, QUEUE, '--fast-path', 'on');
      expect(gw.log()).toContain('removed the fast-path nftables table a previous run left (ip wasmvs_gw, ip6 wasmvs_gw)');
      await installed(topo, RS6B);
      expect(ct6(topo)).toBe(0);
      const u = talkTo(topo);
      talks.push(u);
      expect(served(await u.send(100))).toMatch(/^2001:2:0:41::[23]$/);
      // Killed again, with the connection open: `wasmvsd gateway --cleanup` removes it all.
      gw.proc.kill('SIGKILL');
      await gw.exited;
      gw = undefined;
      expect(ct6(topo)).toBeGreaterThanOrEqual(1);
      const r = spawnSync('ip', ['netns', 'exec', topo.ns.director, process.execPath, WASMVSD, 'gateway', '--cleanup', '--socket', topo.socket],
        { encoding: 'utf8', timeout: 30_000 });
      expect(`${r.stdout}${r.stderr}`).toContain('removed the fast-path nftables tables ip wasmvs_gw, ip6 wasmvs_gw');
      expect(r.status).toBe(0);
      expect(leftovers(topo)).toEqual({ iptables: '', ip6tables: '', rules: '' });
      expect(ct6(topo)).toBe(0);
      expect(sh('ip', 'netns', 'exec', topo.ns.director, 'nft', 'list', 'tables')).not.toContain('wasmvs');
    } finally {
      for (const t of talks) t.end();
      if (gw) await stopGateway(gw);
      topo.teardown();
    }
  });
});
