// The real ldirectord (Debian package) driving a wasmvsd, for the proxy and
// gateway suites alike: it runs /usr/sbin/ipvsadm only, so that file is bound
// to a two-line wasmvsadm wrapper in a mount namespace of ldirectord's own
// (docs/ldirectord.md), and nothing on the machine changes. Every wait is bounded.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { WASMVSADM } from './daemon.js';

export const LDIRECTORD = '/usr/sbin/ldirectord';
/** The Debian package depends on ipvsadm: its binary is the file wasmvsadm is bound over. */
export const IPVSADM = '/usr/sbin/ipvsadm';

/** Why ldirectord cannot run here, or null. */
export function missingLdirectord(): string | null {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root (ldirectord runs in a mount namespace of its own)';
  if (!existsSync(LDIRECTORD)) return 'ldirectord not installed (apt-get install ldirectord, see .ci/run)';
  if (!existsSync(IPVSADM)) return 'ipvsadm not installed (a dependency of the ldirectord package)';
  if (spawnSync('unshare', ['--mount', 'true']).status !== 0) return 'cannot create a mount namespace (unshare)';
  return null;
}

/** A running ldirectord: its configuration file, its log file and the daemon's pid. */
export interface Ld { cf: string; log: string; pid: number; netns?: string }

const pidFile = (cf: string) => `/run/ldirectord.${basename(cf)}.pid`;
const alive = (pid: number) => pid > 0 && existsSync(`/proc/${pid}`);
const inNetns = (netns: string | undefined, argv: string[]) => (netns ? ['ip', 'netns', 'exec', netns, ...argv] : argv);

function run(argv: string[], what: string): void {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`${what}: exit ${r.status}: ${r.stdout}${r.stderr}${r.error?.message ?? ''}`);
}

/**
 * `ldirectord CF start` as an init script runs it (in network namespace `netns` when given), with
 * /usr/sbin/ipvsadm bound to a wrapper around `wasmvsadm --socket SOCKET`. `name` names the
 * configuration file in `dir` (its pid file is /run/ldirectord.NAME.pid); `text` is the configuration
 * after the `logfile=` line this adds. Resolves once the daemon runs.
 */
export async function startLdirectord(o: { dir: string; socket: string; name: string; text: string; netns?: string }): Promise<Ld> {
  const wrapper = join(o.dir, 'ipvsadm');
  writeFileSync(wrapper, `#!/bin/sh\nexec '${process.execPath}' '${WASMVSADM}' --socket '${o.socket}' "$@"\n`);
  chmodSync(wrapper, 0o755);
  const ld: Ld = { cf: join(o.dir, o.name), log: join(o.dir, 'ldirectord.log'), pid: 0, netns: o.netns };
  writeFileSync(ld.cf, `logfile="${ld.log}"\n${o.text}`);
  run(inNetns(o.netns, ['unshare', '--mount', '--propagation', 'private', 'sh', '-c',
    `mount --bind '${wrapper}' ${IPVSADM} && exec ${LDIRECTORD} '${ld.cf}' start`]), 'ldirectord start');
  for (let i = 0; i < 200 && !alive(ld.pid); i++) {
    if (existsSync(pidFile(ld.cf))) ld.pid = Number(readFileSync(pidFile(ld.cf), 'utf8').trim());
    if (!alive(ld.pid)) await new Promise((r) => setTimeout(r, 50));
  }
  if (!alive(ld.pid)) throw new Error(`ldirectord did not start: ${ldirectordLog(ld)}`);
  return ld;
}

/**
 * `ldirectord CF ACTION` (stop, reload) as its init script runs it, outside the daemon's mount
 * namespace: it only signals the daemon (TERM, HUP), which runs the ipvsadm commands itself.
 */
export function ldirectordCtl(ld: Ld, action: 'stop' | 'reload'): void {
  run(inNetns(ld.netns, [LDIRECTORD, ld.cf, action]), `ldirectord ${action}`);
}

export const ldirectordRunning = (ld: Ld) => alive(ld.pid);

export const ldirectordLog = (ld: Ld) => (existsSync(ld.log) ? readFileSync(ld.log, 'utf8') : '');

/** After a test: the daemon killed if it still runs (a failed test), its pid file gone. */
export function killLdirectord(ld: Ld): void {
  if (alive(ld.pid)) process.kill(ld.pid, 'SIGKILL');
  rmSync(pidFile(ld.cf), { force: true });
}

/** The weight `-L -n` lists for real server `rs` (ADDR:PORT), or null when it is not listed. */
export function listedWeight(listing: string, rs: string): number | null {
  for (const line of listing.split('\n')) {
    const m = /^ {2}-> (\S+)\s+\S+\s+(\d+)/.exec(line);
    if (m && m[1] === rs) return Number(m[2]);
  }
  return null;
}
