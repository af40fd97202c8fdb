// `wasmvsd gateway --queue-threads on` in real namespaces: each queue read and
// decided on a thread of its own, on the native core the daemon's director
// runs on (nfq_thread.cc), Node's thread seeing only the bursts it hands
// over. The fast path's NAT (VIP local) byte-exact over round-robin with
// the bursts answered on the thread; a client reusing its port, whose SYN
// meets its old connection's entry: the thread reads the destroy events
// first and the SYN is scheduled afresh as IPVS does; and the userspace path
// (--fast-path off), every packet of every flow both ways decided on the
// thread, with the counts `-L --stats` shows (the default: no flag); and
// `--queue-threads off`. The whole gateway suite runs both ways (`npm test`:
// the default; `npm run test:native-core`: WASMVS_QUEUE_THREADS=off).
import { afterEach, describe, expect, it } from 'vitest';
import { inCI } from './prereq.js';
import { inNs, killChildren, waitLine } from './netns.js';
import { Topo, VIP, RS } from './gw-topo.js';
import { fileURLToPath } from 'node:url';
import { missingGatewayPrereq, startGateway, startGatewayEnv, stopGateway, adm, exchange, summary, type Daemon } from './gw-daemon.js';
import { reuseClient, until } from './gw-talk.js';
import { loadNativeCore } from '../../../native/addon.js';

const core = loadNativeCore();
const why = missingGatewayPrereq('nft') ?? (core.exports === null ? core.why : null);
if (why && !inCI) console.warn(`\n*** SKIPPING wasmvsd gateway --queue-threads: ${why} ***\n`);
const suite = describe.skipIf(why !== null && !inCI);
const LOAD_PEER = fileURLToPath(new URL('./gw-load-peer.mjs', import.meta.url));
const PORT = 8080, QUEUE = 860 + (process.pid % 100), CONNS = 12, SIZE = 20_000;

let topos = 0;
const fresh = () => new Topo(`gq${process.pid % 10000}x${topos++}`);

function rr(topo: Topo): void {
  adm(topo, '-A', '-t', `${VIP}:${PORT}`, '-s', 'rr');
  for (const r of RS.slice(0, 2)) adm(topo, '-a', '-t', `${VIP}:${PORT}`, '-r', `${r}:${PORT}`, '-m');
}

/** The replies of `exchange`, checked: byte-exact ("ok") and alternating over the two real servers. */
function expectRoundRobin(replies: string[], n: number): void {
  expect(replies).toHaveLength(n);
  const first = /^reply 0 (\S+) /.exec(replies[0] ?? '')?.[1] ?? 'none';
  expect(RS.slice(0, 2)).toContain(first);
  const other = RS.slice(0, 2).find((r) => r !== first)!;
  expect(replies).toEqual(replies.map((_, i) => `reply ${i} ${i % 2 === 0 ? first : other} ${VIP}:${PORT} ok`));
}

suite('wasmvsd gateway --queue-threads on: the queue read and decided on its own thread', () => {
  afterEach(killChildren);

  it('fast path, NAT, VIP local: byte-exact over round-robin, the bursts answered on the thread', async () => {
    if (why) throw new Error(`gateway queue-thread prerequisites missing in CI: ${why}`);
    const topo = fresh();
    let gw: Daemon | undefined;
    try {
      topo.setup('nat', { vip: 'local' });
      gw = await startGateway(topo, QUEUE, '--fast-path', 'on', '--queue-threads', 'on');
      await until('the queue line', () => gw!.log().includes('read and decided on a thread of its own (native core)'));
      expect(gw.log()).toContain('fast path on');
      rr(topo);
      const r = await exchange(topo, '0.0.0.0', PORT, CONNS, SIZE);
      expect(r.sent).toHaveLength(CONNS);
      expectRoundRobin(r.replies, CONNS);
      expect(adm(topo, '-L', '-n', '--stats', '--exact')).toMatch(new RegExp(`TCP\\s+${VIP}:${PORT}\\s+${CONNS}\\s`));
      expect(adm(topo, '-L', '-n', '-c').split('\n').filter((l) => l.includes(`${VIP}:${PORT}`))).toHaveLength(CONNS);
      const s = summary(await stopGateway(gw));
      gw = undefined;
      // Every connection's SYN went through the queue, and the thread answered (at least) most bursts itself.
      expect(s.forwarded).toBeGreaterThanOrEqual(CONNS);
      expect(s.thread_bursts).toBeGreaterThan(0);
      expect(s.thread_send_errors).toBe(0);
      expect(s.nl_errors).toBe(0);
      expect(s.failed_bursts).toBe(0);
      expect(topo.ownedState()).toEqual({ iptables: '', rules: '' });
    } finally {
      if (gw) await stopGateway(gw);
      topo.teardown();
    }
  }, 90_000);

  it('a client reusing its port: the thread reads the destroy events first and has the core apply them, round-robin moves on', async () => {
    if (why) throw new Error(`gateway queue-thread prerequisites missing in CI: ${why}`);
    const topo = fresh();
    let gw: Daemon | undefined;
    const LOCAL = 21000 + (process.pid % 10000);
    try {
      topo.setup('nat', { vip: 'local' });
      const servers = RS.slice(0, 2).map((r) => inNs(topo.ns.server, process.execPath, [LOAD_PEER, 'servers', r, String(PORT)]));
      await Promise.all(servers.map((sv) => waitLine(sv, (l) => l === 'ready', 10_000)));
      gw = await startGateway(topo, QUEUE, '--fast-path', 'on', '--queue-threads', 'on');
      rr(topo);
      const { proc: client, connect } = await reuseClient(topo.ns.client, VIP, PORT, LOCAL);
      const served: string[] = [];
      for (let i = 0; i < 4; i++) served.push(await connect());
      const s = summary(await stopGateway(gw));
      gw = undefined;
      for (const l of served) expect(l).toMatch(/^served /);
      const at = served.map((l) => l.split(' ')[1]);
      for (let i = 1; i < 4; i++) expect(at[i], `connection ${i + 1}`).not.toBe(at[i - 1]);
      expect(s.dropped).toBe(0);
      // Those SYNs met their old entries; the thread read the old flows' destroy events itself first (no
      // hand-over to Node's thread needed), and the core applied them: every connection's end came as one.
      expect(s.stale_syns).toBeGreaterThan(0);
      expect(s.thread_ct_events).toBeGreaterThan(0);
      expect(s.ct_events).toBeGreaterThanOrEqual(3);
      for (const p of [...servers, client]) p.kill();
    } finally {
      if (gw) await stopGateway(gw);
      topo.teardown();
    }
  }, 60_000);

  it('by default, on the userspace path (--fast-path off): every packet both ways decided on the thread, `-L --stats` counts them', async () => {
    if (why) throw new Error(`gateway queue-thread prerequisites missing in CI: ${why}`);
    const topo = fresh();
    let gw: Daemon | undefined;
    try {
      topo.setup('nat', { vip: 'local' });
      // No flag, no WASMVS_QUEUE_THREADS (test:native-core sets it to off for the other suites).
      gw = await startGatewayEnv(topo, QUEUE, { WASMVS_QUEUE_THREADS: '' }, '--fast-path', 'off');
      await until('the queue line', () => gw!.log().includes('read and decided on a thread of its own (native core)'));
      rr(topo);
      const r = await exchange(topo, '0.0.0.0', PORT, 6, SIZE);
      expectRoundRobin(r.replies, 6);
      const m = new RegExp(`TCP\\s+${VIP}:${PORT}\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)`).exec(adm(topo, '-L', '-n', '--stats', '--exact'));
      expect(m).not.toBeNull();
      const [conns, inPkts, outPkts] = m!.slice(1).map(Number);
      expect(conns).toBe(6);
      const s = summary(await stopGateway(gw));
      gw = undefined;
      // Every packet crossed the core (requests and de-NATed replies), and the thread answered them.
      expect(inPkts).toBeGreaterThan(6 * 3);
      expect(outPkts).toBeGreaterThan(6 * 3);
      expect(s.replies).toBeGreaterThanOrEqual(outPkts);
      expect(s.thread_bursts).toBeGreaterThan(0);
      expect(s.thread_bursts).toBeGreaterThanOrEqual(s.handed_bursts);
      expect(s.thread_send_errors).toBe(0);
      expect(s.nl_errors).toBe(0);
      expect(topo.ownedState()).toEqual({ iptables: '', rules: '' });
    } finally {
      if (gw) await stopGateway(gw);
      topo.teardown();
    }
  }, 90_000);

  it('--queue-threads off: Node\'s thread reads and decides, no thread counters', async () => {
    if (why) throw new Error(`gateway queue-thread prerequisites missing in CI: ${why}`);
    const topo = fresh();
    let gw: Daemon | undefined;
    try {
      topo.setup('nat', { vip: 'local' });
      gw = await startGateway(topo, QUEUE, '--fast-path', 'on', '--queue-threads', 'off');
      await until('the queue line', () => /gateway: queues \d+\.\.\d+/.test(gw!.log()));
      rr(topo);
      const r = await exchange(topo, '0.0.0.0', PORT, 4, SIZE);
      expectRoundRobin(r.replies, 4);
      const log = await stopGateway(gw);
      gw = undefined;
      expect(log).not.toContain('thread of its own');
      const s = summary(log);
      expect(s.forwarded).toBeGreaterThanOrEqual(4);
      expect(s.thread_bursts).toBeUndefined();
    } finally {
      if (gw) await stopGateway(gw);
      topo.teardown();
    }
  }, 90_000);
});
