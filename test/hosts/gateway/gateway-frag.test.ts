// Fragments and big packets through `wasmvsd gateway` (the big-packet hardening).
// IPVS balances the reassembled datagram (nf_defrag runs at PREROUTING
// before any rule) and the kernel fragments it again on output; packets up
// to what NFQUEUE copies (65,531 bytes) go through whole. Real namespaces,
// real daemons, real fragmented UDP from a client with MTU 1500; a jumbo
// (MTU 9000) topology with TSO on, where 9,000-byte segments and datagrams
// cross the queue; a 1500-byte topology with TSO on for bulk TCP.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { inCI } from './prereq.js';
import { killChildren, sh } from './netns.js';
import { Topo, capture, VIP, RS, CLIENT, type Mode } from './gw-topo.js';
import { missingGatewayPrereq, startGateway, stopGateway, adm, exchange, udpExchange, summary, type Daemon } from './gw-daemon.js';

const why = missingGatewayPrereq();
if (why && !inCI) console.warn(`\n*** SKIPPING gateway fragments/jumbo suite: ${why} ***\n`);
const suite = describe.skipIf(why !== null && !inCI);
const PORT = 8080, UDP_PORT = 5353, QUEUE = 40 + (process.pid % 200);
const topo = new Topo(`fr${process.pid % 100000}`);
const FLAG: Record<Mode, string> = { nat: '-m', dr: '-g', tun: '-i' };

function setup(mode: Mode, mtu = 1500): void {
  if (why) throw new Error(`gateway suite prerequisites missing in CI: ${why}`);
  topo.setup(mode);
  if (mtu === 1500) return;
  const t = topo.tag;
  const links: Array<[keyof Topo['ns'], string]> = [['client', `${t}c0`], ['client', topo.dev.client], ['director', topo.dev.dirIn],
    ['director', topo.dev.dirOut], ['server', topo.dev.server]];
  if (mode !== 'nat') links.push(['client', `${t}c1`], ['server', `${t}s0`]);
  for (const [ns, dev] of links) sh('ip', '-n', topo.ns[ns], 'link', 'set', dev, 'mtu', String(mtu));
}

/** One UDP datagram of `size` bytes to VIP:UDP_PORT and its echo (twice the size and more, so fragmented too). */
async function udpBig(listen: string, size: number) {
  const r = await udpExchange(topo, listen, UDP_PORT, size);
  expect(r.sent.length).toBe(2 * size);
  return r;
}

for (const mode of ['nat', 'dr'] as const) {
  suite(`wasmvsd gateway: fragmented UDP, ${mode.toUpperCase()}`, () => {
    let gw: Daemon;
    const served = mode === 'nat' ? RS[0] : VIP;
    beforeAll(async () => {
      setup(mode);
      gw = await startGateway(topo, QUEUE);
      adm(topo, '-A', '-u', `${VIP}:${UDP_PORT}`, '-s', 'rr');
      adm(topo, '-a', '-u', `${VIP}:${UDP_PORT}`, '-r', mode === 'nat' ? `${RS[0]}:${UDP_PORT}` : RS[0], FLAG[mode]);
    });
    afterEach(killChildren);
    afterAll(async () => { if (gw) await stopGateway(gw); topo.teardown(); });

    it('a 6,000-byte datagram from a 1500-MTU client is balanced whole and fragmented again; the 12 KB echo comes back from the VIP', async () => {
      const cap = await capture(topo, 'director', topo.dev.dirOut, 'udp or ip[6:2] & 0x3fff != 0', `frag-${mode}`);
      const r = await udpBig(served, 6000);
      const wire = await cap.stop();
      expect(r.got).toBe(`got ${r.sent} for ${served} from ${CLIENT}`);
      expect(r.reply).toBe(`udp-reply echo:${served}:${r.sent} from ${VIP}:${UDP_PORT}`);
      // What left the director towards the server: fragments of at most 1500 bytes.
      const lens = wire.filter((l) => l.includes(`${CLIENT}`) && l.includes(mode === 'nat' ? RS[0] : VIP)).map((l) => Number(/length (\d+)/.exec(l)?.[1]));
      expect(lens.length).toBeGreaterThanOrEqual(5);
      for (const n of lens) expect(n).toBeLessThanOrEqual(1514);
      if (mode === 'nat') expect(adm(topo, '-L', '-n', '-c')).toMatch(new RegExp(`UDP\\s+\\S+\\s+UDP\\s+${CLIENT}:\\d+\\s+${VIP}:${UDP_PORT}\\s+${RS[0]}:${UDP_PORT}`));
      const s = summary(await stopGateway(gw));
      gw = undefined as unknown as Daemon;
      expect(s.truncated).toBe(0);
      expect(s.forwarded).toBeGreaterThanOrEqual(1);
      expect(topo.ownedState()).toEqual({ iptables: '', rules: '' });
    });
  });
}

// The two suites below are about what crosses the queue (whole jumbo and GSO packets): the userspace
// path, which wasmvsd's fast path (the default) would spare all but the first packets of a TCP flow.
suite('wasmvsd gateway: jumbo frames (MTU 9000, TSO on), NAT', () => {
  let gw: Daemon;
  beforeAll(async () => {
    setup('nat', 9000);
    gw = await startGateway(topo, QUEUE, '--fast-path', 'off');
    adm(topo, '-A', '-u', `${VIP}:${UDP_PORT}`, '-s', 'rr');
    adm(topo, '-a', '-u', `${VIP}:${UDP_PORT}`, '-r', `${RS[0]}:${UDP_PORT}`, '-m');
    adm(topo, '-A', '-t', `${VIP}:${PORT}`, '-s', 'rr');
    adm(topo, '-a', '-t', `${VIP}:${PORT}`, '-r', `${RS[0]}:${PORT}`, '-m');
  });
  afterEach(killChildren);
  afterAll(async () => { if (gw) await stopGateway(gw); topo.teardown(); });

  it('an 8,900-byte datagram crosses whole; its 17 KB echo is fragmented at 9000 and comes back from the VIP', async () => {
    const cap = await capture(topo, 'director', topo.dev.dirOut, `udp and host ${RS[0]}`, 'jumbo-udp');
    const r = await udpBig(RS[0], 8900);
    const wire = await cap.stop();
    expect(r.got).toBe(`got ${r.sent} for ${RS[0]} from ${CLIENT}`);
    expect(r.reply).toBe(`udp-reply echo:${RS[0]}:${r.sent} from ${VIP}:${UDP_PORT}`);
    expect(wire.filter((l) => l.includes(`> ${RS[0]}.${UDP_PORT}:`)).map((l) => l.replace(/^.*length (\d+): .*$/, '$1'))).toEqual(['8942']);
  });

  it('bulk TCP with TSO: 400 KB each way intact, jumbo segments and GSO super-packets through the queue', async () => {
    const cap = await capture(topo, 'director', topo.dev.dirOut, `tcp and host ${RS[0]}`, 'jumbo-tcp');
    const r = await exchange(topo, RS[0], PORT, 1, 400_000);
    const wire = await cap.stop();
    expect(r.replies).toEqual([`reply 0 ${RS[0]} ${VIP}:${PORT} ok`]);
    const big = wire.filter((l) => l.includes(`> ${RS[0]}.${PORT}:`) && Number(/length (\d+)/.exec(l)?.[1]) > 4076);
    // How many depends on how GSO aggregated them (a 64 KB super-packet counts once): judge
    // the bytes they carried — most of the 400 KB crossed in packets above the old stride.
    const bigBytes = big.reduce((a, l) => a + Number(/length (\d+)/.exec(l)![1]), 0);
    expect(bigBytes).toBeGreaterThan(200_000);
    const s = summary(await stopGateway(gw));
    gw = undefined as unknown as Daemon;
    expect(s.truncated).toBe(0);
    expect(s.nl_errors).toBe(0);
  });
});

suite('wasmvsd gateway: bulk TCP with TSO and checksum offload on (MTU 1500), NAT and DR', () => {
  let gw: Daemon;
  beforeAll(async () => {
    setup('dr');
    // In the DR topology the NAT real server's replies (from its own address) go back through the director.
    sh('ip', '-n', topo.ns.server, 'rule', 'add', 'from', RS[1], 'lookup', '100');
    sh('ip', '-n', topo.ns.server, 'route', 'add', 'default', 'via', '198.18.41.1', 'table', '100');
    gw = await startGateway(topo, QUEUE, '--fast-path', 'off');
    adm(topo, '-A', '-t', `${VIP}:${PORT}`, '-s', 'rr');
    adm(topo, '-a', '-t', `${VIP}:${PORT}`, '-r', RS[0], '-g');
    adm(topo, '-A', '-t', `${VIP}:8081`, '-s', 'rr');
    adm(topo, '-a', '-t', `${VIP}:8081`, '-r', `${RS[1]}:8081`, '-m');
  });
  afterEach(killChildren);
  afterAll(async () => { if (gw) await stopGateway(gw); topo.teardown(); });

  it('400 KB each way intact through DR and through NAT', async () => {
    const dr = await exchange(topo, VIP, PORT, 1, 400_000);
    expect(dr.replies).toEqual([`reply 0 ${VIP} ${VIP}:${PORT} ok`]);
    const nat = await exchange(topo, RS[1], 8081, 1, 400_000);
    expect(nat.replies).toEqual([`reply 0 ${RS[1]} ${VIP}:8081 ok`]);
    // GRO/TSO super-packets cross the queue whole (NFQA_CFG_F_GSO): 1.2 MB of data in 1448-byte
    // segments alone would be over 800 packets.
    const s = summary(await stopGateway(gw));
    gw = undefined as unknown as Daemon;
    expect(s.packets).toBeLessThan(600);
    expect(s.truncated).toBe(0);
  });
});

suite('wasmvsd gateway: a jumbo client and a 1500-MTU real server, NAT (ICMP frag-needed as IPVS sends it)', () => {
  let gw: Daemon;
  beforeAll(async () => {
    setup('nat', 9000);
    sh('ip', '-n', topo.ns.director, 'link', 'set', topo.dev.dirOut, 'mtu', '1500');
    sh('ip', '-n', topo.ns.server, 'link', 'set', topo.dev.server, 'mtu', '1500');
    gw = await startGateway(topo, QUEUE);
    adm(topo, '-A', '-u', `${VIP}:${UDP_PORT}`, '-s', 'rr');
    adm(topo, '-a', '-u', `${VIP}:${UDP_PORT}`, '-r', `${RS[0]}:${UDP_PORT}`, '-m');
  });
  afterEach(killChildren);
  afterAll(async () => { if (gw) await stopGateway(gw); topo.teardown(); });

  it('an 8,000-byte DF datagram is answered with frag-needed (MTU 1500) about the VIP: the client learns the path MTU', async () => {
    // IP_MTU_DISCOVER = IP_PMTUDISC_DO: DF on every datagram, EMSGSIZE once the path MTU is known.
    const py = 'import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.setsockopt(socket.IPPROTO_IP,10,2)\n' +
      `s.connect(('${VIP}',${UDP_PORT}))\nfor i in range(10):\n  try:\n    s.send(b'x'*8000)\n  except OSError as e:\n    print('refused', e.errno); break\n` +
      '  time.sleep(0.3)\nprint(\'mtu\', s.getsockopt(socket.IPPROTO_IP,14))\n';
    const out = topo.in('client', 'python3', '-c', py).trim().split('\n');
    // The client's kernel takes the error only if it quotes the datagram it sent (to the VIP).
    expect(out).toEqual(['refused 90', 'mtu 1500']);
    const s = summary(await stopGateway(gw));
    gw = undefined as unknown as Daemon;
    expect(s.icmp_sent).toBeGreaterThanOrEqual(1);
  });
});
