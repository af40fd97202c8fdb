// The many-directors check: three `wasmvsd gateway` directors behind a router
// with an ECMP route to the VIP (L4 hashing), the configuration in a real
// etcd, connections synced between the directors (peers from etcd, HMAC key).
// Per forwarding method (NAT, DR, TUN) with mh: 200 long-lived TCP
// connections carry data while one director is SIGKILLed and its nexthop
// removed (the router rehashes every flow: the dead director's and some of
// the survivors'), then the same director is started again: it must hold the
// whole connection table when it reports ready, before it is put back as a
// nexthop (another rehash). Every connection must survive both. DR and TUN
// again without sync: sloppy_tcp and mh's agreement alone must carry the
// flows the rehashes move (without sloppy_tcp, 67 and 76 of 200 broke in DR). A
// director with a wrong sync key gets nothing; its frames are refused and counted.
// NAT with rr and persistence: a client's new connections, spread over the
// directors, follow the template whichever director made (45 of 144 left
// their client's server without sync, measured once).
// Topology and the choices behind it: ecmp-topo.ts.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inCI } from './prereq.js';
import { killChildren } from './netns.js';
import { missingGatewayPrereq } from './gw-daemon.js';
import { EcmpTopo, missingEcmpPrereq, RS, VIP, PORT, CLIENTS, type Mode } from './ecmp-topo.js';

const why = missingGatewayPrereq() ?? missingEcmpPrereq();
const suite = describe.skipIf(why !== null && !inCI);
const N = 200;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const METHOD: Record<Mode, string> = { nat: '-m', dr: '-g', tun: '-i' };

/** Waits (bounded) until f() is true. */
async function until(f: () => boolean, what: string, ms = 20_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end;) {
    if (f()) return;
    await sleep(200);
  }
  throw new Error(`timed out: ${what}`);
}

/** The client's output lines, read in order: next(prefix) is the first unread line with that prefix (bounded wait). */
function reader(child: ChildProcess) {
  const lines: string[] = [];
  let buf = '', at = 0, exited = false;
  child.stdout!.on('data', (d) => {
    buf += d;
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  child.once('exit', () => { exited = true; });
  return {
    async next(prefix: string, ms: number): Promise<Record<string, unknown>> {
      for (const end = Date.now() + ms; Date.now() < end;) {
        for (; at < lines.length; at++) {
          if (lines[at].startsWith(prefix)) {
            const rest = lines[at++].slice(prefix.length);
            return (rest ? JSON.parse(rest) : {}) as Record<string, unknown>;
          }
        }
        if (exited) break;
        await sleep(50);
      }
      throw new Error(`no "${prefix}" line from the client within ${ms} ms; last lines: ${lines.slice(-5).join(' | ')}`);
    },
    write(l: string) { child.stdin!.write(`${l}\n`); },
  };
}

/**
 * Waits until every live connection has exchanged `bytes` more echo bytes
 * and 512 more pushed bytes since now, or one broke, or 120 s passed (a
 * stalled connection is then counted broken by the client's final check).
 * Progress, not time: each connection carried data across the event.
 */
async function progress(c: ReturnType<typeof reader>, bytes: number): Promise<void> {
  c.write('mark');
  await c.next('marked', 10_000);
  for (const end = Date.now() + 120_000; Date.now() < end;) {
    await sleep(250);
    c.write('status');
    const s = await c.next('status ', 10_000) as { broken: number; minEcho: number; minPush: number };
    if (s.broken > 0 || (s.minEcho >= bytes && s.minPush >= 512)) return;
  }
}

for (const mode of ['nat', 'dr', 'tun'] as const) {
  suite(`many directors behind ECMP: ${mode.toUpperCase()}`, () => {
    let topo: EcmpTopo;
    let client: ChildProcess | null = null;

    beforeAll(async () => {
      if (why) throw new Error(`ECMP suite prerequisites missing in CI: ${why}`);
      topo = new EcmpTopo(mode);
      topo.setup();
      await topo.startEtcd();
      for (const k of [1, 2, 3]) await topo.startDirector(k);
      // One write per command through d1; every director applies it from etcd.
      topo.adm(1, '-A', '-t', `${VIP}:${PORT}`, '-s', 'mh', '-b', 'mh-port');
      for (const rs of RS) topo.adm(1, '-a', '-t', `${VIP}:${PORT}`, '-r', `${rs}:${PORT}`, METHOD[mode]);
      for (const k of [1, 2, 3]) await until(() => RS.every((rs) => topo.adm(k, '-L', '-n').includes(`${rs}:${PORT}`)), `d${k} applied the configuration`);
      await topo.servers();
    }, 120_000);

    afterAll(async () => {
      client?.stdin?.end();
      killChildren();
      await topo?.teardown();
    }, 60_000);

    it(`${N} connections survive a director killed and started again (no broken connection)`, async () => {
      client = topo.client(N);
      const io = reader(client);
      const ready = await io.next('ready ', 90_000) as { open: number; spread: Record<string, number>; ports: number[] };
      expect(ready.open).toBe(N);
      // mh (hashing the client's port too) spreads them over the three real servers.
      expect(Object.keys(ready.spread).sort()).toEqual(['s1', 's2', 's3']);
      // Every director holds every connection (its own and, from the sync, its peers').
      for (const k of [1, 2, 3]) await until(() => topo.connPorts(k).size >= N, `d${k} lists all ${N} connections`);
      const perDirector = [1, 2, 3].map((k) => topo.connPorts(k).size);
      const rx = () => [1, 2, 3].map((k) => topo.frontRx(k));
      const rx0 = rx();
      await progress(io, 2048);
      // The router spreads the flows: every director carries some.
      const rx1 = rx();
      for (const i of [0, 1, 2]) expect(rx1[i] - rx0[i]).toBeGreaterThan(100);

      // d2 dies mid-transfer; the health check takes its nexthop off the router.
      await topo.kill(2);
      topo.route([1, 3]);
      expect(topo.nexthops()).not.toContain('198.18.65.12');
      const rx2 = rx();
      // Every connection exchanges 4 more rounds through the survivors.
      await progress(io, 2048);
      const rx3 = rx();
      expect(rx3[1] - rx2[1]).toBeLessThan(50); // broadcasts (ARP) only
      expect(rx3[0] - rx2[0] + rx3[2] - rx2[2]).toBeGreaterThan(1000);
      io.write('status');
      const afterKill = await io.next('status ', 10_000);

      // d2 again, as a director started late: it reports ready only with the
      // peers' tables imported, and only then becomes a nexthop again.
      const d2 = await topo.startDirector(2);
      const log = d2.log();
      // With connection sync the fast path (wasmvsd's default) leaves NAT services on the userspace
      // path: a survivor's conntrack never saw its peers' flows, only the core can de-NAT their replies.
      expect(log).toMatch(/fast path on for IPv4 (and IPv6 )?DR services/);
      const held = topo.connPorts(2);
      const missing = ready.ports.filter((p) => !held.has(p));
      // Both survivors' tables, before it answers.
      for (const peer of ['d1', 'd3']) {
        expect(log.indexOf(`sync: snapshot from ${peer}`)).toBeGreaterThanOrEqual(0);
        expect(log.indexOf(`sync: snapshot from ${peer}`)).toBeLessThan(log.indexOf('control socket'));
      }
      expect(missing).toEqual([]);
      topo.route([1, 2, 3]);
      const rx4 = rx();
      await progress(io, 2048);
      // The late director takes its share again.
      expect(rx()[1] - rx4[1]).toBeGreaterThan(100);

      io.write('stop');
      const result = await io.next('result ', 60_000) as { total: number; broken: number; bytes: number; pushed: number; why: string[] };
      console.log(`ecmp ${mode}: ${result.broken} of ${result.total} connections broken ` +
        `(after the kill: ${(afterKill as { broken: number }).broken}); entries per director before the kill ${perDirector.join('/')}; ` +
        `${result.bytes} bytes echoed, ${result.pushed} pushed by the servers; late director held ${held.size} entries at ready` + (result.why.length ? `; ${result.why.join('; ')}` : ''));
      expect(result.why).toEqual([]);
      expect(result.broken).toBe(0);
      expect(result.bytes).toBeGreaterThan(N * 512 * 12);
      expect(result.pushed).toBeGreaterThan(N * 256 * 6);
    }, 240_000);

    if (mode !== 'nat') {
      it(`without connection sync, mh agreement alone keeps the ${N} connections a rehash moves`, async () => {
        // The same directors again, without --sync-*: each only knows the flows it saw. A mid-flow
        // packet of a flow another director scheduled is scheduled here (sloppy_tcp) and mh, with
        // the same real-server list from etcd on every director, picks the same real server.
        for (const k of [1, 2, 3]) await topo.stop(k);
        writeFileSync(join(topo.tmp, 'sloppy.conf'), '# wasmvs-proxy option sloppy_tcp=1\n');
        for (const k of [1, 2, 3]) await topo.startDirector(k, { sync: false, config: join(topo.tmp, 'sloppy.conf') });
        client = topo.client(N);
        const io = reader(client);
        const ready = await io.next('ready ', 90_000) as { open: number; ports: number[] };
        expect(ready.open).toBe(N);
        // Nothing synced: the directors' tables together hold each connection once (the
        // previous client's last packets, met by sloppy_tcp, may have left entries of their own).
        const held = [1, 2, 3].map((k) => { const p = topo.connPorts(k); return ready.ports.filter((x) => p.has(x)).length; });
        expect(held.reduce((a, b) => a + b, 0)).toBe(N);
        await progress(io, 2048);
        await topo.kill(2);
        topo.route([1, 3]);
        await progress(io, 2048);
        await topo.startDirector(2, { sync: false, config: join(topo.tmp, 'sloppy.conf') });
        topo.route([1, 2, 3]);
        await progress(io, 2048);
        io.write('stop');
        const result = await io.next('result ', 60_000) as { total: number; broken: number; why: string[] };
        console.log(`ecmp ${mode} without sync (mh agreement only): ${result.broken} of ${result.total} connections broken; ` +
          `entries per director before the kill ${held.join('/')}` + (result.why.length ? `; ${result.why.join('; ')}` : ''));
        expect(result.why).toEqual([]);
        expect(result.broken).toBe(0);
      }, 240_000);
    }

    if (mode === 'nat') {
      it('persistence across directors: a client\'s new connections follow the template another director made, before and after a failure', async () => {
        // rr, so directors do not agree by themselves: only the synced template keeps a client on its server.
        const P = PORT + 1;
        topo.adm(1, '-A', '-t', `${VIP}:${P}`, '-s', 'rr', '-p', '300');
        for (const rs of RS) topo.adm(1, '-a', '-t', `${VIP}:${P}`, '-r', `${rs}:${PORT}`, '-m');
        for (const k of [1, 2, 3]) await until(() => RS.every((rs) => topo.adm(k, '-L', '-n').includes(`${rs}:${PORT}`) && topo.adm(k, '-L', '-n').includes(`${VIP}:${P}`)), `d${k} has the persistent service`);
        const first = new Map(topo.greet(P, 1, CLIENTS).map((x) => [x.src, x.rs]));
        expect([...first.values()].every((rs) => /^s[123]$/.test(rs))).toBe(true);
        // Each director holds every client's template (its own or synced).
        for (const k of [1, 2, 3]) await until(() => topo.templates(k, P).size === CLIENTS.length, `d${k} holds the ${CLIENTS.length} templates`);
        const moved = (list: { src: string; rs: string }[]) => list.filter((x) => x.rs !== first.get(x.src)).map((x) => `${x.src} → ${x.rs} (was ${first.get(x.src)})`);
        // New connections (other ports: the router spreads them over the three directors).
        const before = topo.greet(P, 6, CLIENTS);
        await topo.kill(2);
        topo.route([1, 3]);
        const after = topo.greet(P, 6, CLIENTS);
        const d2 = await topo.startDirector(2);
        expect(d2.log()).toMatch(/sync: snapshot from d[13]/);
        expect(topo.templates(2, P).size).toBe(CLIENTS.length);
        topo.route([1, 2, 3]);
        const back = topo.greet(P, 6, CLIENTS);
        console.log(`ecmp nat persistence: ${moved([...before, ...after, ...back]).length} of ${before.length + after.length + back.length} new connections left their client's server`);
        expect(moved(before)).toEqual([]);
        expect(moved(after)).toEqual([]);
        expect(moved(back)).toEqual([]);
        expect(before.length + after.length + back.length).toBe(3 * 6 * CLIENTS.length);
      }, 120_000);

      it('a director with a wrong sync key imports nothing; its frames are refused and counted', async () => {
        const d4 = await topo.startDirector(4, { key: topo.badKey, wait: 3 });
        expect(d4.log()).toContain('sync: no peer sent its snapshot within 3 s: serving without one');
        expect(topo.connPorts(4).size).toBe(0);
        expect(d4.log()).toMatch(/sync: frame from d[123] \(.*\) refused \(bad MAC: wrong key or altered\)/);
        for (const k of [1, 3]) expect(topo.directors.get(k)!.log()).toMatch(/sync: frame from d4 \(.*\) refused \(bad MAC: wrong key or altered\); \d+ refused so far/);
        await topo.stop(4);
      }, 60_000);
    }
  });
}
