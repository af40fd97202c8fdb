// `wasmvsd gateway` in every topology it supports: NAT, DR and TUN, each with
// the VIP held by the director (`ip addr add VIP/32 dev lo`, as on every IPVS
// director) and with a VIP the director only routes, each with the veths'
// checksum offload left on (partial checksums reach the director) and off.
// One fresh topology and daemon per combination; real wasmvsadm commands, TCP
// and UDP through the service, a capture on the director–server link, and
// nothing of the gateway's left in the director afterwards. wasmvsd's default
// puts NAT and DR on the fast path (only new flows queued; TUN never): every
// combination runs so, and NAT and DR once more with `--fast-path off`.
import { afterEach, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { inCI } from './prereq.js';
import { killChildren, inNs, sh } from './netns.js';
import { Topo, capture, VIP, RS, CLIENT, DIR_OUT, DECAP, waitLine, type Mode } from './gw-topo.js';
import { missingGatewayPrereq, startGateway, stopGateway, adm, exchange, udpExchange, summary, type Daemon } from './gw-daemon.js';

const why = missingGatewayPrereq();
if (why && !inCI) console.warn(`\n*** SKIPPING wasmvsd gateway topology matrix: ${why} ***\n`);
const suite = describe.skipIf(why !== null && !inCI);
const PORT = 8080, UDP_PORT = 5353, QUEUE = 30 + (process.pid % 200);
const FLAG: Record<Mode, string> = { nat: '-m', dr: '-g', tun: '-i' };

type Fast = 'fast path' | 'userspace path';
const cases: Array<[Mode, 'local' | 'routed', 'on' | 'off', Fast]> = [];
for (const mode of ['nat', 'dr', 'tun'] as const) {
  for (const vip of ['local', 'routed'] as const) for (const offload of ['on', 'off'] as const) cases.push([mode, vip, offload, 'fast path']);
}
// The userspace path for NAT and DR too (`--fast-path off`), offload on (the partial-checksum case).
for (const mode of ['nat', 'dr'] as const) for (const vip of ['local', 'routed'] as const) cases.push([mode, vip, 'on', 'userspace path']);

/** The director–server link as IPVS would put it on the wire, per method. */
function checkWire(mode: Mode, wire: string[], serverMac: string): void {
  if (mode === 'nat') {
    expect(wire.some((l) => l.includes(`${CLIENT}.`) && l.includes(`> ${RS[0]}.${PORT}:`))).toBe(true);
    expect(wire.some((l) => l.includes(`${RS[0]}.${PORT} > ${CLIENT}.`))).toBe(true);
    expect(wire.filter((l) => l.includes(VIP))).toEqual([]);
    return;
  }
  const toServer = wire.filter((l) => l.includes(`> ${VIP}.${PORT}:`));
  expect(toServer.length).toBeGreaterThanOrEqual(3);
  if (mode === 'dr') for (const l of toServer) expect(l).toContain(`> ${serverMac},`);
  else for (const l of toServer) expect(l).toContain(`${DIR_OUT} > ${RS[0]}:`);
  expect(wire.filter((l) => l.includes(`${VIP}.${PORT} >`))).toEqual([]); // replies bypass the director
}

let topos = 0;

/**
 * One combination from a fresh topology. strictRpf: the director's interfaces
 * filter reverse paths strictly (rp_filter=1, as some distributions ship).
 */
async function run(mode: Mode, vip: 'local' | 'routed', offload: 'on' | 'off', path: Fast = 'fast path', strictRpf = false): Promise<void> {
  if (why) throw new Error(`gateway suite prerequisites missing in CI: ${why}`);
  const topo = new Topo(`gm${process.pid % 10000}x${topos++}`);
  let gw: Daemon | undefined;
  let decap: ChildProcess | undefined;
  try {
    topo.setup(mode, { vip, offload });
    if (mode === 'tun') {
      decap = inNs(topo.ns.server, 'python3', [DECAP, `${topo.tag}t`]);
      await waitLine(decap, (l) => l === 'ready', 10_000);
      sh('ip', '-n', topo.ns.server, 'link', 'set', `${topo.tag}t`, 'up');
    }
    const rpf = ['all', 'default', topo.dev.dirIn, topo.dev.dirOut];
    if (strictRpf) for (const c of rpf) topo.in('director', 'sysctl', '-qw', `net.ipv4.conf.${c}.rp_filter=1`);
    gw = await startGateway(topo, QUEUE, ...(path === 'fast path' ? [] : ['--fast-path', 'off']));
    expect(gw.log()).toContain(path === 'fast path' ? 'fast path on for IPv4 and IPv6 NAT and DR services' : 'fast path off (--fast-path off)');
    const rs = mode === 'nat' ? `${RS[0]}:${PORT}` : RS[0];
    adm(topo, '-A', '-t', `${VIP}:${PORT}`, '-s', 'rr');
    adm(topo, '-a', '-t', `${VIP}:${PORT}`, '-r', rs, FLAG[mode]);
    adm(topo, '-A', '-u', `${VIP}:${UDP_PORT}`, '-s', 'rr');
    adm(topo, '-a', '-u', `${VIP}:${UDP_PORT}`, '-r', mode === 'nat' ? `${RS[0]}:${UDP_PORT}` : RS[0], FLAG[mode]);
    const served = mode === 'nat' ? RS[0] : VIP;
    const mac = topo.in('server', 'cat', `/sys/class/net/${topo.dev.server}/address`).trim();
    const cap = await capture(topo, 'director', topo.dev.dirOut, mode === 'tun' ? 'ip proto 4 or tcp' : 'tcp', `${mode}-${vip}-${offload}`);
    const arriving = await capture(topo, 'director', topo.dev.dirIn, `tcp and dst host ${VIP}`, `in-${mode}-${vip}-${offload}`);
    // Two small exchanges, then one of several full-size segments (TUN: frag-needed, then a smaller MSS).
    const small = await exchange(topo, served, PORT, 2, 32);
    const big = await exchange(topo, served, PORT, 1, 6000);
    const wire = await cap.stop();
    // With offload on the client's segments reach the director with partial checksums
    // (tcpdump: "incorrect"); with it off every checksum is complete.
    const sums = (await arriving.stop(true)).filter((l) => l.includes('cksum'));
    expect(sums.length).toBeGreaterThan(5);
    expect(sums.some((l) => l.includes('incorrect'))).toBe(offload === 'on');
    expect(small.got).toEqual(small.sent.map((s) => `got ${s} for ${served} from ${CLIENT}`));
    expect(small.replies).toEqual([0, 1].map((i) => `reply ${i} ${served} ${VIP}:${PORT} ok`));
    expect(big.replies).toEqual([`reply 0 ${served} ${VIP}:${PORT} ok`]);
    checkWire(mode, wire, mac);
    const udp = await udpExchange(topo, served, UDP_PORT);
    expect(udp.got).toBe(`got ${udp.sent} for ${served} from ${CLIENT}`);
    expect(udp.reply).toBe(`udp-reply echo:${served}:${udp.sent} from ${VIP}:${UDP_PORT}`);
    expect(adm(topo, '-L', '-n', '--stats', '--exact')).toMatch(new RegExp(`TCP\\s+${VIP}:${PORT}\\s+3\\s`));
    // The fast path's nftables table: NAT's real server in the DNAT map, DR's VIP in the flow maps'
    // set; a TUN service in neither (its flows are never captured); no table with the userspace path.
    let table = '';
    try { table = topo.in('director', 'nft', 'list', 'table', 'ip', 'wasmvs_gw'); } catch { /* none */ }
    if (path === 'userspace path') expect(table).toBe('');
    else if (mode === 'nat') expect(table).toContain(`${RS[0]} . ${PORT}`);
    else if (mode === 'dr') expect(table).toContain(`${VIP} . tcp . ${PORT}`);
    else expect(table).not.toMatch(/198\.18\.4[12]\./);
    const log = await stopGateway(gw);
    gw = undefined;
    const s = summary(log);
    // Fast path: NAT and DR flows marked by the core and carried by the kernel; TUN never (every
    // packet of its flows crossed the core). Userspace path: nothing marked.
    if (path === 'fast path' && mode === 'nat') expect(s.fast_marked).toBeGreaterThanOrEqual(4);
    else expect(s.fast_marked).toBe(0); // DR's verdicts are the core's own marks, never turned
    if (mode === 'tun') expect(s.forwarded).toBeGreaterThan(8);
    if (path === 'fast path' && mode === 'nat') expect(s.replies).toBe(0);
    expect(s.nl_errors).toBe(0);
    expect(s.failed_bursts).toBe(0);
    expect(topo.ownedState()).toEqual({ iptables: '', rules: '' });
    for (const k of ['ip_forward', 'conf.all.accept_local']) expect(topo.in('director', 'sysctl', '-n', `net.ipv4.${k}`).trim()).toBe('0');
    for (const c of rpf) expect(topo.in('director', 'sysctl', '-n', `net.ipv4.conf.${c}.rp_filter`).trim()).toBe(strictRpf ? '1' : '0');
  } finally {
    if (gw) await stopGateway(gw);
    decap?.kill();
    topo.teardown();
  }
}

suite('wasmvsd gateway: every method × VIP local or routed × checksum offload on or off', () => {
  afterEach(killChildren);

  it.each(cases)('%s, VIP %s, offload %s, %s: TCP and UDP through the service, IPVS wire format, clean stop', run);

  // A director whose VIP is local and whose distribution filters reverse paths strictly:
  // nothing the gateway rewrites may look like a martian or arrive on the "wrong" interface.
  it.each(['nat', 'dr', 'tun'] as const)('%s, VIP local, strict rp_filter on the director: works, the sysctls come back as they were',
    (mode) => run(mode, 'local', 'on', 'fast path', true));
});
