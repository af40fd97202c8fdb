// End to end through the real kernel, modelled on the selftest's topology
// (reference §6) with 198.18.0.0/15 addresses: client -> director (NFQUEUE in
// mangle PREROUTING, the core decides, the addon reinjects) -> real server.
// NAT: the core rewrites both ways and the client/server TCP stacks verify
// every checksum it produced (rx checksum offload is off on their veths).
// DR: the packet keeps VIP as destination and a verdict mark routes it to
// the real server, which holds the VIP on lo. The child gateway runs the
// production burst path (gwBurst), so the mark is the real server's own. TUN: the core wraps the packet
// in IPIP to the real server, where a userspace decapsulator (no ipip module
// here) feeds the inner packet to a TUN device.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { layout } from '../../../sdk/core/abi.gen.js';
import { missingNfqPrereq, inCI } from './prereq.js';
import { sh, inNs, waitLine, killChildren } from './netns.js';

const missing = missingNfqPrereq();
if (missing && !inCI) console.warn(`\n*** SKIPPING gateway namespace suite: ${missing} ***\n`);
const tag = `wg${process.pid % 100000}`;
const ns = { client: `${tag}c`, director: `${tag}d`, server: `${tag}r` };
const VIP = '198.18.42.1', RS = '198.18.41.2', PORT = 8080, TABLE = '142';
const inDirector = (...args: string[]) => sh('ip', 'netns', 'exec', ns.director, ...args);

function teardown(): void {
  for (const n of Object.values(ns)) {
    try {
      sh('ip', 'netns', 'del', n);
    } catch {
      // not there: nothing to remove
    }
  }
}

type Mode = 'nat' | 'dr' | 'tun';

function setup(mode: Mode): void {
  teardown();
  for (const n of Object.values(ns)) {
    sh('ip', 'netns', 'add', n);
    sh('ip', '-n', n, 'link', 'set', 'lo', 'up');
  }
  sh('ip', 'link', 'add', `${tag}0`, 'netns', ns.client, 'type', 'veth', 'peer', 'name', `${tag}1`, 'netns', ns.director);
  sh('ip', 'link', 'add', `${tag}2`, 'netns', ns.director, 'type', 'veth', 'peer', 'name', `${tag}3`, 'netns', ns.server);
  const ifs: Array<[string, string, string]> = [
    [ns.client, `${tag}0`, '198.18.40.2/24'], [ns.director, `${tag}1`, '198.18.40.1/24'],
    [ns.director, `${tag}2`, '198.18.41.1/24'], [ns.server, `${tag}3`, `${RS}/24`],
  ];
  for (const [n, dev, a] of ifs) {
    sh('ip', '-n', n, 'addr', 'add', a, 'dev', dev);
    sh('ip', '-n', n, 'link', 'set', dev, 'up');
  }
  // veth marks unchecked packets CHECKSUM_UNNECESSARY; with rx checksumming
  // off the client and the real server verify every checksum in software.
  sh('ip', 'netns', 'exec', ns.client, 'ethtool', '-K', `${tag}0`, 'rx', 'off');
  sh('ip', 'netns', 'exec', ns.server, 'ethtool', '-K', `${tag}3`, 'rx', 'off');
  sh('ip', '-n', ns.client, 'route', 'add', `${VIP}/32`, 'via', '198.18.40.1');
  sh('ip', '-n', ns.server, 'route', 'add', 'default', 'via', '198.18.41.1');
  inDirector('sysctl', '-qw', 'net.ipv4.ip_forward=1');
  const queue = (...match: string[]) =>
    inDirector('iptables', '-t', 'mangle', '-A', 'PREROUTING', '-p', 'tcp', ...match, '-j', 'NFQUEUE', '--queue-num', '9');
  queue('-d', VIP, '--dport', String(PORT));
  if (mode === 'nat') {
    queue('-s', RS, '--sport', String(PORT));
  } else {
    sh('ip', '-n', ns.server, 'addr', 'add', `${VIP}/32`, 'dev', 'lo');
  }
  if (mode === 'dr') sh('ip', '-n', ns.director, 'route', 'add', 'default', 'via', RS, 'table', TABLE);
  if (mode === 'tun') {
    // The decapsulated packet arrives on the TUN device from a client routed elsewhere.
    for (const c of ['all', 'default']) sh('ip', 'netns', 'exec', ns.server, 'sysctl', '-qw', `net.ipv4.conf.${c}.rp_filter=0`);
    // The rewritten packet re-enters the director's routing at PREROUTING with
    // the director's own address as outer source: without accept_local it is
    // a martian and dropped.
    for (const c of ['all', `${tag}1`]) inDirector('sysctl', '-qw', `net.ipv4.conf.${c}.accept_local=1`);
  }
}

async function exchange(mode: Mode, gso: boolean) {
  const listen = mode === 'nat' ? RS : VIP;
  const server = inNs(ns.server, process.execPath, ['-e',
    `const s=require('net').createServer(c=>{let b=Buffer.alloc(0);c.on('data',d=>{b=Buffer.concat([b,d]);if(b.length>=32){c.end('echo:'+b.toString('hex'));console.log('got '+b.toString('hex')+' for '+c.localAddress);s.close()}})});` +
    `s.listen(${PORT},'${listen}',()=>console.log('ready'));setTimeout(()=>process.exit(3),20000).unref()`]);
  await waitLine(server, (l) => l === 'ready', 10_000);
  const cfg = JSON.stringify({ layout, mode, vip: VIP, rs: RS, port: PORT, queue: 9, gso, tunSrc: '198.18.41.1', mtu: 1500 });
  const gw = inNs(ns.director, process.execPath, [fileURLToPath(new URL('./gateway-child.mjs', import.meta.url)), cfg]);
  const ready = await waitLine(gw, (l) => l.startsWith('ready '), 10_000);
  // DR: the verdict mark the core derives from the real server's id selects its routing table.
  if (mode === 'dr') sh('ip', '-n', ns.director, 'rule', 'add', 'fwmark', ready.split(' ')[1], 'table', TABLE);
  const data = randomBytes(32).toString('hex');
  const got = waitLine(server, (l) => l.startsWith('got '), 15_000);
  const reply = sh('ip', 'netns', 'exec', ns.client, process.execPath, '-e',
    `const c=require('net').connect(${PORT},'${VIP}',()=>c.write(Buffer.from('${data}','hex')));let r='';` +
    `c.on('data',d=>r+=d);c.on('end',()=>{console.log(r+' from '+c.remoteAddress+':'+c.remotePort);c.destroy()});setTimeout(()=>process.exit(4),10000).unref()`);
  const stats = waitLine(gw, (l) => l.startsWith('{'), 10_000);
  const received = await got;
  gw.stdin?.write('stop\n');
  return { data, received, reply: reply.trim(), s: JSON.parse(await stats) as Record<string, number> };
}

describe.skipIf(missing !== null && !inCI)('gateway NAT through the core and the addon', () => {
  beforeAll(() => {
    if (missing) throw new Error(`gateway suite prerequisites missing in CI: ${missing}`);
    setup('nat');
  });
  afterEach(killChildren);
  afterAll(teardown);

  // gso: false -> the kernel completes checksums before queueing; gso: true ->
  // packets from the client's socket arrive CHECKSUM_PARTIAL and the core completes them.
  it.each([false, true])('gso %s: bytes reach the real server intact, the reply comes back from VIP:port', async (gso) => {
    const { data, received, reply, s } = await exchange('nat', gso);
    expect(received).toBe(`got ${data} for ${RS}`);
    expect(reply).toBe(`echo:${data} from ${VIP}:${PORT}`);
    expect(s.in).toBeGreaterThanOrEqual(3); // SYN, ACK, data (+ FIN/ACKs)
    expect(s.out).toBeGreaterThanOrEqual(2);
    expect(s.forwarded).toBe(s.in + s.out);
    expect(s.dropped).toBe(0);
    expect(s.nlErrors).toBe(0);
    if (gso) expect(s.partial).toBeGreaterThan(0);
    else expect(s.partial).toBe(0);
  });
});

describe.skipIf(missing !== null && !inCI)('gateway DR through the core and the addon', () => {
  beforeAll(() => {
    if (missing) throw new Error(`gateway suite prerequisites missing in CI: ${missing}`);
    setup('dr');
  });
  afterEach(killChildren);
  afterAll(teardown);

  it('the real server receives the packets still addressed to the VIP, via the verdict mark', async () => {
    const { data, received, reply, s } = await exchange('dr', true);
    expect(received).toBe(`got ${data} for ${VIP}`);
    expect(reply).toBe(`echo:${data} from ${VIP}:${PORT}`);
    expect(s.in).toBeGreaterThanOrEqual(3);
    expect(s.out).toBe(0); // replies do not come through the queue in DR
    expect(s.forwarded).toBe(s.in);
    expect(s.nlErrors).toBe(0);
  });
});

describe.skipIf(missing !== null && !inCI)('gateway TUN through the core and the addon', () => {
  beforeAll(() => {
    if (missing) throw new Error(`gateway suite prerequisites missing in CI: ${missing}`);
    setup('tun');
  });
  afterEach(killChildren);
  afterAll(teardown);

  it('the real server gets IP protocol 4 from the director and the inner packet still says VIP', async () => {
    const decap = inNs(ns.server, 'python3', [fileURLToPath(new URL('./ipip-decap.py', import.meta.url)), `${tag}t`]);
    await waitLine(decap, (l) => l === 'ready', 10_000);
    sh('ip', '-n', ns.server, 'link', 'set', `${tag}t`, 'up');
    const firstDecap = waitLine(decap, (l) => l.startsWith('decap '), 15_000);
    const { data, received, reply, s } = await exchange('tun', false);
    expect(received).toBe(`got ${data} for ${VIP}`);
    expect(reply).toBe(`echo:${data} from ${VIP}:${PORT}`);
    expect(await firstDecap).toMatch(new RegExp(`^decap proto=4 src=198\\.18\\.41\\.1 dst=${RS.replace(/\./g, '\\.')} inner_dst=${VIP.replace(/\./g, '\\.')} len=\\d+$`));
    expect(s.in).toBeGreaterThanOrEqual(3);
    expect(s.forwarded).toBe(s.in);
    expect(s.nlErrors).toBe(0);
  });
});
