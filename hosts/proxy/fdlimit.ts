// The open-files limit and the listeners. Every TCP service holds one
// listening fd per accepting thread (--engine native --workers N: N; Node's
// sockets: one per process), every UDP service one; 20,000 services with two
// pumps need 40,000 fds before the first client.
//
// Listeners never take the last half of the reserve (room()): a configuration
// with more services than fds leaves the daemon the fds to answer wasmvsadm
// (which may then delete services), health checks and metrics. Before, the
// listeners took every fd and wasmvsadm could no longer connect.
//
// When listeners reach that room (listeners.ts), the proxy raises its limit
// for the rest of the batch, as HAProxy raises its own to what maxconn needs,
// on top of the limit the flow bounds (limits.ts) were made from:
//
//   need = fds at start + max(0, listener fds - reserve / 2)
//
// rounded up to a multiple of STEP (a run of single -A's raises it once per
// STEP listeners) and at most /proc/sys/fs/nr_open. The soft limit rises up
// to the hard one for any user; past the hard one only with CAP_SYS_RESOURCE
// (root). Node has no setrlimit, so prlimit(1) (util-linux) sets it, for this
// process and for each worker process. When it cannot, one warning per STEP
// says by how much the limit is short and what to raise; the services past
// the room report why they cannot listen and are tried again later.
import { readFileSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import type { Logger } from '../../daemon/logger.js';
import { parseNofile, type Nofile } from './limits.js';

/** The limit moves in steps of this many fds. */
export const STEP = 4096;

export { parseNofile, type Nofile };

/** What the raise needs from the system; replaced in unit tests. */
export interface FdSystem {
  /** A process's limits (pid 0: this process); null when unreadable. */
  read(pid: number): Nofile | null;
  /** /proc/sys/fs/nr_open: the highest hard limit root may set. */
  nrOpen(): number;
  /** Set a process's limits; null when done, else why not (prlimit's message). */
  set(pid: number, to: Nofile): string | null;
  /** How many fds this process has open now. */
  open(): number;
}

export const linuxFds: FdSystem = {
  read(pid) {
    try {
      return parseNofile(readFileSync(`/proc/${pid === 0 ? 'self' : pid}/limits`, 'utf8'));
    } catch {
      return null;
    }
  },
  nrOpen() {
    try {
      return Number(readFileSync('/proc/sys/fs/nr_open', 'utf8').trim()) || 1048576;
    } catch {
      return 1048576;
    }
  },
  set(pid, to) {
    const r = spawnSync('prlimit', ['--pid', String(pid === 0 ? process.pid : pid), `--nofile=${to.soft}:${to.hard}`], { encoding: 'utf8', timeout: 5000 });
    if (r.error) return (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'prlimit(1) is not installed (util-linux)' : r.error.message;
    if (r.status !== 0) return (r.stderr || `prlimit exited with ${r.status}`).trim().replace(/^prlimit: /, '');
    return null;
  },
  open() {
    try {
      return readdirSync('/proc/self/fd').length - 1; // the directory's own fd
    } catch {
      return 0;
    }
  },
};

/** The fds the listeners need beyond the reserve, on top of the limit the bounds came from. */
export function fdsNeeded(startFds: number, reserve: number, listenerFds: number): number {
  return startFds + Math.max(0, listenerFds - Math.floor(reserve / 2));
}

/** The limits to ask for when `need` is above `now`: soft to a STEP multiple, the hard one raised only if it must be. */
export function raiseTarget(now: Nofile, need: number, nrOpen: number): Nofile | null {
  if (need <= now.soft) return null;
  const soft = Math.min(Math.ceil(need / STEP) * STEP, nrOpen);
  if (soft <= now.soft) return null;
  return { soft, hard: Math.max(now.hard, soft) };
}

export class OpenFiles {
  /** The soft limit this process has now, as far as we know (re-read before each raise). */
  private soft: number;
  /** The need, in STEPs, last tried for: a raise and its warning once per step of shortfall, not per listener. */
  private tried = 0;

  /** Fds open before the first listener (stdio, the control socket, the engine's and the loop's own): read at the first room(). */
  private baseline: number | null = null;

  constructor(private readonly log: Logger, private readonly sys: FdSystem = linuxFds) {
    this.soft = sys.read(0)?.soft ?? Infinity;
  }

  /** This process's soft limit as last read or set. */
  get limit(): number { return this.soft; }

  /** The fds listeners may hold: all but the baseline and half the reserve (kept for control, health checks, metrics). */
  room(reserve: number): number {
    this.baseline ??= this.sys.open();
    return this.soft - this.baseline - Math.ceil(reserve / 2);
  }

  /**
   * Make room for `listenerFds` listening fds in this process and in `pids`
   * (worker processes holding the same listeners). `startFds` and `reserve`:
   * the limit and reserve the flow bounds were derived from. Returns the soft
   * limit this process has afterwards.
   */
  ensure(listenerFds: number, startFds: number, reserve: number, pids: readonly number[] = []): number {
    const need = fdsNeeded(startFds, reserve, listenerFds);
    if (need <= this.soft) return this.soft;
    // Tried for this step already (refused): not again for every -A of a big configuration.
    const step = Math.ceil(need / STEP);
    if (step <= this.tried) return this.soft;
    this.tried = step;
    const now = this.sys.read(0);
    if (now === null) return this.soft;
    this.soft = now.soft;
    const nr = this.sys.nrOpen();
    const want = raiseTarget(now, need, nr);
    let why: string | null = need > nr ? `past fs.nr_open (${nr})` : null;
    if (want !== null) {
      let got: Nofile | null = null;
      const err = this.sys.set(0, want);
      if (err === null) got = want;
      else if (now.soft < now.hard) {
        // Not allowed past the hard limit (no CAP_SYS_RESOURCE): up to it, then.
        const upToHard = { soft: Math.min(want.soft, now.hard), hard: now.hard };
        if (this.sys.set(0, upToHard) === null) got = upToHard;
      }
      if (got !== null) {
        for (const pid of pids) {
          const w = this.sys.read(pid);
          const e = w !== null && w.soft < got.soft ? this.sys.set(pid, { soft: got.soft, hard: Math.max(w.hard, got.soft) }) : null;
          if (e !== null) this.log.warn({ pid }, `open-files limit of worker process ${pid} not raised: ${e}`);
        }
        this.log.info({ from: now.soft, to: got.soft, hard: got.hard, listenerFds }, `open-files limit raised from ${now.soft} to ${got.soft} for ${listenerFds} listening sockets`);
        this.soft = got.soft;
      }
      if (got === null || got.soft < need) why ??= err ?? 'not allowed';
    }
    if (need > this.soft && why !== null) {
      this.log.warn({ limit: this.soft, need, listenerFds },
        `open-files limit ${this.soft} is short of the ${need} that ${listenerFds} listening sockets and the flow bounds need, and cannot be raised (${why}): ` +
        'services past it cannot listen (EMFILE); raise LimitNOFILE= (systemd) or ulimit -n, or run as root');
    }
    return this.soft;
  }
}
