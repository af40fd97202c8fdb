// An IPv6 gateway killed with SIGKILL leaves its ip6tables chains, its ip -6
// DR rules and routes, the IPv6 `local`-table swap and IPv6 forwarding
// behind; `wasmvsd gateway --cleanup`, or the next start followed by a clean
// stop, must leave none of it, with every interface's IPv6 forwarding back
// at the value it had (one interface forwards on its own before the run, so
// a restore that only wrote `all` would be caught). A real daemon in a fresh
// IPv6 topology (gw-topo6.ts) with a DR and a NAT service.
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { inCI } from './prereq.js';
import { killChildren } from './netns.js';
import { missingGatewayPrereq, startGateway, stopGateway, adm, type Daemon } from './gw-daemon.js';
import { Topo6, VIP6, RS6 } from './gw-topo6.js';
import { WASMVSD } from '../../daemon/daemon.js';

const why = missingGatewayPrereq('ip6tables');
if (why && !inCI) console.warn(`\n*** SKIPPING wasmvsd gateway IPv6 crash cleanup: ${why} ***\n`);
const suite = describe.skipIf(why !== null && !inCI);
const QUEUE = 440 + (process.pid % 200);

let topos = 0;

function cleanup(topo: Topo6): { status: number | null; out: string } {
  const r = spawnSync('ip', ['netns', 'exec', topo.ns.director, process.execPath, WASMVSD, 'gateway', '--cleanup', '--socket', topo.socket],
    { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** Polls (bounded) until the gateway has installed its IPv6 rules and turned forwarding on. */
async function installed(topo: Topo6): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const st = topo.ownedState6();
    if (st.ip6tables.includes('WASMVS-GW') && st.rules.includes('31337:') && Object.values(topo.forwarding6()).every((v) => v === '1')) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the gateway did not install its IPv6 rules: ${JSON.stringify({ ...topo.ownedState6(), ...topo.forwarding6() })}`);
}

/** The director's IPv6 forwarding before any run: off, except its server side on its own. */
function original(topo: Topo6): Record<string, string> {
  return { all: '0', default: '0', lo: '0', [topo.dev.dirIn]: '0', [topo.dev.dirOut]: '1' };
}

async function crashed(topo: Topo6): Promise<void> {
  topo.setup6('dr', { vip: 'local' });
  topo.in('director', 'sysctl', '-qw', `net.ipv6.conf.${topo.dev.dirOut}.forwarding=1`);
  expect(topo.forwarding6()).toEqual(original(topo));
  const gw = await startGateway(topo, QUEUE);
  try {
    adm(topo, '-A', '-t', `[${VIP6}]:80`, '-s', 'rr');
    adm(topo, '-a', '-t', `[${VIP6}]:80`, '-r', RS6, '-g');
    adm(topo, '-A', '-u', `[${VIP6}]:53`, '-s', 'rr');
    adm(topo, '-a', '-u', `[${VIP6}]:53`, '-r', `[${RS6}]:5353`, '-m');
    await installed(topo);
    expect(existsSync(topo.sysctlRecord)).toBe(true);
  } finally {
    gw.proc.kill('SIGKILL');
    await gw.exited;
  }
  const left = topo.ownedState6();
  expect(left.ip6tables).toContain('WASMVS-GW');
  expect(left.ip6tables).toContain('--icmpv6-type 2');
  expect(left.rules).toContain('31337:');
  expect(left.rules).toContain('not from all fwmark');
  expect(Object.values(topo.forwarding6())).toEqual(['1', '1', '1', '1', '1']);
}

function clean(topo: Topo6): void {
  expect(topo.ownedState6()).toEqual({ ip6tables: '', rules: '' });
  expect(topo.ownedState()).toEqual({ iptables: '', rules: '' });
  expect(topo.in('director', 'ip', '-6', 'route', 'show', 'table', 'all').split('\n').filter((l) => l.includes(RS6) && l.startsWith('default'))).toEqual([]);
  expect(topo.forwarding6()).toEqual(original(topo));
  expect(existsSync(topo.sysctlRecord)).toBe(false);
}

suite('wasmvsd gateway over IPv6, SIGTERM: the control socket goes last', () => {
  afterEach(killChildren);

  it('once the socket is gone the rules, routes and sysctls are already back (gone = stopped)', async () => {
    if (why) throw new Error(`gateway IPv6 suite prerequisites missing in CI: ${why}`);
    const topo = new Topo6(`g6t${process.pid % 10000}x${topos++}`);
    let gw: Daemon | undefined;
    try {
      topo.setup6('dr', { vip: 'local' });
      topo.in('director', 'sysctl', '-qw', `net.ipv6.conf.${topo.dev.dirOut}.forwarding=1`);
      gw = await startGateway(topo, QUEUE);
      adm(topo, '-A', '-t', `[${VIP6}]:80`, '-s', 'rr');
      adm(topo, '-a', '-t', `[${VIP6}]:80`, '-r', RS6, '-g');
      adm(topo, '-A', '-u', `[${VIP6}]:53`, '-s', 'rr');
      adm(topo, '-a', '-u', `[${VIP6}]:53`, '-r', `[${RS6}]:5353`, '-m');
      await installed(topo);
      gw.proc.kill('SIGTERM');
      // Poll the socket, not the process: a script that waits for the socket to vanish
      // (as an operator's would) must find the director as it was.
      let gone = false;
      for (let i = 0; i < 400 && !gone; i++) {
        gone = !existsSync(topo.socket);
        if (!gone) await new Promise((r) => setTimeout(r, 5));
      }
      expect(gone).toBe(true);
      clean(topo);
      await gw.exited;
      gw = undefined;
    } finally {
      if (gw) await stopGateway(gw);
      topo.teardown();
    }
  });
});

suite('wasmvsd gateway over IPv6 after SIGKILL: nothing left behind', () => {
  afterEach(killChildren);

  it('`wasmvsd gateway --cleanup` removes the ip6tables chains, ip -6 rules and routes and restores IPv6 forwarding per interface', async () => {
    if (why) throw new Error(`gateway IPv6 suite prerequisites missing in CI: ${why}`);
    const topo = new Topo6(`g6k${process.pid % 10000}x${topos++}`);
    try {
      await crashed(topo);
      const r = cleanup(topo);
      expect(r.out).toContain('net.ipv6.conf.all.forwarding=0');
      expect(r.status).toBe(0);
      clean(topo);
    } finally {
      topo.teardown();
    }
  });

  it('the next start restores what the dead run recorded first, so its clean stop puts the originals back', async () => {
    if (why) throw new Error(`gateway IPv6 suite prerequisites missing in CI: ${why}`);
    const topo = new Topo6(`g6k${process.pid % 10000}x${topos++}`);
    let gw: Daemon | undefined;
    try {
      await crashed(topo);
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
});
