// `wasmvsd gateway` over IPv6 (2001:2::/48): NAT and DR, each with the VIP
// held by the director (`ip -6 addr add VIP/128 dev lo`) and with a VIP the
// director only routes, each with the veths' checksum offload left on and
// off. One fresh topology and daemon per combination; real wasmvsadm
// commands; TCP and UDP through the service; ICMPv6 errors about a
// connection both ways, met by the applications' own sockets (a connected
// UDP socket's ECONNREFUSED, the server's path MTU towards the client); a
// capture on the director–server link; and afterwards nothing of the
// gateway's left in the director, IPv6 forwarding included. Each with the
// fast path (the default: only new flows queued, the kernel NATs or routes
// the rest, conntrack RELATED carrying NAT's ICMPv6 errors), and the NAT and
// DR cases with the VIP local and offload on once more with `--fast-path off`
// (every packet through the core, the fast path's fallback).
import { afterEach, describe, expect, it } from 'vitest';
import { inCI } from './prereq.js';
import { killChildren, inNs } from './netns.js';
import { capture, waitLine } from './gw-topo.js';
import { missingGatewayPrereq, startGateway, stopGateway, adm, summary, type Daemon } from './gw-daemon.js';
import { Topo6, VIP6, RS6, CLIENT6, ICMP6_PEER, exchange6, udpExchange6, icmp6Peer, type Mode6 } from './gw-topo6.js';

const why = missingGatewayPrereq('ip6tables');
if (why && !inCI) console.warn(`\n*** SKIPPING wasmvsd gateway IPv6 suite: ${why} ***\n`);
const suite = describe.skipIf(why !== null && !inCI);
const PORT = 8080, UDP_PORT = 5353, QUEUE = 40 + (process.pid % 200);
/** UDP services for the ICMPv6 cases: LATE answers after the client has gone; NAT's GONE has no listener. */
const LATE = 6000, GONE = 7000;
const FLAG: Record<Mode6, string> = { nat: '-m', dr: '-g' };
const ERRORS = 'icmp6 and ip6[40] < 128';

const cases: Array<[Mode6, 'local' | 'routed', 'on' | 'off', 'fast path' | 'userspace path']> = [];
for (const mode of ['nat', 'dr'] as const) {
  for (const vip of ['local', 'routed'] as const) for (const offload of ['on', 'off'] as const) cases.push([mode, vip, offload, 'fast path']);
}
for (const mode of ['nat', 'dr'] as const) cases.push([mode, 'local', 'on', 'userspace path']);

/** ip -6 route get CLIENT6 from `src` in the server, polled (bounded) until it shows `mtu N`. */
async function serverMtu(topo: Topo6, src: string, mtu: number): Promise<string> {
  let route = '';
  for (let i = 0; i < 30; i++) {
    route = topo.in('server', 'ip', '-6', 'route', 'get', CLIENT6, 'from', src);
    if (route.includes(`mtu ${mtu}`)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return route;
}

let topos = 0;

async function run(mode: Mode6, vip: 'local' | 'routed', offload: 'on' | 'off', path: 'fast path' | 'userspace path'): Promise<void> {
  if (why) throw new Error(`gateway IPv6 suite prerequisites missing in CI: ${why}`);
  const topo = new Topo6(`g6${process.pid % 10000}x${topos++}`);
  let gw: Daemon | undefined;
  try {
    topo.setup6(mode, { vip, offload });
    const untouched = topo.forwarding6();
    expect(Object.values(untouched)).toEqual(['0', '0', '0', '0', '0']);
    gw = await startGateway(topo, QUEUE, '--fast-path', path === 'fast path' ? 'on' : 'off');
    expect(gw.log()).toContain(path === 'fast path' ? 'fast path on for IPv4 and IPv6 NAT and DR services' : 'fast path off (--fast-path off)');
    const nat = mode === 'nat';
    const real = (port: number) => (nat ? `[${RS6}]:${port}` : RS6);
    for (const [proto, port, rport] of [['-t', PORT, PORT], ['-u', UDP_PORT, UDP_PORT], ['-u', LATE, nat ? LATE + 1 : LATE],
      ...(nat ? [['-u', GONE, GONE + 1] as const] : [])] as const) {
      adm(topo, '-A', proto, `[${VIP6}]:${port}`, '-s', 'rr');
      adm(topo, '-a', proto, `[${VIP6}]:${port}`, '-r', real(rport), FLAG[mode]);
    }
    const served = nat ? RS6 : VIP6;
    const mac = topo.in('server', 'cat', `/sys/class/net/${topo.dev.server}/address`).trim();
    const cap = await capture(topo, 'director', topo.dev.dirOut, `tcp or (${ERRORS})`, `${mode}-${vip}-${offload}`);
    const arriving = await capture(topo, 'director', topo.dev.dirIn, `(tcp and dst host ${VIP6}) or (${ERRORS})`, `in-${mode}-${vip}-${offload}`);

    // TCP: two small exchanges, then one of several full-size segments; UDP: one echo.
    const small = await exchange6(topo, served, PORT, 2, 32);
    const big = await exchange6(topo, served, PORT, 1, 6000);
    expect(small.got).toEqual(small.sent.map((s) => `got ${s} for ${served} from ${CLIENT6}`));
    expect(small.replies).toEqual([0, 1].map((i) => `reply ${i} ${served} [${VIP6}]:${PORT} ok`));
    expect(big.replies).toEqual([`reply 0 ${served} [${VIP6}]:${PORT} ok`]);
    const udp = await udpExchange6(topo, served, UDP_PORT);
    expect(udp.got).toBe(`got ${udp.sent} for ${served} from ${CLIENT6}`);
    expect(udp.reply).toBe(`udp-reply echo:${served}:${udp.sent} from [${VIP6}]:${UDP_PORT}`);

    // NAT: the real server's port unreachable reaches the client from the VIP, quoting VIP:GONE,
    // so the client's connected socket takes it as its own (ECONNREFUSED).
    if (nat) expect(icmp6Peer(topo, 'client', 'udp-refused', VIP6, String(GONE))).toEqual(['refused']);

    // The client's port unreachable about a late reply reaches the real server's connected
    // socket; then a Packet Too Big about the same connection lowers the server's path MTU.
    const late = inNs(topo.ns.server, 'python3', [ICMP6_PEER, 'udp-answer-late', served, String(nat ? LATE + 1 : LATE)]);
    await waitLine(late, (l) => l === 'ready', 10_000);
    const refused = waitLine(late, (l) => ['refused', 'reply', 'timeout'].includes(l), 15_000);
    const [sentFrom] = icmp6Peer(topo, 'client', 'udp-oneshot', VIP6, String(LATE));
    const cport = sentFrom.replace('sent from ', '');
    expect(await refused).toBe('refused');
    expect(await serverMtu(topo, served, 1300)).not.toContain('mtu 1300');
    expect(icmp6Peer(topo, 'client', 'ptb', VIP6, '1300', VIP6, String(LATE), CLIENT6, cport)).toEqual(['sent']);
    expect(await serverMtu(topo, served, 1300)).toContain('mtu 1300');
    late.stdin!.end();

    const wire = await cap.stop(true);
    const sums = await arriving.stop(true);
    // With offload on the client's segments reach the director with partial checksums
    // (tcpdump: "incorrect"); with it off every checksum is complete.
    const tcpSums = sums.filter((l) => l.includes('cksum') && !l.includes('ICMP6'));
    expect(tcpSums.length).toBeGreaterThan(5);
    expect(tcpSums.some((l) => l.includes('incorrect'))).toBe(offload === 'on');
    checkTcpWire(mode, wire.join('\n'), mac);
    checkIcmpWire(mode, wire, sums, mac, cport);

    expect(adm(topo, '-L', '-n', '--stats', '--exact')).toMatch(new RegExp(`TCP\\s+\\[${VIP6}\\]:${PORT}\\s+3\\s`));
    const log = await stopGateway(gw);
    gw = undefined;
    const s = summary(log);
    expect(s.nl_errors).toBe(0);
    expect(s.failed_bursts).toBe(0);
    // NAT on the fast path: each flow's first packet became a mark (3 TCP connections, the UDP echoes).
    if (nat && path === 'fast path') expect(s.fast_marked).toBeGreaterThanOrEqual(4);
    else expect(s.fast_marked).toBe(0);
    expect(log).toContain('net.ipv6.conf.all.forwarding=1 until stop');
    expect(topo.ownedState()).toEqual({ iptables: '', rules: '' });
    expect(topo.ownedState6()).toEqual({ ip6tables: '', rules: '' });
    expect(topo.forwarding6()).toEqual(untouched);
  } finally {
    if (gw) await stopGateway(gw);
    topo.teardown();
  }
}

/** tcpdump's -vv lines decoded into one string per packet (continuation lines joined). */
function packets(lines: string[]): string[] {
  const out: string[] = [];
  for (const l of lines) {
    if (/^\s/.test(l) && out.length) out[out.length - 1] += ` ${l.trim()}`;
    else out.push(l);
  }
  return out;
}

/** The director–server link as IPVS would put it on the wire: NAT rewritten, DR to the server's MAC. */
function checkTcpWire(mode: Mode6, text: string, serverMac: string): void {
  const wire = packets(text.split('\n')).filter((l) => !l.includes('ICMP6'));
  if (mode === 'nat') {
    expect(wire.some((l) => l.includes(`${CLIENT6}.`) && l.includes(`> ${RS6}.${PORT}:`))).toBe(true);
    expect(wire.some((l) => l.includes(`${RS6}.${PORT} > ${CLIENT6}.`))).toBe(true);
    expect(wire.filter((l) => l.includes(VIP6))).toEqual([]);
    return;
  }
  const toServer = wire.filter((l) => l.includes(`> ${VIP6}.${PORT}:`));
  expect(toServer.length).toBeGreaterThanOrEqual(3);
  for (const l of toServer) expect(l).toContain(`> ${serverMac},`);
  expect(wire.filter((l) => l.includes(`${VIP6}.${PORT} >`))).toEqual([]); // replies bypass the director
}

/**
 * ICMPv6 errors on both links, every checksum verified by tcpdump: the
 * client's errors cross to the real server (NAT: addressed to it; DR: to the
 * VIP at its MAC); NAT's port unreachable leaves the real server quoting its
 * own address and port and reaches the client quoting the VIP's.
 */
function checkIcmpWire(mode: Mode6, serverLink: string[], clientLink: string[], serverMac: string, cport: string): void {
  const errs = (lines: string[]) => packets(lines).filter((l) => l.includes('ICMP6'));
  const server = errs(serverLink), client = errs(clientLink);
  expect(server.length).toBeGreaterThan(1);
  for (const l of [...server, ...client]) expect(l).toContain(': [icmp6 sum ok] ICMP6, ');
  const to = mode === 'nat' ? RS6 : VIP6;
  const unreach = server.filter((l) => l.includes(`${CLIENT6} > ${to}: [icmp6 sum ok] ICMP6, destination unreachable, unreachable port, ${CLIENT6} udp port ${cport}`));
  const tooBig = server.filter((l) => l.includes(`${CLIENT6} > ${to}: [icmp6 sum ok] ICMP6, packet too big, mtu 1300`));
  expect([unreach.length, tooBig.length]).toEqual([1, 1]);
  if (mode === 'dr') {
    for (const l of [...unreach, ...tooBig]) expect(l).toContain(`> ${serverMac},`);
    return;
  }
  expect(server.filter((l) => l.includes(`${RS6} > ${CLIENT6}: [icmp6 sum ok] ICMP6, destination unreachable, unreachable port, ${RS6} udp port ${GONE + 1}`)).length).toBeGreaterThan(0);
  expect(client.filter((l) => l.includes(`${VIP6} > ${CLIENT6}: [icmp6 sum ok] ICMP6, destination unreachable, unreachable port, ${VIP6} udp port ${GONE}`)).length).toBeGreaterThan(0);
  expect(client.filter((l) => l.includes(RS6))).toEqual([]);
}

suite('wasmvsd gateway over IPv6: NAT and DR × VIP local or routed × checksum offload on or off', () => {
  afterEach(killChildren);

  it.each(cases)('%s, VIP %s, offload %s, %s: TCP, UDP and ICMPv6 errors through the service, clean stop', run);
});
