// The open-files limit follows the listeners (hosts/proxy/fdlimit.ts). Units:
// what is needed and asked for, soft before hard, one warning per step of
// shortfall. Daemons under `prlimit --nofile=256:256`, with more listening
// sockets than that (TCP services × pumps): as root the daemon raises its own
// limit and every service listens and answers; without CAP_SYS_RESOURCE it
// says once by how much the limit is short, the services past it report
// EMFILE, and the daemon keeps serving the rest and answering wasmvsadm.
import { describe, it, expect, afterEach } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { fdsNeeded, raiseTarget, parseNofile, OpenFiles, STEP, type FdSystem, type Nofile } from '../../../hosts/proxy/fdlimit.js';
import type { Logger } from '../../../daemon/logger.js';
import { lab, backend, freePort, client, until, teardown, fetchText, metricsPort, requireBuild, type Lab } from './harness.js';
import { ADDON, inCI } from '../gateway/prereq.js';
import { commandProblem } from '../../chaos/kit.js';

describe('open-files limit: units', () => {
  it('reads /proc/PID/limits', () => {
    const text = 'Limit                     Soft Limit           Hard Limit           Units     \n' +
      'Max processes             95000                95000                processes \n' +
      'Max open files            1024                 524288               files     \n';
    expect(parseNofile(text)).toEqual({ soft: 1024, hard: 524288 });
    expect(parseNofile('Max open files            unlimited            unlimited            files \n')).toEqual({ soft: Infinity, hard: Infinity });
    expect(parseNofile('nothing here')).toBeNull();
  });

  it('needs the listeners past half the reserve on top of the limit the bounds came from', () => {
    expect(fdsNeeded(20000, 1024, 100)).toBe(20000);
    expect(fdsNeeded(20000, 1024, 512)).toBe(20000);
    expect(fdsNeeded(20000, 1024, 40000)).toBe(20000 + 40000 - 512);
    expect(raiseTarget({ soft: 20000, hard: 20000 }, 20000, 1 << 20)).toBeNull();
    // A step multiple, the hard limit raised only past it, never past nr_open.
    expect(raiseTarget({ soft: 20000, hard: 20000 }, 59488, 1 << 20)).toEqual({ soft: 61440, hard: 61440 });
    expect(raiseTarget({ soft: 1024, hard: 524288 }, 3000, 1 << 20)).toEqual({ soft: STEP, hard: 524288 });
    expect(raiseTarget({ soft: 20000, hard: 20000 }, 2_000_000, 1 << 20)).toEqual({ soft: 1 << 20, hard: 1 << 20 });
  });

  interface Fake extends FdSystem { limits: Map<number, Nofile>; calls: Array<[number, Nofile]>; privileged: boolean }
  function fake(soft: number, hard: number, privileged: boolean, workers: number[] = []): Fake {
    const limits = new Map<number, Nofile>([[0, { soft, hard }], ...workers.map((p) => [p, { soft, hard }] as [number, Nofile])]);
    const f: Fake = {
      limits, calls: [], privileged,
      read: (pid) => limits.get(pid) ?? null,
      nrOpen: () => 1 << 20,
      open: () => 20,
      set(pid, to) {
        f.calls.push([pid, to]);
        const now = limits.get(pid)!;
        if (to.hard > now.hard && !f.privileged) return 'Operation not permitted';
        limits.set(pid, to);
        return null;
      },
    };
    return f;
  }
  function logger(): Logger & { lines: Array<[string, string]> } {
    const lines: Array<[string, string]> = [];
    const at = (level: string) => (a: unknown, b?: unknown) => { lines.push([level, String(typeof a === 'string' ? a : b)]); };
    return { lines, info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') } as unknown as Logger & { lines: Array<[string, string]> };
  }

  it('raises this process and the workers once per step, and says so', () => {
    const sys = fake(20000, 20000, true, [4242]);
    const log = logger();
    const o = new OpenFiles(log, sys);
    expect(o.ensure(300, 20000, 1024, [4242])).toBe(20000);
    expect(sys.calls).toEqual([]);
    expect(o.ensure(40000, 20000, 1024, [4242])).toBe(61440);
    expect(sys.limits.get(0)).toEqual({ soft: 61440, hard: 61440 });
    expect(sys.limits.get(4242)).toEqual({ soft: 61440, hard: 61440 });
    expect(log.lines.filter(([l]) => l === 'info')).toHaveLength(1);
    expect(log.lines[0][1]).toContain('raised from 20000 to 61440 for 40000 listening sockets');
    // More listeners within the step: nothing read, nothing set.
    const calls = sys.calls.length;
    expect(o.ensure(41000, 20000, 1024, [4242])).toBe(61440);
    expect(sys.calls.length).toBe(calls);
    expect(log.lines.filter(([l]) => l === 'warn')).toEqual([]);
  });

  it('without the privilege: the soft limit up to the hard one, then one warning per step of shortfall', () => {
    const sys = fake(1024, 4096, false);
    const log = logger();
    const o = new OpenFiles(log, sys);
    expect(o.ensure(2000, 1024, 128, [])).toBe(4096);
    expect(log.lines.filter(([l]) => l === 'warn')).toEqual([]);
    expect(o.ensure(9000, 1024, 128, [])).toBe(4096);
    const warns = () => log.lines.filter(([l]) => l === 'warn').map(([, m]) => m);
    expect(warns()).toHaveLength(1);
    expect(warns()[0]).toMatch(/open-files limit 4096 is short of the 9960 .*Operation not permitted.*raise LimitNOFILE/);
    o.ensure(9100, 1024, 128, []);
    expect(warns()).toHaveLength(1);
    o.ensure(9000 + STEP, 1024, 128, []);
    expect(warns()).toHaveLength(2);
    // Listeners may hold the limit but the 20 fds open before them and half the reserve.
    expect(o.room(128)).toBe(4096 - 20 - 64);
  });
});

const built = existsSync(ADDON);
const missing = commandProblem('prlimit') ?? commandProblem('setpriv');
if (missing && !inCI) console.warn(`\n*** SKIPPING open-files daemon cases: ${missing} ***\n`);

describe.skipIf(missing !== null && !inCI)('open-files limit: a daemon with more listening sockets than its limit', () => {
  let l: Lab | undefined;
  const closers: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    await teardown(l, closers);
    l = undefined;
  });

  const SERVICES = 200;
  /** SERVICES TCP services on 127.0.91.x, one port, one real server. */
  async function config(services = SERVICES): Promise<{ text: string; port: number; vip: (i: number) => string }> {
    if (missing) throw new Error(`open-files daemon cases: ${missing}`);
    requireBuild();
    const b = await backend('fd');
    closers.push(() => b.kill());
    const port = await freePort();
    const vip = (i: number) => `127.0.91.${i + 1}`;
    const lines: string[] = [];
    for (let i = 0; i < services; i++) lines.push(`-A -t ${vip(i)}:${port} -s rr`, `-a -t ${vip(i)}:${port} -r 127.0.0.1:${b.port} -m`);
    return { text: lines.join('\n') + '\n', port, vip };
  }
  const limitsOf = (pid: number) => readFileSync(`/proc/${pid}/limits`, 'utf8');
  const listeningCount = (log: string) => (log.match(/"msg":"listening"/g) ?? []).length;
  /** The real server's name, through the service on `host`. */
  async function through(port: number, host: string): Promise<string> {
    const c = await client(port, undefined, host);
    c.sock.destroy();
    return c.name;
  }

  it('--engine js: 150 listening sockets under 256 fds all listen; the flow bounds make room for them, nothing to raise', async () => {
    const { text, port, vip } = await config(150);
    l = lab('wasmvs-fdlimit-');
    const d = await l.start(`${text}# wasmvs-proxy metrics 127.0.0.1:0\n`, { nofile: 256, args: ['--engine', 'js'], dropCaps: ['sys_resource'] });
    await until(() => listeningCount(d.log()) === 150, '150 listeners', 20_000);
    // budget = 256 - 64 - (150 - 32) = 74: 37 UDP sessions, 18 TCP connections (48 and 96 without the listeners).
    await until(() => d.log().includes('flow limits: 150 listening sockets hold part of the open-files limit'), 'the bounds resized');
    expect(d.log()).toMatch(/"udpSessions":37,"udpSessionsPerService":19,"tcpConns":18,"tcpPending":18,.*"msg":"flow limits: 150 listening/);
    expect(d.log()).not.toContain('is short of');
    expect(d.log()).not.toContain('cannot listen');
    expect(limitsOf(d.proc.pid!)).toMatch(/Max open files\s+256\s+256\s/);
    for (const i of [0, 149]) expect(await through(port, vip(i))).toBe('fd');
    // The same on /metrics: the limit, what the listeners hold of it, the bounds in force.
    const m = await fetchText(`http://127.0.0.1:${await metricsPort(l)}/metrics`);
    const gauge = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(m)?.[1]);
    expect([gauge('wasmvs_open_files_limit'), gauge('wasmvs_listener_fds'), gauge('wasmvs_tcp_conns_limit'), gauge('wasmvs_udp_sessions_limit')])
      .toEqual([256, 150, 18, 37]);
  }, 60_000);

  it('--engine native, two pumps: 400 listening sockets under 256 fds; it says by how much the limit is short, and still answers wasmvsadm', async () => {
    if (!built) throw new Error(`addon not built: ${ADDON}`);
    const { text, port, vip } = await config();
    l = lab('wasmvs-fdlimit-');
    const d = await l.start(text, { nofile: 256, args: ['--engine', 'native', '--workers', '2'], dropCaps: ['sys_resource'] });
    await until(() => d.log().includes('more services cannot listen') || d.log().includes('cannot listen'), 'listener errors', 20_000);
    // need = 256 + 400 - 32 = 624.
    expect(d.log()).toMatch(/open-files limit 256 is short of the 624 that 400 listening sockets .* raise LimitNOFILE/);
    expect(d.log()).toContain('EMFILE');
    expect(limitsOf(d.proc.pid!)).toMatch(/Max open files\s+256\s+256\s/);
    const up = listeningCount(d.log());
    expect(up).toBeGreaterThan(0);
    expect(up).toBeLessThan(SERVICES);
    // All that is left of the room (256 less the fds open before the listeners, less 32), two fds a service.
    expect(2 * up).toBeLessThanOrEqual(256 - 32 - 10);
    expect(2 * up).toBeGreaterThan(256 - 32 - 60);
    // The listeners stopped short of the fds kept for control: wasmvsadm still gets in.
    expect(d.log()).toMatch(/cannot listen: the listeners hold all the open-files limit \(256\) allows them, 32 fds stay free for wasmvsadm/);
    const listed = await l.adm('-L -n');
    expect(listed.code).toBe(0);
    expect(listed.out.split('\n').filter((x) => x.startsWith('TCP'))).toHaveLength(SERVICES);
    expect(await through(port, vip(0))).toBe('fd');
    // Deleting listening services makes room: the last service, left out, listens and answers.
    const last = `tcp|${vip(SERVICES - 1)}|${port}","msg":"listening"`;
    expect(d.log()).not.toContain(last);
    const del = await l.adm('-R', Array.from({ length: 100 }, (_, i) => `-D -t ${vip(i)}:${port}\n`).join(''));
    expect(del.code).toBe(0);
    await until(() => d.log().includes(last), 'the last service listening', 20_000);
    expect(await through(port, vip(SERVICES - 1))).toBe('fd');
  }, 60_000);
});
