// `wasmvsd gateway --fast-path on` (fastpath.ts) in real namespaces: IPv4 NAT
// services, the VIP local on the director (as on every IPVS director) and only
// routed to it. TCP connections of several segments each way go through, byte
// for byte, scheduled round-robin by the core, while the gateway's counters
// show that only the first packet of each connection crossed userspace; the
// core's table knows every connection and lets it expire; nothing of ours is
// left after a clean stop, after SIGKILL + `--cleanup` or SIGKILL + restart;
// without nft the gateway says so and serves every packet in userspace.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, symlinkSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { inCI } from './prereq.js';
import { killChildren, sh } from './netns.js';
import { Topo, capture, VIP, RS, CLIENT } from './gw-topo.js';
import { missingGatewayPrereq, startGateway, startGatewayEnv, stopGateway, adm, exchange, udpExchange, summary, type Daemon } from './gw-daemon.js';
import { WASMVSD } from '../control/daemon.js';

const why = missingGatewayPrereq('nft');
if (why && !inCI) console.warn(`\n*** SKIPPING wasmvsd gateway fast path: ${why} ***\n`);
const suite = describe.skipIf(why !== null && !inCI);
const PORT = 8080, UDP_PORT = 5353, QUEUE = 640 + (process.pid % 200), CONNS = 12, SIZE = 20_000;

let topos = 0;
const fresh = () => new Topo(`gf${process.pid % 10000}x${topos++}`);

/** Our nftables table in the director, map elements included ('' when there is none). */
function nftTable(topo: Topo): string {
  const all = topo.in('director', 'nft', 'list', 'ruleset');
  const at = all.indexOf('table ip wasmvs_gw {');
  return at < 0 ? '' : all.slice(at, all.indexOf('\n}', at) + 2);
}

function services(topo: Topo): void {
  adm(topo, '-A', '-t', `${VIP}:${PORT}`, '-s', 'rr');
  for (const r of RS.slice(0, 2)) adm(topo, '-a', '-t', `${VIP}:${PORT}`, '-r', `${r}:${PORT}`, '-m');
  adm(topo, '-A', '-u', `${VIP}:${UDP_PORT}`, '-s', 'rr');
  adm(topo, '-a', '-u', `${VIP}:${UDP_PORT}`, '-r', `${RS[0]}:${UDP_PORT}`, '-m');
}

/** Polls (bounded) until `ok` holds. */
async function until(what: string, ok: () => boolean, tries = 100, ms = 100): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (ok()) return;
    await new Promise((r) => setTimeout(r, ms));
  }
  throw new Error(`timed out waiting for ${what}`);
}

suite('wasmvsd gateway --fast-path on: IPv4 NAT with only new flows in userspace', () => {
  afterEach(killChildren);

  it.each(['local', 'routed'] as const)('VIP %s: TCP byte-exact over round-robin, first packets only queued, conns in the core expire, clean stop', async (vip) => {
    if (why) throw new Error(`gateway fast path prerequisites missing in CI: ${why}`);
    const topo = fresh();
    let gw: Daemon | undefined;
    try {
      topo.setup('nat', { vip });
      gw = await startGateway(topo, QUEUE, '--fast-path', 'on');
      expect(gw.log()).toContain('fast path on for IPv4 NAT services');
      services(topo);
      adm(topo, '--set', '0', '0', '3'); // UDP connections expire after 3 s
      await until('the DNAT map', () => nftTable(topo).includes('table ip wasmvs_gw'));
      const toServer = await capture(topo, 'director', topo.dev.dirOut, 'tcp', `fast-${vip}`);
      const toClient = await capture(topo, 'director', topo.dev.dirIn, 'tcp', `fast-in-${vip}`);
      const tcp = await exchange(topo, '0.0.0.0', PORT, CONNS, SIZE);
      const wire = await toServer.stop();
      const back = await toClient.stop();
      // Byte-exact both ways (each reply echoes what the server got, "ok" when it equals what was
      // sent); the client only ever saw the VIP (replies de-NATed by conntrack).
      expect(tcp.sent).toHaveLength(CONNS);
      // Round-robin over the two real servers (which one first is the scheduler's business).
      const first = /^reply 0 (\S+) /.exec(tcp.replies[0] ?? '')?.[1] ?? 'none';
      const served = tcp.sent.map((_, i) => (i % 2 === 0 ? first : RS.slice(0, 2).find((r) => r !== first)!));
      expect(RS.slice(0, 2)).toContain(first);
      expect(tcp.replies).toEqual(served.map((s, i) => `reply ${i} ${s} ${VIP}:${PORT} ok`));
      // The kernel carried the flows: NATed requests and replies on the wire, the VIP never on the server side.
      expect(wire.filter((l) => l.includes(`${CLIENT}.`) && (l.includes(`> ${RS[0]}.${PORT}:`) || l.includes(`> ${RS[1]}.${PORT}:`))).length).toBeGreaterThan(CONNS * 5);
      expect(wire.filter((l) => l.includes(VIP))).toEqual([]);
      expect(back.filter((l) => l.includes(`${VIP}.${PORT} > ${CLIENT}.`)).length).toBeGreaterThan(CONNS * 3);
      // The core scheduled each connection and knows it.
      expect(adm(topo, '-L', '-n', '--stats', '--exact')).toMatch(new RegExp(`TCP\\s+${VIP}:${PORT}\\s+${CONNS}\\s`));
      expect(adm(topo, '-L', '-n', '-c').split('\n').filter((l) => l.includes(`${VIP}:${PORT}`))).toHaveLength(CONNS);
      // A real server deleted: its map entry goes (one nft transaction), new flows go to the other.
      adm(topo, '-d', '-t', `${VIP}:${PORT}`, '-r', `${RS[1]}:${PORT}`);
      await until('the deleted real server to leave the map', () => !nftTable(topo).includes(RS[1]) && nftTable(topo).includes(RS[0]));
      const after = await exchange(topo, '0.0.0.0', PORT, 2, 32);
      expect(after.replies).toEqual([0, 1].map((i) => `reply ${i} ${RS[0]} ${VIP}:${PORT} ok`));
      // UDP: through the kernel too; the core's connection expires on its own timeout.
      const udp = await udpExchange(topo, RS[0], UDP_PORT);
      expect(udp.got).toBe(`got ${udp.sent} for ${RS[0]} from ${CLIENT}`);
      expect(udp.reply).toBe(`udp-reply echo:${RS[0]}:${udp.sent} from ${VIP}:${UDP_PORT}`);
      expect(adm(topo, '-L', '-n', '-c')).toContain(`${VIP}:${UDP_PORT}`);
      await until('the UDP connection to expire in the core', () => !adm(topo, '-L', '-n', '-c').includes(`${VIP}:${UDP_PORT}`), 100, 200);
      const log = await stopGateway(gw);
      gw = undefined;
      const s = summary(log);
      // Only the first packet(s) of each flow were queued (SYNs, a retransmitted one at most, the datagram).
      const onWire = wire.length + back.length;
      console.log(`fast path, VIP ${vip}: ${JSON.stringify({ queued: s.packets, marked: s.fast_marked, onWire })}`);
      expect(s.fast_marked).toBeGreaterThanOrEqual(CONNS + 3);
      expect(s.packets).toBeGreaterThanOrEqual(CONNS + 3);
      expect(s.packets).toBeLessThanOrEqual(2 * (CONNS + 2) + 2);
      expect(onWire).toBeGreaterThan(10 * s.packets);
      expect(s.nl_errors).toBe(0);
      expect(s.failed_bursts).toBe(0);
      expect(topo.ownedState()).toEqual({ iptables: '', rules: '' });
      expect(nftTable(topo)).toBe('');
    } finally {
      if (gw) await stopGateway(gw);
      topo.teardown();
    }
  });

  it('without nft: a clear log line, every packet on the userspace path, and it still works', async () => {
    if (why) throw new Error(`gateway fast path prerequisites missing in CI: ${why}`);
    const topo = fresh();
    let gw: Daemon | undefined;
    try {
      topo.setup('nat', { vip: 'local' });
      // A PATH holding what the gateway runs, nft excepted.
      const bin = join(topo.tmp, 'bin');
      mkdirSync(bin);
      for (const t of ['ip', 'iptables', 'iptables-restore', 'iptables-save', 'ip6tables', 'ip6tables-restore', 'ip6tables-save']) {
        symlinkSync(sh('sh', '-c', `command -v ${t}`).trim(), join(bin, t));
      }
      gw = await startGatewayEnv(topo, QUEUE, { PATH: bin }, '--fast-path', 'on');
      expect(gw.log()).toContain('fast path off, falling back to the userspace path for every packet: nft (the nftables package) is not installed');
      services(topo);
      const tcp = await exchange(topo, '0.0.0.0', PORT, 2, SIZE);
      expect(tcp.replies.map((l) => l.replace(/ 198\.18\.41\.[23] /, ' RS '))).toEqual([0, 1].map((i) => `reply ${i} RS ${VIP}:${PORT} ok`));
      const s = summary(await stopGateway(gw));
      gw = undefined;
      expect(s.fast_marked).toBe(0);
      expect(s.packets).toBeGreaterThan(20); // every packet of both connections, both ways
      expect(topo.ownedState()).toEqual({ iptables: '', rules: '' });
    } finally {
      if (gw) await stopGateway(gw);
      topo.teardown();
    }
  });

  it('after SIGKILL: `--cleanup` removes the nftables table, and so does the next start', async () => {
    if (why) throw new Error(`gateway fast path prerequisites missing in CI: ${why}`);
    const topo = fresh();
    let gw: Daemon | undefined;
    const killed = async (first: boolean) => {
      gw = await startGateway(topo, QUEUE, '--fast-path', 'on');
      if (first) services(topo); // later starts restore them from the state file
      await until('the DNAT map', () => nftTable(topo).includes('table ip wasmvs_gw') && topo.ownedState().iptables.includes('ctstate NEW'));
      gw.proc.kill('SIGKILL');
      await gw.exited;
      gw = undefined;
      expect(nftTable(topo)).toContain('table ip wasmvs_gw');
    };
    try {
      topo.setup('nat', { vip: 'local' });
      await killed(true);
      const r = spawnSync('ip', ['netns', 'exec', topo.ns.director, process.execPath, WASMVSD, 'gateway', '--cleanup', '--socket', topo.socket],
        { encoding: 'utf8', timeout: 30_000 });
      expect(`${r.stdout}${r.stderr}`).toContain('removed the fast-path nftables table');
      expect(r.status).toBe(0);
      expect(nftTable(topo)).toBe('');
      expect(topo.ownedState()).toEqual({ iptables: '', rules: '' });
      // Killed again; a restart with the fast path off finds the table, removes it, and stops clean.
      await killed(false);
      gw = await startGateway(topo, QUEUE);
      expect(gw.log()).toContain('removed the fast-path nftables table a previous run left');
      await until('the restored services on the userspace path', () => topo.ownedState().iptables.includes('notrack'));
      expect(nftTable(topo)).toBe('');
      await stopGateway(gw);
      gw = undefined;
      expect(nftTable(topo)).toBe('');
      expect(topo.ownedState()).toEqual({ iptables: '', rules: '' });
    } finally {
      if (gw) await stopGateway(gw);
      topo.teardown();
    }
  });
});
