// ldirectord (the Debian package, unchanged) health-checking the real servers of
// a `wasmvsd gateway --fast-path on` director, NAT and DR, with the VIP on the director's
// lo as on every IPVS director, and driving it through wasmvsadm bound over
// /usr/sbin/ipvsadm in ldirectord's own mount namespace (docs/ldirectord.md).
// Each real server answers its check on a port of its own (checkport), so the
// test fails a check without touching the service: ldirectord sets the server's
// weight to 0 (quiescent=yes), the established flow the kernel carries goes on
// to it, new connections go to the other; the check passes again and the
// weight comes back; `ldirectord stop` removes the service and its rules.
import { afterEach, expect, it, describe } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { inCI } from './prereq.js';
import { inNs, killChildren, waitLine } from './netns.js';
import { Topo, VIP, RS, CLIENT } from './gw-topo.js';
import { Talk, until } from './gw-talk.js';
import { missingGatewayPrereq, startGateway, stopGateway, adm, summary, type Daemon } from './gw-daemon.js';
import { missingLdirectord, startLdirectord, ldirectordCtl, ldirectordLog, killLdirectord, listedWeight, type Ld } from '../../daemon/ldirectord.js';

const why = missingGatewayPrereq('nft') ?? missingLdirectord();
if (why && inCI) throw new Error(`gateway with ldirectord: ${why}`);
if (why) console.warn(`\n*** SKIPPING gateway with ldirectord: ${why} ***\n`);

const PORT = 8080, CHECK = 9000, QUEUE = 860 + (process.pid % 100);
const PEER = fileURLToPath(new URL('./gw-fastpath-peer.mjs', import.meta.url));

/** A real server's weight in `-L -n`, or null when it is not listed. */
const weight = (topo: Topo, rs: string) => listedWeight(adm(topo, '-L', '-n'), `${rs}:${PORT}`);

/** The check listener of one real server (gw-fastpath-peer's echo server on RS:CHECK). */
async function checkListener(topo: Topo, rs: string): Promise<ChildProcess> {
  const c = inNs(topo.ns.server, process.execPath, [PEER, 'echo-server', rs, String(CHECK)]);
  await waitLine(c, (l) => l === 'ready', 10_000);
  return c;
}

describe.skipIf(why !== null)('wasmvsd gateway --fast-path on driven by ldirectord', () => {
  let ld: Ld | undefined;
  afterEach(() => {
    if (ld) killLdirectord(ld);
    ld = undefined;
    killChildren();
  });

  it.each([['nat', 'masq'], ['dr', 'gate']] as const)('%s: a failed check quiesces the real server (weight 0): its established flow goes on, new ones go to the other; restored when it passes; stop removes all', async (mode, method) => {
    const topo = new Topo(`gl${process.pid % 10000}${mode}`);
    let gw: Daemon | undefined;
    const talks: Talk[] = [];
    const talk = () => { const t = new Talk(topo.ns.client, VIP, PORT); talks.push(t); return t; };
    /** The real server of the connection from the client's `port`, from `-L -n -c` (in DR every echo comes from the VIP). */
    const destOf = (port: number) => new RegExp(`${CLIENT.replace(/\./g, '\\.')}:${port}\\s+\\S+\\s+(\\S+):${PORT}`).exec(adm(topo, '-L', '-n', '-c'))?.[1] ?? 'none';
    /** One send on `t`, echoed whole; then the real server the connection went to. */
    const sendTo = async (t: Talk, n: number) => {
      expect(await t.send(n)).toMatch(new RegExp(`^echoed ${n} \\S+ ok$`));
      return destOf(await t.port);
    };
    try {
      topo.setup(mode, { vip: 'local' });
      gw = await startGateway(topo, QUEUE, '--fast-path', 'on');
      expect(gw.log()).toContain('fast path on for IPv4 and IPv6 NAT and DR services');
      const echo = inNs(topo.ns.server, process.execPath, [PEER, 'echo-server', '0.0.0.0', String(PORT)]);
      await waitLine(echo, (l) => l === 'ready', 10_000);
      const checks = new Map<string, ChildProcess>();
      for (const r of RS.slice(0, 2)) checks.set(r, await checkListener(topo, r));

      // As its init script would, in the director's namespace; /usr/sbin/ipvsadm is wasmvsadm for it alone.
      ld = await startLdirectord({ dir: topo.tmp, socket: topo.socket, name: `wasmvs-gl-${process.pid}-${mode}.cf`, netns: topo.ns.director, text: `checktimeout=2
checkinterval=1
autoreload=no
quiescent=yes
virtual=${VIP}:${PORT}
	real=${RS[0]}:${PORT} ${method}
	real=${RS[1]}:${PORT} ${method}
	checkport=${CHECK}
	checktype=connect
	scheduler=rr
	protocol=tcp
` });
      await until('ldirectord to add both real servers', () => weight(topo, RS[0]) === 1 && weight(topo, RS[1]) === 1, 150, 100);

      // rr over the two: an established flow on each.
      const a = talk(), b = talk();
      const x = await sendTo(a, 1000);
      const y = await sendTo(b, 1000);
      expect(new Set([x, y])).toEqual(new Set(RS.slice(0, 2)));

      // x's check fails: ldirectord quiesces it. Its established flow goes on (the kernel carries it),
      // new connections all go to y.
      checks.get(x)!.kill('SIGKILL');
      await until(`ldirectord to set ${x}'s weight to 0`, () => weight(topo, x) === 0, 150, 100);
      expect(ldirectordLog(ld)).toContain(`Quiescent real server: ${x}:${PORT}`);
      expect(await sendTo(a, 3000)).toBe(x);
      for (let i = 0; i < 4; i++) expect(await sendTo(talk(), 100), `new connection ${i} while ${x} is quiesced`).toBe(y);

      // It passes again: its weight comes back and rr sends it new connections again.
      checks.set(x, await checkListener(topo, x));
      await until(`ldirectord to restore ${x}`, () => weight(topo, x) === 1, 150, 100);
      const again = [await sendTo(talk(), 100), await sendTo(talk(), 100)];
      expect(again).toContain(x);
      expect(await sendTo(a, 100)).toBe(x);

      // ldirectord stop signals the daemon, which removes the service with wasmvsadm.
      ldirectordCtl(ld, 'stop');
      await until('ldirectord to remove the service', () => !adm(topo, '-L', '-n').includes(`${VIP}:${PORT}`), 150, 100);
      // The table has lost the service before ipvsadm -D returns (it returns once the gateway's rules carry
      // the change), and ldirectord logs the purge after that: wait for its line, do not race it.
      await until('ldirectord to log the purge', () => ldirectordLog(ld!).includes(`Purged virtual server (stop): ${VIP}:${PORT}`), 100, 100);
      const ldLog = ldirectordLog(ld);
      expect(ldLog).not.toMatch(/system\(.*\) failed/);
      for (const t of talks) t.end();
      const out = await stopGateway(gw);
      gw = undefined;
      const s = summary(out);
      expect(s.nl_errors, out).toBe(0);
      expect(s.failed_bursts, out).toBe(0);
      // The kernel carried the flows: NAT ones after their first packet (its verdict's mark), DR ones by
      // the flow map (what it routed is fed to the core's counters).
      if (mode === 'nat') expect(s.fast_marked, out).toBeGreaterThanOrEqual(talks.length);
      else expect(s.dr_fed_packets, out).toBeGreaterThan(0);
    } finally {
      for (const t of talks) t.end();
      if (gw) await stopGateway(gw);
      topo.teardown();
    }
  }, 120_000);
});
