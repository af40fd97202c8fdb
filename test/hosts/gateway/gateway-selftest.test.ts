// The kernel's IPVS selftest (tools/testing/selftests/net/netfilter/ipvs.sh,
// reference §6) step by step, with `wasmvsd gateway` and `wasmvsadm` in
// place of the ip_vs module and ipvsadm. Same namespaces, links, names and
// order; the addresses move into 198.18.0.0/15:
//   client   10.0.0.2   → 198.18.10.2  (ns0, on br0 with veth01 and veth02)
//   director 10.0.0.1   → 198.18.10.1  (ns1 veth10), 172.16.0.1 → 198.18.16.1 (ns1 veth12)
//   server   172.16.0.2 → 198.18.16.2  (ns2 veth21), 10.0.0.3   → 198.18.10.3 (ns2 veth20)
//   VIP 207.175.44.110  → 198.18.44.110, port 8080
// Differences, each forced by this environment or by the design: no ipip
// module, so ns2's `tunl0` is a TUN device fed by a userspace decapsulator
// and ns1 needs none (the gateway encapsulates itself); the gateway turns
// ip_forward on while it runs (and restores it); socat timeouts are longer
// (10 s / 15 s instead of 2 s / 5 s) so a slow machine cannot fail the test.
// Success is the selftest's: the server's file equals the client's 32 bytes.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inCI } from './prereq.js';
import { killChildren, inNs, sh } from './netns.js';
import { Topo, DECAP, capture, waitLine } from './gw-topo.js';
import { missingGatewayPrereq, startGateway, stopGateway, adm, type Daemon } from './gw-daemon.js';

const why = missingGatewayPrereq('socat');
if (why && !inCI) console.warn(`\n*** SKIPPING wasmvsd gateway kernel-selftest replay: ${why} ***\n`);
const suite = describe.skipIf(why !== null && !inCI);

const cip = '198.18.10.2', gip = '198.18.10.1', dip = '198.18.16.1', rip = '198.18.16.2', sip = '198.18.10.3';
const vip = '198.18.44.110', port = '8080', QUEUE = 40 + (process.pid % 200);

/** ns0/ns1/ns2 under unique names; Topo supplies the temp dir, socket and teardown. */
class SelftestTopo extends Topo {
  constructor(tag: string) {
    super(tag);
    (this as { ns: Topo['ns'] }).ns = { client: `${tag}ns0`, director: `${tag}ns1`, server: `${tag}ns2` };
  }
}

function setup(t: SelftestTopo): void {
  const [ns0, ns1, ns2] = [t.ns.client, t.ns.director, t.ns.server];
  const x = (ns: string, ...a: string[]) => sh('ip', 'netns', 'exec', ns, ...a);
  t.teardown(false);
  for (const n of [ns0, ns1, ns2]) sh('ip', 'netns', 'add', n);
  for (const n of [ns0, ns1, ns2]) x(n, 'ip', 'link', 'set', 'lo', 'up');
  sh('ip', 'link', 'add', 'veth01', 'netns', ns0, 'type', 'veth', 'peer', 'name', 'veth10', 'netns', ns1);
  sh('ip', 'link', 'add', 'veth02', 'netns', ns0, 'type', 'veth', 'peer', 'name', 'veth20', 'netns', ns2);
  sh('ip', 'link', 'add', 'veth12', 'netns', ns1, 'type', 'veth', 'peer', 'name', 'veth21', 'netns', ns2);
  x(ns0, 'ip', 'link', 'set', 'veth01', 'up');
  x(ns0, 'ip', 'link', 'set', 'veth02', 'up');
  x(ns0, 'ip', 'link', 'add', 'br0', 'type', 'bridge');
  x(ns0, 'ip', 'link', 'set', 'veth01', 'master', 'br0');
  x(ns0, 'ip', 'link', 'set', 'veth02', 'master', 'br0');
  x(ns0, 'ip', 'link', 'set', 'br0', 'up');
  x(ns0, 'ip', 'addr', 'add', `${cip}/24`, 'dev', 'br0');
  x(ns1, 'ip', 'link', 'set', 'veth10', 'up');
  x(ns1, 'ip', 'addr', 'add', `${gip}/24`, 'dev', 'veth10');
  x(ns1, 'ip', 'link', 'set', 'veth12', 'up');
  x(ns1, 'ip', 'addr', 'add', `${dip}/24`, 'dev', 'veth12');
  x(ns2, 'ip', 'link', 'set', 'veth21', 'up');
  x(ns2, 'ip', 'addr', 'add', `${rip}/24`, 'dev', 'veth21');
  x(ns2, 'ip', 'link', 'set', 'veth20', 'up');
  x(ns2, 'ip', 'addr', 'add', `${sip}/24`, 'dev', 'veth20');
}

/** test_service: socat server in ns2 writing a file, socat client in ns0 sending 32 random bytes; cmp. */
async function testService(t: SelftestTopo): Promise<{ same: boolean; sent: Buffer; got: Buffer }> {
  const infile = join(t.tmp, 'in'), outfile = join(t.tmp, 'out');
  const sent = randomBytes(32);
  writeFileSync(infile, sent);
  writeFileSync(outfile, '');
  const server: ChildProcess = spawn('sh', ['-c', `exec ip netns exec ${t.ns.server} timeout 15 socat -u -4 TCP-LISTEN:${port},reuseaddr STDOUT > ${outfile}`], { stdio: 'ignore' });
  const serverDone = new Promise((r) => server.once('exit', r));
  // The selftest sleeps 0.2 s; here: wait (bounded) until the listener exists.
  for (let i = 0; i < 100 && !sh('ip', 'netns', 'exec', t.ns.server, 'ss', '-Hltn', `sport = :${port}`).trim(); i++) await new Promise((r) => setTimeout(r, 50));
  sh('sh', '-c', `ip netns exec ${t.ns.client} timeout 10 socat -u -4 STDIN TCP:${vip}:${port} < ${infile}`);
  await Promise.race([serverDone, new Promise((r) => setTimeout(r, 15_000))]);
  server.kill();
  const got = readFileSync(outfile);
  return { same: got.equals(sent), sent, got };
}

/** tcpdump on ns1's veth12 while `body` runs (the reference's extra check of the wire). */
async function onVeth12<T>(t: SelftestTopo, filter: string, body: () => Promise<T>): Promise<[T, string[]]> {
  const cap = await capture(t, 'director', 'veth12', filter, 'veth12');
  const r = await body();
  return [r, await cap.stop()];
}

suite('wasmvsd gateway: the kernel selftest ipvs.sh, step by step (VIP on the director\'s lo)', () => {
  let t: SelftestTopo;
  let gw: Daemon | undefined;
  let decap: ChildProcess | undefined;
  const ns = () => [t.ns.client, t.ns.director, t.ns.server];
  const x = (n: string, ...a: string[]) => sh('ip', 'netns', 'exec', n, ...a);
  const start = async () => {
    if (why) throw new Error(`gateway suite prerequisites missing in CI: ${why}`);
    t = new SelftestTopo(`st${process.pid % 10000}`);
    setup(t);
  };
  /** In place of the ip_vs module that the first ipvsadm call loads: the gateway in ns1, then wasmvsadm. */
  const ipvsadm = async (...args: string[]) => {
    gw ??= await startGateway(t, QUEUE);
    adm(t, ...args);
  };
  afterEach(async () => {
    if (gw) {
      const log = await stopGateway(gw);
      gw = undefined;
      expect(log).toMatch(/gateway: packets=\d+ forwarded=[1-9]/);
      expect(t.ownedState()).toEqual({ iptables: '', rules: '' });
    }
    decap?.kill();
    decap = undefined;
    killChildren();
    t?.teardown();
  });

  it('DR: the server gets the VIP-addressed frame at its MAC on veth12 and answers over veth20', async () => {
    await start();
    const [ns0, ns1, ns2] = ns();
    x(ns0, 'ip', 'route', 'add', vip, 'via', gip, 'dev', 'br0');
    x(ns1, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
    await ipvsadm('-A', '-t', `${vip}:${port}`, '-s', 'rr');
    await ipvsadm('-a', '-r', `${rip}:${port}`, '-t', `${vip}:${port}`);
    x(ns1, 'ip', 'addr', 'add', `${vip}/32`, 'dev', 'lo:1');
    x(ns2, 'sysctl', '-qw', 'net.ipv4.conf.all.arp_ignore=1');
    x(ns2, 'sysctl', '-qw', 'net.ipv4.conf.all.arp_announce=2');
    x(ns2, 'sysctl', '-qw', 'net.ipv4.conf.all.rp_filter=0');
    x(ns2, 'sysctl', '-qw', 'net.ipv4.conf.veth21.rp_filter=0');
    x(ns2, 'ip', 'addr', 'add', `${vip}/32`, 'dev', 'lo:1');
    const mac = x(ns2, 'cat', '/sys/class/net/veth21/address').trim();
    const [r, wire] = await onVeth12(t, 'tcp', () => testService(t));
    expect(r.got.toString('hex')).toBe(r.sent.toString('hex'));
    const toServer = wire.filter((l) => l.includes(`> ${vip}.${port}:`));
    expect(toServer.length).toBeGreaterThanOrEqual(3);
    for (const l of toServer) expect(l).toContain(`> ${mac},`);
    expect(wire.filter((l) => l.includes(`${vip}.${port} >`))).toEqual([]);
  });

  it('NAT: DNAT to the server on veth12, the reply SNATed back to the VIP; the server routes via the director', async () => {
    await start();
    const [ns0, ns1, ns2] = ns();
    x(ns0, 'ip', 'route', 'add', vip, 'via', gip, 'dev', 'br0');
    x(ns1, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
    await ipvsadm('-A', '-t', `${vip}:${port}`, '-s', 'rr');
    await ipvsadm('-a', '-r', `${rip}:${port}`, '-t', `${vip}:${port}`, '-m');
    x(ns1, 'ip', 'addr', 'add', `${vip}/32`, 'dev', 'lo:1');
    x(ns2, 'ip', 'link', 'del', 'veth20');
    x(ns2, 'ip', 'route', 'add', 'default', 'via', dip, 'dev', 'veth21');
    const [r, wire] = await onVeth12(t, 'tcp', () => testService(t));
    expect(r.got.toString('hex')).toBe(r.sent.toString('hex'));
    expect(wire.some((l) => l.includes(`${cip}.`) && l.includes(`> ${rip}.${port}:`))).toBe(true);
    expect(wire.some((l) => l.includes(`${rip}.${port} > ${cip}.`))).toBe(true);
    expect(wire.filter((l) => l.includes(vip))).toEqual([]);
    expect(adm(t, '-L', '-n', '-c')).toMatch(new RegExp(`TCP\\s+\\S+\\s+\\S+\\s+${cip}:\\d+\\s+${vip}:${port}\\s+${rip}:${port}`));
  });

  it('TUN: IP protocol 4 from 172.16.0.1 to 172.16.0.2 (here 198.18.16.x) on veth12, the inner packet still says VIP', async () => {
    await start();
    const [ns0, ns1, ns2] = ns();
    x(ns0, 'ip', 'route', 'add', vip, 'via', gip, 'dev', 'br0');
    // modprobe ipip; ip link set tunl0 up: not needed in ns1, the gateway encapsulates.
    x(ns1, 'sysctl', '-qw', 'net.ipv4.ip_forward=0');
    x(ns1, 'sysctl', '-qw', 'net.ipv4.conf.all.send_redirects=0');
    x(ns1, 'sysctl', '-qw', 'net.ipv4.conf.default.send_redirects=0');
    await ipvsadm('-A', '-t', `${vip}:${port}`, '-s', 'rr');
    await ipvsadm('-a', '-r', `${rip}:${port}`, '-t', `${vip}:${port}`, '-i');
    x(ns1, 'ip', 'addr', 'add', `${vip}/32`, 'dev', 'lo:1');
    decap = inNs(ns2, 'python3', [DECAP, 'tunl0']); // in place of modprobe ipip in ns2
    await waitLine(decap, (l) => l === 'ready', 10_000);
    x(ns2, 'ip', 'link', 'set', 'tunl0', 'up');
    x(ns2, 'sysctl', '-qw', 'net.ipv4.conf.all.arp_ignore=1');
    x(ns2, 'sysctl', '-qw', 'net.ipv4.conf.all.arp_announce=2');
    x(ns2, 'sysctl', '-qw', 'net.ipv4.conf.all.rp_filter=0');
    x(ns2, 'sysctl', '-qw', 'net.ipv4.conf.tunl0.rp_filter=0');
    x(ns2, 'sysctl', '-qw', 'net.ipv4.conf.veth21.rp_filter=0');
    x(ns2, 'ip', 'addr', 'add', `${vip}/32`, 'dev', 'lo:1');
    const [r, wire] = await onVeth12(t, 'ip proto 4 or tcp', () => testService(t));
    expect(r.got.toString('hex')).toBe(r.sent.toString('hex'));
    const ipip = wire.filter((l) => l.includes(`${dip} > ${rip}:`) && l.includes(`> ${vip}.${port}:`));
    expect(ipip.length).toBeGreaterThanOrEqual(3);
    expect(wire.filter((l) => l.includes(`${vip}.${port} >`))).toEqual([]);
  });
});
