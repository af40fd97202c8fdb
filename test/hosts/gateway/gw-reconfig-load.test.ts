// Real servers added, quiesced and deleted while a `wasmvsd gateway` is busy,
// as a health checker does (ldirectord, keepalived): NAT with the fast path on
// and off, DR with it on, the VIP on the director's lo: no client sees it. A client keeps 48
// short connections in flight through the director while the test changes the
// service six times; every connection completes (none reset, none left
// without an answer), every added real server serves some, and the queue's
// verdicts all reach the kernel (nl_errors=0).
//
// What this guards: the rules that carry a new real server's flows are
// installed in the background after the core already schedules to it. A
// connection sent there meanwhile left with no DNAT map element for its
// mark (fast path) or no queued replies (userspace path) and was reset on its
// next SYN; and each change deleted the fast path's empty DR base chains,
// whose unregistered hook made the kernel drop every queued packet
// (nf_queue_nf_hook_drop). Now such a verdict waits for its rules
// (hosts/gateway/held.ts) and no change unregisters a hook it does not need to.
import { afterEach, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { writeFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { inCI } from './prereq.js';
import { inNs, killChildren, waitLine } from './netns.js';
import { Topo, VIP, RS } from './gw-topo.js';
import { missingGatewayPrereq, startGateway, stopGateway, adm, summary, type Daemon } from './gw-daemon.js';
import { reuseClient, until } from './gw-talk.js';

const why = missingGatewayPrereq('nft');
if (why && !inCI) console.warn(`\n*** SKIPPING wasmvsd gateway reconfiguration under load: ${why} ***\n`);
const suite = describe.skipIf(why !== null && !inCI);
const QUEUE = 450 + (process.pid % 150), PORT = 8080, PORT2 = 8081;
// Each change is acknowledged once the gateway's rules carry it (0.15-0.3 s under this load, with
// wasmvsadm's start, seconds on a loaded machine), so the load goes on until the test ends it, AFTER
// more connections past its last change: it has never ended before the last change is made.
const TOTAL = 12000, INFLIGHT = 48, AFTER = 3000;
const PEER = fileURLToPath(new URL('./gw-load-peer.mjs', import.meta.url));

let topos = 0;

interface LoadResult { total: number; ok: number; failed: number; timeouts: number; errors: Record<string, number>; served: Record<string, number> }

/** The load client's lines as they come; waits for "done N" with N >= `n`, bounded. */
function progress(client: ChildProcess) {
  const lines: string[] = [];
  let buf = '';
  client.stdout!.on('data', (d) => {
    buf += d;
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  const done = () => Math.max(0, ...lines.filter((l) => l.startsWith('done ')).map((l) => Number(l.slice(5))));
  return {
    async reach(n: number): Promise<void> {
      for (let i = 0; i < 600 && done() < n && !lines.some((l) => l.startsWith('{')); i++) await new Promise((r) => setTimeout(r, 50));
    },
    async result(): Promise<LoadResult> {
      for (let i = 0; i < 1200 && !lines.some((l) => l.startsWith('{')); i++) await new Promise((r) => setTimeout(r, 50));
      const l = lines.find((x) => x.startsWith('{'));
      if (!l) throw new Error(`load client gave no result: ${lines.slice(-5).join(' | ')}`);
      return JSON.parse(l) as LoadResult;
    },
  };
}

suite.each([['nat', 'on'], ['nat', 'off'], ['dr', 'on']] as const)('wasmvsd gateway %s --fast-path %s: real servers changed under load', (mode, fast) => {
  afterEach(killChildren);

  it('added, quiesced and deleted while 48 connections are in flight: every connection completes, every new server serves', async () => {
    const topo = new Topo(`gr${process.pid % 10000}x${topos++}`);
    let gw: Daemon | null = null;
    const m = mode === 'nat' ? '-m' : '-g';
    try {
      topo.setup(mode, { vip: 'local' });
      // DR: the real servers share the server namespace (one MAC) and answer from the VIP, so where a
      // connection landed cannot be seen; every change still needs its route (held.ts holds DR marks too).
      const servers = mode === 'nat'
        ? RS.map((r) => inNs(topo.ns.server, process.execPath, [PEER, 'servers', r, `${PORT},${PORT2}`]))
        : [inNs(topo.ns.server, process.execPath, [PEER, 'servers', VIP, String(PORT)])];
      await Promise.all(servers.map((s) => waitLine(s, (l) => l === 'ready', 10_000)));
      gw = await startGateway(topo, QUEUE, '--fast-path', fast);
      adm(topo, '-A', '-t', `${VIP}:${PORT}`, '-s', 'rr');
      for (const r of RS.slice(0, 2)) adm(topo, '-a', '-t', `${VIP}:${PORT}`, '-r', `${r}:${PORT}`, m);

      const client = inNs(topo.ns.client, process.execPath, [PEER, 'load', VIP, String(PORT), String(TOTAL), String(INFLIGHT)]);
      const p = progress(client);
      // Six changes, each while connections are in flight; the deletion after the quiesced server's last ones ended.
      const steps: Array<[number, string[]]> = mode === 'nat' ? [
        [500, ['-a', '-t', `${VIP}:${PORT}`, '-r', `${RS[2]}:${PORT}`, m]],
        [1200, ['-a', '-t', `${VIP}:${PORT}`, '-r', `${RS[0]}:${PORT2}`, m]],
        [1900, ['-a', '-t', `${VIP}:${PORT}`, '-r', `${RS[1]}:${PORT2}`, m]],
        [2600, ['-e', '-t', `${VIP}:${PORT}`, '-r', `${RS[2]}:${PORT}`, m, '-w', '0']],
        [3300, ['-d', '-t', `${VIP}:${PORT}`, '-r', `${RS[2]}:${PORT}`]],
        // The last with thousands of connections still to come, however slow wasmvsadm is on a loaded machine.
        [4000, ['-a', '-t', `${VIP}:${PORT}`, '-r', `${RS[2]}:${PORT2}`, m]],
      ] : [
        [500, ['-a', '-t', `${VIP}:${PORT}`, '-r', `${RS[2]}:${PORT}`, m]],
        [1500, ['-e', '-t', `${VIP}:${PORT}`, '-r', `${RS[2]}:${PORT}`, m, '-w', '0']],
        [2500, ['-d', '-t', `${VIP}:${PORT}`, '-r', `${RS[2]}:${PORT}`]],
        [3500, ['-a', '-t', `${VIP}:${PORT}`, '-r', `${RS[2]}:${PORT}`, m]],
        [4500, ['-e', '-t', `${VIP}:${PORT}`, '-r', `${RS[0]}:${PORT}`, m, '-w', '0']],
      ];
      const took: string[] = [];
      for (const [at, args] of steps) {
        await p.reach(at);
        const t0 = Date.now();
        adm(topo, ...args);
        took.push(`${args[0]}@${at}: ${Date.now() - t0} ms`);
      }
      client.stdin!.end(`end ${AFTER}\n`);
      console.log(`${mode}, fast path ${fast}: changes took ${took.join(', ')}`);
      const r = await p.result();
      console.log(`${mode}, fast path ${fast}: ${JSON.stringify(r)}`);
      const log = await stopGateway(gw);
      gw = null;
      const s = summary(log);
      console.log(`${mode}, fast path ${fast}: held_for_rules=${s.held_for_rules} held_full=${s.held_full} nl_errors=${s.nl_errors} dropped=${s.dropped}`);

      expect(r.failed, JSON.stringify(r.errors)).toBe(0);
      expect(r.timeouts).toBe(0);
      expect(r.total).toBeGreaterThanOrEqual(TOTAL);
      expect(r.ok).toBe(r.total);
      if (mode === 'nat') for (const x of [`${RS[2]}:${PORT}`, `${RS[0]}:${PORT2}`, `${RS[1]}:${PORT2}`, `${RS[2]}:${PORT2}`]) expect(r.served[x] ?? 0, x).toBeGreaterThan(0);
      expect(s.nl_errors).toBe(0);
      expect(s.held_full).toBe(0);
      for (const sv of servers) sv.kill();
    } finally {
      if (gw) await stopGateway(gw);
      topo.teardown();
    }
  }, 120_000);
});

// A client that reuses its port: on the fast path the kernel carries a connection after its SYN, and
// its end reaches the core with its conntrack destroy event, a second or more later. Before, the core
// still had the old connection as scheduled (SYN_RECV) when the new SYN came: it sent it to the same
// real server again (IPVS, which sees the FINs, has TIME_WAIT and schedules afresh: round-robin moves
// on), and once that server was deleted it dropped the SYN as IPVS drops a packet of a connection whose
// real server is gone (CNT_DROP_NODEST): the client waited a second to send it again. Now the core
// counts such SYNs before a burst is decided (gwStaleSyns) and the gateway reads the destroy events
// first (gateway.ts eventsFirst): conntrack sends the old flow's before it queues the new SYN.
suite('wasmvsd gateway nat --fast-path on: a client reusing its port', () => {
  afterEach(killChildren);

  it('is scheduled afresh each time, as IPVS does after the FINs: round-robin moves on, a deleted server\'s old connection drops nothing', async () => {
    const topo = new Topo(`gu${process.pid % 10000}x${topos++}`);
    let gw: Daemon | null = null;
    const LOCAL = 20000 + (process.pid % 10000);
    try {
      topo.setup('nat', { vip: 'local' });
      const servers = RS.slice(0, 2).map((r) => inNs(topo.ns.server, process.execPath, [PEER, 'servers', r, String(PORT)]));
      await Promise.all(servers.map((s) => waitLine(s, (l) => l === 'ready', 10_000)));
      gw = await startGateway(topo, QUEUE, '--fast-path', 'on');
      adm(topo, '-A', '-t', `${VIP}:${PORT}`, '-s', 'rr');
      for (const r of RS.slice(0, 2)) adm(topo, '-a', '-t', `${VIP}:${PORT}`, '-r', `${r}:${PORT}`, '-m');
      const { proc: client, connect } = await reuseClient(topo.ns.client, VIP, PORT, LOCAL);
      const served: string[] = [];
      for (let i = 0; i < 4; i++) served.push(await connect());
      const last = served[3].split(' ')[1];
      adm(topo, '-d', '-t', `${VIP}:${PORT}`, '-r', last);
      served.push(await connect());
      const log = await stopGateway(gw);
      gw = null;
      const s = summary(log);
      console.log(`port reuse: ${served.join(' / ')}; dropped=${s.dropped} stale_syns=${s.stale_syns} ct_events=${s.ct_events}`);
      for (const l of served) expect(l).toMatch(/^served /);
      const at = served.map((l) => l.split(' ')[1]);
      // Round-robin over the two, one connection each in turn, though every one came from the same port.
      expect(new Set(at.slice(0, 4)).size).toBe(2);
      for (let i = 1; i < 4; i++) expect(at[i], `connection ${i + 1}`).not.toBe(at[i - 1]);
      // After the last one's server was deleted: the other, on the first SYN (none dropped, none sent again a second later).
      expect(at[4]).not.toBe(last);
      expect(s.dropped).toBe(0);
      // The SYNs met their old entries (ms after its close, before its destroy event was read): not 4 on
      // every machine, since a stall of over a second lets the timer's read come first, when no SYN is stale.
      expect(s.stale_syns).toBeGreaterThan(0);
      for (const sv of [...servers, client]) sv.kill();
    } finally {
      if (gw) await stopGateway(gw);
      topo.teardown();
    }
  }, 60_000);
});

/**
 * A DR fast-path gateway in a fresh `topo` (VIP local) with conn_reuse_mode `mode`, rr over two real
 * servers that both answer on the VIP, and a client that connects from port `local` once: returned
 * once that connection's entry waits in FIN_WAIT (DR sees no reply; with `reset`, the client resets
 * instead of closing: CLOSE) and the DR flow map remembers it.
 */
async function drReuseFirst(topo: Topo, mode: number, local: number, started: (gw: Daemon) => void, reset = false) {
  topo.setup('dr', { vip: 'local' });
  // Both real servers answer on the VIP (held on the server namespace's lo, as DR needs).
  const server = inNs(topo.ns.server, process.execPath, [PEER, 'servers', VIP, String(PORT)]);
  await waitLine(server, (l) => l === 'ready', 10_000);
  const config = `${topo.tmp}/reuse.rules`;
  writeFileSync(config, `# wasmvs-proxy option conn_reuse_mode=${mode}\n`);
  const gw = await startGateway(topo, QUEUE, '--fast-path', 'on', '--config', config);
  started(gw);
  adm(topo, '-A', '-t', `${VIP}:${PORT}`, '-s', 'rr');
  for (const r of RS.slice(0, 2)) adm(topo, '-a', '-t', `${VIP}:${PORT}`, '-r', `${r}:${PORT}`, '-g');
  const { proc: client, connect } = await reuseClient(topo.ns.client, VIP, PORT, local, reset);
  expect(await connect()).toMatch(/^served /);
  const entries = () => adm(topo, '-L', '-n', '-c').split('\n').filter((l) => l.includes(`:${local} `));
  const entry = () => entries()[0] ?? '';
  // The state a connection of this client ends in, here and for the next one.
  const ended = reset ? 'CLOSE' : 'FIN_WAIT';
  const inEnded = (l: string) => new RegExp(`\\b${ended}\\b`).test(l);
  await until(() => `the old connection in ${ended} (${entry()})`, () => inEnded(entry()), 50, 100);
  // Its real server, from the table.
  const dest = new RegExp(`(\\S+):${PORT}\\s*$`).exec(entry())?.[1];
  expect(RS.slice(0, 2)).toContain(dest);
  const remembered = () => topo.in('director', 'nft', 'list', 'map', 'ip', 'wasmvs_gw', 'drtcp').includes(` . ${local} . `);
  expect(remembered(), 'the first connection in the DR flow map').toBe(true);
  return { gw, server, client, connect, entries, entry, dest: dest!, remembered, ended, inEnded };
}

/** Real server `r`'s Conns in a `-L -n --stats` listing. */
const connsOf = (stats: string, r: string) => Number(new RegExp(`-> ${r.replace(/\./g, '\\.')}:${PORT}\\s+(\\d+)`).exec(stats)?.[1]);

// DR: the director sees only the client's half of a connection, so after the client's FIN the entry
// waits in FIN_WAIT (IPVS's 2 min) rather than TIME_WAIT. IPVS lets a new SYN take over such an entry
// only with bit 2 of conn_reuse_mode (is_new_conn_expected: FIN_WAIT with no output seen); with the
// default 1 the SYN follows the old connection, and once its real server is deleted it is dropped
// (expire_nodest_conn=0), for as long as the entry lasts. Both as IPVS does, the gateway on the fast
// path. `wasmvsadm -d` returns once the kernel side of the deletion is in place, as ipvsadm does: the
// DR flow maps are empty by then.
suite.each([[1, 'dropped while the old entry lasts'], [3, 'scheduled afresh']] as Array<[1 | 3, string]>)('wasmvsd gateway dr --fast-path on, conn_reuse_mode=%i: a client port reused after its real server was deleted is %s', (reuseMode) => {
  afterEach(killChildren);

  it('as IPVS does', async () => {
    const topo = new Topo(`gv${process.pid % 10000}x${topos++}`);
    let gw: Daemon | null = null;
    const LOCAL = 30000 + (process.pid % 10000);
    try {
      const first = await drReuseFirst(topo, reuseMode, LOCAL, (g) => { gw = g; });
      const { server, client, connect, entry, dest, remembered } = first;
      gw = first.gw;
      adm(topo, '-d', '-t', `${VIP}:${PORT}`, '-r', `${dest}:${PORT}`);
      // The reply waited for the gateway's rules round: the kernel no longer routes the flow it
      // remembered (this client port's, for 10 s after its first verdict) by the deleted server's mark.
      expect(remembered(), 'the DR flow map emptied when -d returned').toBe(false);
      const second = await connect();
      if (reuseMode === 1) {
        // Every SYN (and the client's repeats) meets the old entry, whose real server is gone: dropped.
        expect(second).toBe('timeout');
      } else {
        expect(second).toMatch(/^served /);
        const other = RS.slice(0, 2).find((r) => r !== dest)!;
        await until(() => `the new connection on ${other} (${entry()})`, () => entry().includes(`${other}:${PORT}`), 50, 100);
      }
      const log = await stopGateway(gw);
      gw = null;
      const s = summary(log);
      console.log(`dr reuse, conn_reuse_mode=${reuseMode}: ${second}; dropped=${s.dropped}`);
      if (reuseMode === 1) expect(s.dropped).toBeGreaterThan(0);
      else expect(s.dropped).toBe(0);
      for (const p of [server, client]) p.kill();
    } finally {
      if (gw) await stopGateway(gw);
      topo.teardown();
    }
  }, 60_000);
});

// DR: the flow map routes a flow's packets by the mark it learnt for DR_FLOW_TIMEOUT (10 s) after the
// flow's first verdict, without the core. A SYN from the same client port in that time still meets the
// core, as every SYN meets IPVS, and takes over the old entry where IPVS lets it (is_new_conn_expected):
// with conn_reuse_mode=3 after the client's FIN (FIN_WAIT, no output seen); in every mode after its RST
// (the map passes FINs and RSTs to the queue, so the entry is in CLOSE). The SYN marks the flow stale,
// so it is scheduled afresh (rr: the other real server), and the rest of that connection follows the new
// decision, not the mark the map still holds for the port.
suite.each([
  { mode: 3, reset: false, how: 'closed' },
  { mode: 1, reset: true, how: 'reset' },
] as Array<{ mode: 1 | 3; reset: boolean; how: string }>)('wasmvsd gateway dr --fast-path on, conn_reuse_mode=$mode: a client port reused after the client $how while the DR flow map still remembers it', ({ mode, reset }) => {
  afterEach(killChildren);

  it('is scheduled afresh, its packets follow the new decision', async () => {
    const topo = new Topo(`gv${process.pid % 10000}y${topos++}`);
    let gw: Daemon | null = null;
    const LOCAL = (reset ? 32000 : 31000) + (process.pid % 10000);
    try {
      const first = await drReuseFirst(topo, mode, LOCAL, (g) => { gw = g; }, reset);
      const { server, client, connect, entries, entry, dest, remembered, ended, inEnded } = first;
      gw = first.gw;
      const other = RS.slice(0, 2).find((r) => r !== dest)!;
      expect(await connect()).toMatch(/^served /);
      expect(remembered(), 'the first connection still in the DR flow map').toBe(true);
      // The core saw the SYN (a new entry on the other real server, rr's next) and the connection's
      // later packets, its FIN or RST among them (FIN_WAIT or CLOSE there, no second entry on the old one).
      await until(() => `the new connection on ${other}, in ${ended} (${entries().join(' | ')})`,
        () => entries().length === 1 && entry().includes(`${other}:${PORT}`) && inEnded(entry()), 50, 100);
      // The mechanism: the SYN marked its flow stale, so the map's old element no longer routes it.
      expect(topo.in('director', 'nft', 'list', 'set', 'ip', 'wasmvs_gw', 'drstale')).toContain(` . ${LOCAL} . `);
      const stats = adm(topo, '-L', '-n', '--stats');
      expect(connsOf(stats, dest), stats).toBe(1);
      expect(connsOf(stats, other), stats).toBe(1);
      const log = await stopGateway(gw);
      gw = null;
      expect(summary(log).dropped).toBe(0);
      for (const p of [server, client]) p.kill();
    } finally {
      if (gw) await stopGateway(gw);
      topo.teardown();
    }
  }, 60_000);
});
