// A gateway killed with SIGKILL leaves its chains, DR rules and routes, the
// `local`-table swap and its sysctls behind; `wasmvsd gateway --cleanup`, or
// the next start followed by a clean stop, must leave none of it, with
// ip_forward, accept_local and rp_filter back at the values they had before
// the first run. A real daemon in a fresh namespace topology (gw-topo.ts),
// a DR and a TUN service so every kind of change is made.
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { inCI } from './prereq.js';
import { killChildren } from './netns.js';
import { Topo, VIP, RS } from './gw-topo.js';
import { missingGatewayPrereq, startGateway, stopGateway, adm, type Daemon } from './gw-daemon.js';
import { WASMVSD } from '../../daemon/daemon.js';

const why = missingGatewayPrereq();
if (why && !inCI) console.warn(`\n*** SKIPPING wasmvsd gateway crash cleanup: ${why} ***\n`);
const suite = describe.skipIf(why !== null && !inCI);
const QUEUE = 240 + (process.pid % 200);
/** The sysctls a DR + TUN gateway changes on a director with strict reverse-path filtering. */
const KEYS = ['ip_forward', 'conf.all.accept_local', 'conf.all.rp_filter'];
const ORIGINAL = { ip_forward: '0', 'conf.all.accept_local': '0', 'conf.all.rp_filter': '1' };
const CHANGED = { ip_forward: '1', 'conf.all.accept_local': '1', 'conf.all.rp_filter': '2' };

let topos = 0;

function sysctls(topo: Topo): Record<string, string> {
  return Object.fromEntries(KEYS.map((k) => [k, topo.in('director', 'sysctl', '-n', `net.ipv4.${k}`).trim()]));
}

function cleanup(topo: Topo): { status: number | null; out: string } {
  const r = spawnSync('ip', ['netns', 'exec', topo.ns.director, process.execPath, WASMVSD, 'gateway', '--cleanup', '--socket', topo.socket],
    { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/**
 * The director's iptables-nft tables (`table ip raw` …): iptables-nft keeps a table's built-in chains, empty
 * but hooked, after our rules are gone; tables the gateway made must go with it.
 */
function baseTables(topo: Topo): string[] {
  return topo.in('director', 'nft', 'list', 'tables').split('\n').map((l) => l.trim()).filter((l) => /^table ip6? (raw|mangle)$/.test(l));
}

/** Polls (bounded) until the gateway has installed the rules and changed the sysctls. */
async function installed(topo: Topo): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const st = topo.ownedState();
    if (st.iptables.includes('WASMVS-GW') && st.rules.includes('31337:') && JSON.stringify(sysctls(topo)) === JSON.stringify(CHANGED)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the gateway did not install its rules: ${JSON.stringify({ ...topo.ownedState(), ...sysctls(topo) })}`);
}

/** A director with strict rp_filter, a gateway serving a DR and a TUN service, killed with SIGKILL. */
async function crashed(topo: Topo): Promise<void> {
  topo.setup('dr', { vip: 'local' });
  for (const c of ['all', 'default', topo.dev.dirIn, topo.dev.dirOut]) topo.in('director', 'sysctl', '-qw', `net.ipv4.conf.${c}.rp_filter=1`);
  expect(sysctls(topo)).toEqual(ORIGINAL);
  expect(baseTables(topo)).toEqual([]);
  const gw = await startGateway(topo, QUEUE);
  try {
    adm(topo, '-A', '-t', `${VIP}:80`, '-s', 'rr');
    adm(topo, '-a', '-t', `${VIP}:80`, '-r', RS[0], '-g');
    adm(topo, '-A', '-t', `${VIP}:81`, '-s', 'rr');
    adm(topo, '-a', '-t', `${VIP}:81`, '-r', RS[1], '-i');
    await installed(topo);
    expect(existsSync(topo.sysctlRecord)).toBe(true);
    // A cleanup while the daemon answers on its socket touches nothing.
    const refused = cleanup(topo);
    expect(refused.status).toBe(1);
    expect(refused.out).toContain('a daemon answers on');
    await installed(topo);
  } finally {
    gw.proc.kill('SIGKILL');
    await gw.exited;
  }
  // Everything is still there: the rules, the local-table swap, the sysctls, the record.
  const left = topo.ownedState();
  expect(left.iptables).toContain('WASMVS-GW');
  expect(left.rules).toContain('31337:');
  expect(left.rules).toContain('not from all fwmark');
  expect(sysctls(topo)).toEqual(CHANGED);
  expect(existsSync(topo.sysctlRecord)).toBe(true);
  expect(baseTables(topo)).toEqual(expect.arrayContaining(['table ip raw', 'table ip mangle']));
}

function clean(topo: Topo): void {
  expect(topo.ownedState()).toEqual({ iptables: '', rules: '' });
  expect(topo.in('director', 'ip', 'route', 'show', 'table', 'all').split('\n').filter((l) => l.includes(RS[0]) && l.startsWith('default'))).toEqual([]);
  expect(sysctls(topo)).toEqual(ORIGINAL);
  expect(existsSync(topo.sysctlRecord)).toBe(false);
  // The iptables tables the gateway made are gone too (they did not exist before it).
  expect(baseTables(topo)).toEqual([]);
}

suite('wasmvsd gateway after SIGKILL: nothing left behind', () => {
  afterEach(killChildren);

  it('`wasmvsd gateway --cleanup` removes the rules, routes and local-table swap and restores the recorded sysctls', async () => {
    if (why) throw new Error(`gateway suite prerequisites missing in CI: ${why}`);
    const topo = new Topo(`gk${process.pid % 10000}x${topos++}`);
    try {
      await crashed(topo);
      const r = cleanup(topo);
      expect(r.out).toContain('sysctls restored: net.ipv4.ip_forward=0');
      expect(r.status).toBe(0);
      clean(topo);
      // A second run finds nothing and says so.
      const again = cleanup(topo);
      expect(again.status).toBe(0);
      expect(again.out).toContain('no sysctl to restore');
      clean(topo);
    } finally {
      topo.teardown();
    }
  });

  it('the next start restores the recorded sysctls first, so its clean stop puts the originals back', async () => {
    if (why) throw new Error(`gateway suite prerequisites missing in CI: ${why}`);
    const topo = new Topo(`gk${process.pid % 10000}x${topos++}`);
    let gw: Daemon | undefined;
    try {
      await crashed(topo);
      // The state file brings the services back, so the restarted gateway changes the same sysctls again.
      gw = await startGateway(topo, QUEUE);
      await installed(topo);
      expect(gw.log()).toContain('restored what a previous run changed');
      const log = await stopGateway(gw);
      gw = undefined;
      expect(log).toContain('gateway stopped');
      clean(topo);
    } finally {
      if (gw) await stopGateway(gw);
      topo.teardown();
    }
  });

  it('a clean stop removes the iptables tables the gateway made, and keeps one that was there before it', async () => {
    if (why) throw new Error(`gateway suite prerequisites missing in CI: ${why}`);
    const topo = new Topo(`gk${process.pid % 10000}x${topos++}`);
    let gw: Daemon | undefined;
    try {
      topo.setup('dr', { vip: 'local' });
      // Someone's mangle table (their rule came and went): it was there before, so it stays.
      topo.in('director', 'iptables', '-t', 'mangle', '-A', 'OUTPUT', '-j', 'ACCEPT');
      topo.in('director', 'iptables', '-t', 'mangle', '-D', 'OUTPUT', '-j', 'ACCEPT');
      expect(baseTables(topo)).toEqual(['table ip mangle']);
      gw = await startGateway(topo, QUEUE);
      adm(topo, '-A', '-t', `${VIP}:80`, '-s', 'rr');
      adm(topo, '-a', '-t', `${VIP}:80`, '-r', RS[0], '-g');
      for (let i = 0; i < 100 && !topo.ownedState().iptables.includes('notrack'); i++) await new Promise((r) => setTimeout(r, 100));
      expect(baseTables(topo)).toEqual(expect.arrayContaining(['table ip raw', 'table ip mangle']));
      await stopGateway(gw);
      gw = undefined;
      expect(topo.ownedState()).toEqual({ iptables: '', rules: '' });
      expect(baseTables(topo)).toEqual(['table ip mangle']);
    } finally {
      if (gw) await stopGateway(gw);
      topo.teardown();
    }
  });
});
