// `wasmvsd gateway` with the proxy's daemon behaviour, same syntax and same
// meaning: `# wasmvs-proxy health` directives in --config mark a dead real
// server DOWN (admin weight untouched) and bring it back; `wasmvsadm --drain`
// takes a real server out of scheduling, reports ActiveConn/InActConn, ends
// at zero or at the deadline, and is cancelled; SIGHUP re-reads --config and
// applies only the difference; the log is pino JSON lines. Real daemon, real
// wasmvsadm, real TCP/UDP clients in namespaces the suite creates and deletes.
import { afterEach, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { inCI } from './prereq.js';
import { killChildren, inNs, sh } from './netns.js';
import { Topo, VIP, RS, waitLine } from './gw-topo.js';
import { missingGatewayPrereq, startGateway, stopGateway, adm, scrape, PEER, type Daemon } from './gw-daemon.js';
import { WASMVSADM } from '../../daemon/daemon.js';

const why = missingGatewayPrereq();
if (why && !inCI) console.warn(`\n*** SKIPPING wasmvsd gateway parity suite (health, drain, SIGHUP): ${why} ***\n`);
const suite = describe.skipIf(why !== null && !inCI);
const PORT = 8080, UDP_PORT = 5353, METRICS = 9469, QUEUE = 240 + (process.pid % 200);

let topos = 0;
const live = new Set<{ topo: Topo; gw?: Daemon }>();

/** A fresh NAT topology (VIP local on the director, as on an IPVS director) and its config file. */
function lab(): { topo: Topo; gw?: Daemon; config: string } {
  if (why) throw new Error(`gateway parity suite prerequisites missing in CI: ${why}`);
  const topo = new Topo(`gp${process.pid % 10000}x${topos++}`);
  const l = { topo, config: `${topo.tmp}/gateway.conf` } as { topo: Topo; gw?: Daemon; config: string };
  live.add(l);
  topo.setup('nat', { vip: 'local' });
  return l;
}

/** Polls `ok` every 100 ms, at most `tries` times; throws naming what never happened. */
async function until(ok: () => boolean, what: string, tries = 150): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (ok()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`never happened: ${what}`);
}

/** A server on addr:port greeting every connection with its own address (stays up ~60 s). */
async function greeter(topo: Topo, addr: string, port = PORT): Promise<ChildProcess> {
  const s = inNs(topo.ns.server, process.execPath, [PEER, 'tcp-greet', addr, String(port)]);
  await waitLine(s, (l) => l === 'ready', 10_000);
  return s;
}

/** `count` client connections to VIP:port, held open; which real server answered each. */
async function hold(topo: Topo, count: number): Promise<{ served: string[]; release: () => void }> {
  const c = inNs(topo.ns.client, process.execPath, [PEER, 'tcp-hold', VIP, String(PORT), String(count)]);
  const served: string[] = [];
  c.stdout!.on('data', (d) => served.push(...String(d).split('\n').filter((l) => l.startsWith('held ')).map((l) => l.slice(5))));
  await waitLine(c, (l) => l === 'done', 30_000);
  return { served, release: () => c.stdin!.end() };
}

/** The daemon's pino lines (JSON objects) with a given msg. */
const logged = (gw: Daemon, msg: string) => gw.log().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
  .filter((o) => o.msg === msg);

/** ipvsadm -L -n's line for one real server: [forward, weight, active, inactive]. */
function destRow(topo: Topo, rs: string): string[] {
  const line = adm(topo, '-L', '-n').split('\n').find((l) => l.includes(`-> ${rs}`));
  return line ? line.trim().split(/\s+/).slice(2) : [];
}

suite('wasmvsd gateway: health checks, drain and SIGHUP reload as the proxy has them', () => {
  afterEach(async () => {
    killChildren();
    for (const l of live) {
      if (l.gw) await stopGateway(l.gw);
      l.topo.teardown();
    }
    live.clear();
  });

  it('a killed real server is marked DOWN (weight kept, avoided, healthy 0 in metrics) and comes back UP', async () => {
    const l = lab();
    writeFileSync(l.config, [
      `-A -t ${VIP}:${PORT} -s rr`,
      `-a -t ${VIP}:${PORT} -r ${RS[0]}:${PORT} -m -w 1`,
      `-a -t ${VIP}:${PORT} -r ${RS[1]}:${PORT} -m -w 3`,
      `# wasmvs-proxy health -t ${VIP}:${PORT} interval=0.5 timeout=0.5 rise=2 fall=2`,
      `# wasmvs-proxy metrics 127.0.0.1:${METRICS}`,
    ].join('\n') + '\n');
    await greeter(l.topo, RS[0]);
    let victim = await greeter(l.topo, RS[1]);
    l.gw = await startGateway(l.topo, QUEUE, '--config', l.config);
    const gw = l.gw;
    const first = await hold(l.topo, 4);
    expect(new Set(first.served)).toEqual(new Set([RS[0], RS[1]]));
    first.release();

    victim.kill('SIGKILL');
    await until(() => logged(gw, 'real server down').some((o) => o.dest === `${RS[1]}|${PORT}`), 'health marks the killed server down');
    const down = logged(gw, 'real server down')[0];
    expect(down).toMatchObject({ name: 'wasmvsd', level: 40, service: `tcp|${VIP}|${PORT}`, healthy: false });
    expect(destRow(l.topo, RS[1]).slice(0, 2)).toEqual(['Masq', '3']); // the admin weight, untouched by health
    const avoided = await hold(l.topo, 4);
    expect(avoided.served).toEqual([RS[0], RS[0], RS[0], RS[0]]);
    avoided.release();
    const m = scrape(l.topo, METRICS);
    expect(m).toContain(`wasmvs_dest_healthy{service="tcp/${VIP}:${PORT}",dest="${RS[1]}:${PORT}"} 0`);
    expect(m).toContain(`wasmvs_dest_healthy{service="tcp/${VIP}:${PORT}",dest="${RS[0]}:${PORT}"} 1`);
    expect(m).toContain('wasmvs_gateway_packets_total{verdict="forwarded"}');

    victim = await greeter(l.topo, RS[1]);
    await until(() => logged(gw, 'real server healthy again').some((o) => o.dest === `${RS[1]}|${PORT}`), 'health brings it back');
    const back = await hold(l.topo, 4);
    expect(back.served).toContain(RS[1]);
    back.release();
    expect(scrape(l.topo, METRICS)).toContain(`wasmvs_dest_healthy{service="tcp/${VIP}:${PORT}",dest="${RS[1]}:${PORT}"} 1`);
  });

  it('--drain: no new connections, progress with ActiveConn, forced at the deadline, cancelled; UDP drains to zero', async () => {
    const l = lab();
    await greeter(l.topo, RS[0]);
    await greeter(l.topo, RS[1]);
    l.gw = await startGateway(l.topo, QUEUE);
    const gw = l.gw;
    adm(l.topo, '-A', '-t', `${VIP}:${PORT}`, '-s', 'rr');
    for (const rs of [RS[0], RS[1]]) adm(l.topo, '-a', '-t', `${VIP}:${PORT}`, '-r', `${rs}:${PORT}`, '-m', '-w', '2');
    const before = await hold(l.topo, 2);
    expect(new Set(before.served)).toEqual(new Set([RS[0], RS[1]]));

    const started = adm(l.topo, '--drain', '-t', `${VIP}:${PORT}`, '-r', `${RS[1]}:${PORT}`, '--deadline', '3');
    expect(started).toMatch(new RegExp(`^TCP ${VIP}:${PORT} -> ${RS[1]}:${PORT}: draining, 1 open \\(ActiveConn 1, InActConn 0\\), deadline in 3 s\\n$`));
    expect(destRow(l.topo, RS[1])).toEqual(['Masq', '2', '1', '0']); // weight untouched, its connection counted
    const during = await hold(l.topo, 3);
    expect(during.served).toEqual([RS[0], RS[0], RS[0]]);
    // The held connection to RS[1] stays open: the deadline ends the drain as forced.
    await until(() => logged(gw, 'drained').length === 1, 'the drain ends at its deadline', 100);
    expect(logged(gw, 'drained')[0]).toMatchObject({ dest: `${RS[1]}:${PORT}`, forced: true, left: 1 });
    expect(adm(l.topo, '--drain')).toContain(`${RS[1]}:${PORT}: drained (deadline reached, the rest keep their connection entries), 1 open`);
    const json = JSON.parse(adm(l.topo, '--drain', '--json')) as { drains: { status: string; activeconns: number }[] };
    expect(json.drains).toEqual([expect.objectContaining({ status: 'drained', forced: true, activeconns: 1, atDeadline: 'kept' })]);
    // What the deadline leaves is not cut: the held connection to RS[1] keeps its entry.
    expect(destRow(l.topo, RS[1])).toEqual(['Masq', '2', '1', '0']);

    expect(adm(l.topo, '--drain', '-t', `${VIP}:${PORT}`, '-r', `${RS[1]}:${PORT}`, '--cancel')).toContain('cancelled');
    const after = await hold(l.topo, 2);
    expect(after.served).toContain(RS[1]);
    before.release();
    during.release();
    after.release();

    // UDP: one session, its entry expires after the udp timeout; --wait returns once ActiveConn + InActConn = 0.
    adm(l.topo, '--set', '0', '0', '2');
    adm(l.topo, '-A', '-u', `${VIP}:${UDP_PORT}`, '-s', 'rr');
    adm(l.topo, '-a', '-u', `${VIP}:${UDP_PORT}`, '-r', `${RS[1]}:${UDP_PORT}`, '-m');
    const server = inNs(l.topo.ns.server, process.execPath, [PEER, 'udp-server', RS[1], String(UDP_PORT), '1']);
    await waitLine(server, (x) => x === 'ready', 10_000);
    const out = l.topo.in('client', process.execPath, PEER, 'udp-client', VIP, String(UDP_PORT), '16');
    expect(out).toContain(`from ${VIP}:${UDP_PORT}`);
    const waited = sh(process.execPath, WASMVSADM, '--socket', l.topo.socket, '--drain', '-u', `${VIP}:${UDP_PORT}`, '-r', `${RS[1]}:${UDP_PORT}`,
      '--deadline', '30', '--wait');
    const lines = waited.trim().split('\n');
    expect(lines[0]).toMatch(/: draining, 1 open \(ActiveConn 0, InActConn 1\), deadline in \d+ s$/);
    expect(lines.at(-1)).toBe(`UDP ${VIP}:${UDP_PORT} -> ${RS[1]}:${UDP_PORT}: drained, 0 open (ActiveConn 0, InActConn 0)`);
  });

  it('SIGHUP re-reads --config: new real servers and health directives apply, untouched ones keep their connections', async () => {
    const l = lab();
    const base = [`-A -t ${VIP}:${PORT} -s rr`, `-a -t ${VIP}:${PORT} -r ${RS[0]}:${PORT} -m -w 1`];
    writeFileSync(l.config, base.join('\n') + '\n');
    await greeter(l.topo, RS[0]);
    await greeter(l.topo, RS[1]);
    l.gw = await startGateway(l.topo, QUEUE, '--config', l.config);
    const gw = l.gw;
    const held = await hold(l.topo, 1);
    expect(held.served).toEqual([RS[0]]);
    expect(destRow(l.topo, RS[0])).toEqual(['Masq', '1', '1', '0']);

    // RS[1] and RS[2] join; RS[2] has no server, so its health check marks it DOWN.
    writeFileSync(l.config, [...base, `-a -t ${VIP}:${PORT} -r ${RS[1]}:${PORT} -m -w 1`, `-a -t ${VIP}:${PORT} -r ${RS[2]}:${PORT} -m -w 1`,
      `# wasmvs-proxy health -t ${VIP}:${PORT} interval=0.5 timeout=0.5 rise=1 fall=1`, `# wasmvs-proxy proxy-protocol -t ${VIP}:${PORT} v2`].join('\n') + '\n');
    gw.proc.kill('SIGHUP');
    await until(() => logged(gw, 'SIGHUP: configuration reloaded').length === 1, 'the reload');
    expect(logged(gw, 'SIGHUP: configuration reloaded')[0]).toMatchObject({ changes: 2 });
    expect(gw.log()).toContain('proxy-protocol directives are ignored by the gateway');
    expect(logged(gw, 'config change').map((o) => o.rule)).toEqual(expect.arrayContaining([expect.stringContaining(`-r ${RS[2]}:${PORT}`)]));
    // Untouched: the held connection is still counted on RS[0].
    expect(destRow(l.topo, RS[0])).toEqual(['Masq', '1', '1', '0']);
    await until(() => logged(gw, 'real server down').some((o) => o.dest === `${RS[2]}|${PORT}`), 'the reloaded health directive marks RS[2] down');
    const next = await hold(l.topo, 4);
    expect(new Set(next.served)).toEqual(new Set([RS[0], RS[1]]));
    held.release();
    next.release();
    // The state file follows (a reload is a change like any other).
    expect(sh('cat', l.topo.state)).toContain(`-a -t ${VIP}:${PORT} -r ${RS[2]}:${PORT}`);

    // A second SIGHUP with nothing changed changes nothing.
    gw.proc.kill('SIGHUP');
    await until(() => logged(gw, 'SIGHUP: configuration reloaded').length === 2, 'the second reload');
    expect(logged(gw, 'SIGHUP: configuration reloaded')[1]).toMatchObject({ changes: 0 });
    const log = await stopGateway(gw);
    l.gw = undefined;
    expect(logged({ log: () => log } as Daemon, 'gateway stopped')).toHaveLength(1);
    expect(l.topo.ownedState()).toEqual({ iptables: '', rules: '' });
  });
});
