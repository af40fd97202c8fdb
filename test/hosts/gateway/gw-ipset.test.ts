// Many services on scattered VIPs (no two adjacent, as ClusterIPs drawn from
// a range are): a real `wasmvsd gateway` matches them through ipsets, a few
// rules whatever the count, instead of one rule per VIP that every packet
// would walk. Checked in namespaces with real connections, on the fast path
// (the default) and the userspace path: the rules stay few, a service added
// or deleted changes set entries and not rules, connections to the first,
// a middle and the last VIP are served, and stop or SIGKILL + --cleanup
// leave no set behind.
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { inCI } from './prereq.js';
import { inNs, killChildren } from './netns.js';
import { Topo, DIR_IN, RS, waitLine } from './gw-topo.js';
import { missingGatewayPrereq, startGateway, stopGateway, adm, PEER } from './gw-daemon.js';
import { WASMVSD, WASMVSADM } from '../../daemon/daemon.js';

const why = missingGatewayPrereq('ipset');
if (why && !inCI) console.warn(`\n*** SKIPPING gateway ipset suite: ${why} ***\n`);
const suite = describe.skipIf(why !== null && !inCI);
const QUEUE = 330 + (process.pid % 200), PORT = 80, RPORT = 8080, COUNT = 60;
/** Service i's VIP: i times an odd constant in 198.19.0.0/16, so the VIPs do not merge into CIDR blocks. */
const vip = (i: number) => { const a = (i * 40503 + 7) & 65535; return `198.19.${a >> 8}.${a & 255}`; };
let topos = 0;

function sets(topo: Topo): Record<string, number> {
  const names = topo.in('director', 'ipset', 'list', '-n').split('\n').filter((n) => n.startsWith('wasmvs'));
  return Object.fromEntries(names.map((n) => [n, Number(/Number of entries: (\d+)/.exec(topo.in('director', 'ipset', 'list', n))?.[1] ?? -1)]));
}
const mangle = (topo: Topo) => topo.in('director', 'iptables', '-t', 'mangle', '-S', 'WASMVS-GW').split('\n').filter((l) => l.startsWith('-A'));

async function until(what: () => boolean, ms: number): Promise<boolean> {
  for (let i = 0; i < ms / 100 && !what(); i++) await new Promise((r) => setTimeout(r, 100));
  return what();
}

/** One connection client → addr:PORT through the director; the line the client printed. */
async function connect(topo: Topo, addr: string): Promise<string> {
  const server = inNs(topo.ns.server, process.execPath, [PEER, 'tcp-server', '0.0.0.0', String(RPORT), '1']);
  try {
    await waitLine(server, (l) => l === 'ready', 10_000);
    const r = spawnSync('ip', ['netns', 'exec', topo.ns.client, process.execPath, PEER, 'tcp-client', addr, String(PORT), '1', '32'],
      { encoding: 'utf8', timeout: 20_000 });
    return r.stdout.split('\n').find((l) => l.startsWith('reply ')) ?? `no reply: ${r.stdout}${r.stderr}`;
  } finally {
    server.kill();
  }
}

async function run(fast: 'on' | 'off') {
  const topo = new Topo(`gs${process.pid % 10000}x${topos++}`);
  try {
    topo.setup('nat');
    topo.in('client', 'ip', 'route', 'add', '198.19.0.0/16', 'via', DIR_IN);
    const gw = await startGateway(topo, QUEUE, '--fast-path', fast);
    try {
      const lines = [];
      for (let i = 0; i < COUNT; i++) lines.push(`-A -t ${vip(i)}:${PORT} -s rr`, `-a -t ${vip(i)}:${PORT} -r ${RS[0]}:${RPORT} -m`);
      const r = spawnSync(process.execPath, [WASMVSADM, '--socket', topo.socket, '-R'], { input: lines.join('\n') + '\n', encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      // Requests: one set of VIP,tcp:port entries (the fast path's, or the userspace path's with its ICMP set).
      const req = fast === 'on' ? 'wasmvs-gw4-fresh' : 'wasmvs-gw4-vips';
      expect(await until(() => sets(topo)[req] === COUNT, 10_000), JSON.stringify(sets(topo))).toBe(true);
      const rules = mangle(topo);
      expect(rules.length).toBeLessThanOrEqual(4);
      expect(rules.some((l) => l.includes(`--match-set ${req} dst,dst`))).toBe(true);
      expect(rules.join('\n')).not.toContain('198.19.');
      for (const i of [0, COUNT >> 1, COUNT - 1]) expect(await connect(topo, vip(i))).toMatch(/^reply /);
      // A weight change (no rule depends on it) leaves rules and sets as they are; the next structural change still lands.
      adm(topo, '-e', '-t', `${vip(0)}:${PORT}`, '-r', `${RS[0]}:${RPORT}`, '-m', '-w', '3');
      expect(adm(topo, '-L', '-n', '-t', `${vip(0)}:${PORT}`)).toMatch(/Masq\s+3\s/);
      expect(mangle(topo)).toEqual(rules);
      expect(sets(topo)[req]).toBe(COUNT);
      // One more service: one entry more, the same rules.
      adm(topo, '-A', '-t', `${vip(COUNT)}:${PORT}`, '-s', 'rr');
      adm(topo, '-a', '-t', `${vip(COUNT)}:${PORT}`, '-r', `${RS[0]}:${RPORT}`, '-m');
      expect(await until(() => sets(topo)[req] === COUNT + 1, 10_000), JSON.stringify(sets(topo))).toBe(true);
      expect(mangle(topo)).toEqual(rules);
      expect(await connect(topo, vip(COUNT))).toMatch(/^reply /);
      // Down to a few services: per-VIP rules again, and our sets are gone.
      for (let i = 3; i <= COUNT; i++) adm(topo, '-D', '-t', `${vip(i)}:${PORT}`);
      expect(await until(() => Object.keys(sets(topo)).length === 0, 10_000), JSON.stringify(sets(topo))).toBe(true);
      expect(mangle(topo).join('\n')).toContain(`-d ${vip(1)}/32`);
      expect(await connect(topo, vip(1))).toMatch(/^reply /);
    } finally {
      await stopGateway(gw);
    }
    expect(sets(topo)).toEqual({});
    expect(topo.ownedState()).toEqual({ iptables: '', rules: '' });
  } finally {
    topo.teardown();
  }
}

suite('wasmvsd gateway: many scattered VIPs are matched through ipsets', () => {
  afterEach(killChildren);

  it('fast path: a few rules for 60 services, entries follow the services, nothing left at stop', async () => {
    if (why) throw new Error(`gateway suite prerequisites missing in CI: ${why}`);
    await run('on');
  });

  it('userspace path: the same', async () => {
    if (why) throw new Error(`gateway suite prerequisites missing in CI: ${why}`);
    await run('off');
  });

  it('after SIGKILL the sets stay; `wasmvsd gateway --cleanup` removes them with the rules', async () => {
    if (why) throw new Error(`gateway suite prerequisites missing in CI: ${why}`);
    const topo = new Topo(`gs${process.pid % 10000}x${topos++}`);
    try {
      topo.setup('nat');
      const gw = await startGateway(topo, QUEUE, '--fast-path', 'off');
      try {
        for (let i = 0; i < 20; i++) {
          adm(topo, '-A', '-t', `${vip(i)}:${PORT}`, '-s', 'rr');
          adm(topo, '-a', '-t', `${vip(i)}:${PORT}`, '-r', `${RS[0]}:${RPORT}`, '-m');
        }
        expect(await until(() => sets(topo)['wasmvs-gw4-vips'] === 20, 10_000), JSON.stringify(sets(topo))).toBe(true);
      } finally {
        gw.proc.kill('SIGKILL');
        await gw.exited;
      }
      expect(Object.keys(sets(topo)).length).toBeGreaterThan(0);
      const r = spawnSync('ip', ['netns', 'exec', topo.ns.director, process.execPath, WASMVSD, 'gateway', '--cleanup', '--socket', topo.socket],
        { encoding: 'utf8', timeout: 30_000 });
      expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
      expect(sets(topo)).toEqual({});
      expect(topo.ownedState()).toEqual({ iptables: '', rules: '' });
    } finally {
      topo.teardown();
    }
  });
});
