// `npx wasmvsd …` (npm exec) puts two processes between the shell and the
// daemon: npm, whose PID is the `$!` the user signals, and the `sh -c` it runs
// the bin through. npm forwards only SIGINT and SIGTERM, to that shell, which
// dies without passing them on; any other signal (SIGHUP) kills npm outright.
// Either way the daemon would keep running, unreachable through `$!` (a gateway
// keeping its NFQUEUE rules). So under npm exec the daemon follows its launcher:
// once the shell or npm is gone it stops, exactly as on SIGTERM. Linux only
// (reads /proc); elsewhere nothing is watched.
import { readFileSync } from 'node:fs';

const SHELLS = new Set(['sh', 'dash', 'bash', 'zsh', 'ksh', 'ash']);

function stat(pid: number): { comm: string; ppid: number } | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = s.lastIndexOf(')');
    return { comm: s.slice(s.indexOf('(') + 1, close), ppid: Number(s.slice(close + 2).split(' ')[1]) };
  } catch {
    return null;
  }
}

/** True when this process was started by `npx`/`npm exec` (npm's run-script names the event `npx`). */
export function underNpmExec(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.npm_lifecycle_event === 'npx';
}

/**
 * Calls `gone` once when the launcher chain breaks: the parent exits, or the
 * parent is a shell whose own parent (npm) exits. Returns a function that stops watching.
 */
export function watchLauncher(gone: (why: string) => void, intervalMs = 250): () => void {
  const parent = process.ppid;
  const p = stat(parent);
  if (p === null) return () => {};
  const npm = SHELLS.has(p.comm) ? p.ppid : parent;
  const timer = setInterval(() => {
    let why: string | null = null;
    if (process.ppid !== parent) why = `its launcher (${p.comm}, pid ${parent}) exited`;
    else if (npm !== parent && stat(parent)?.ppid !== npm) why = `npm exec (pid ${npm}) exited`;
    if (why === null) return;
    clearInterval(timer);
    gone(why);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
