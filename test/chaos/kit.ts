// Shared pieces of the chaos suite: backends that are real processes (so a
// SIGKILL is a real crash), a seeded PRNG for kill delays, -R input of a
// known shape, a tmpfs mount that is always unmounted, and the daemon's log
// parsed as pino lines. Every wait is bounded; only PIDs started here are killed.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The playground's mulberry32, so every "random" kill delay is the same on every run. */
export { mulberry32 as prng } from '../../playground/src/rng.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A TCP backend in its own process: answers every connection with "NAME\n" and closes. */
export interface ProcBackend {
  name: string;
  port: number;
  proc: ChildProcess;
  /** SIGKILL the process and wait for it to be gone. */
  kill(): Promise<void>;
  /** A fresh process on the same port. */
  restart(): Promise<void>;
}

const BACKEND_CODE = "const [name,port]=process.argv.slice(1);const s=require('net').createServer((c)=>{c.on('error',()=>{});c.end(name+'\\n')});" +
  "s.listen(Number(port),'127.0.0.1',()=>process.stdout.write(s.address().port+'\\n'));";

function spawnBackend(name: string, port: number): Promise<{ proc: ChildProcess; port: number }> {
  const proc = spawn(process.execPath, ['-e', BACKEND_CODE, name, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`backend ${name} did not start`)); }, 10_000);
    proc.stdout!.once('data', (d) => { clearTimeout(t); resolve({ proc, port: Number(String(d).trim()) }); });
    proc.once('exit', (code) => { clearTimeout(t); reject(new Error(`backend ${name} exited (${code})`)); });
  });
}

export async function procBackend(name: string): Promise<ProcBackend> {
  const first = await spawnBackend(name, 0);
  const b: ProcBackend = {
    name, port: first.port, proc: first.proc,
    async kill() {
      if (b.proc.exitCode !== null || b.proc.signalCode !== null) return;
      const gone = new Promise((r) => b.proc.once('exit', r));
      b.proc.kill('SIGKILL');
      await gone;
    },
    async restart() {
      // The port may still be held by the dying process's sockets for a moment: retry (bounded).
      for (let i = 0; ; i++) {
        try { b.proc = (await spawnBackend(name, b.port)).proc; return; } catch (e) {
          if (i >= 50) throw e;
          await sleep(100);
        }
      }
    },
  };
  return b;
}

/**
 * `n` -R lines: services of three masq real servers each, in 198.18.`net`.0/24
 * (about 45 bytes a line; every line of the common shape, so one packed request).
 */
export function restoreLines(n: number, net: number): string[] {
  const out: string[] = [];
  for (let s = 0; out.length < n; s++) {
    const vip = `198.18.${net}.${s % 250}:${1000 + Math.floor(s / 250)}`;
    out.push(`-A -t ${vip} -s wlc`);
    for (let d = 1; d <= 3 && out.length < n; d++) out.push(`-a -t ${vip} -r 198.19.${s % 250}.${d}:8080 -m -w ${d}`);
  }
  return out;
}

/** The pino lines of a daemon log whose msg is `msg`. */
export function logLines(log: string, msg: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of log.split('\n')) {
    if (!line.includes(`"msg":"${msg}"`)) continue;
    try { out.push(JSON.parse(line)); } catch { /* a line torn by the kill */ }
  }
  return out;
}

/** Whether this process may mount a tmpfs (root, mount works); the reason when not. */
export function tmpfsProblem(): string | null {
  if (process.getuid?.() !== 0) return 'not root';
  const probe = mkdtempSync(join(tmpdir(), 'wasmvs-chaos-mnt-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'pipe' });
    execFileSync('umount', [probe], { stdio: 'pipe' });
    return null;
  } catch (e) {
    return `cannot mount a tmpfs: ${(e as Error).message.split('\n')[0]}`;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

/** Whether `command --version` runs; the reason when not. */
export function commandProblem(command: string): string | null {
  try {
    execFileSync(command, ['--version'], { stdio: 'pipe' });
    return null;
  } catch (e) {
    return `${command} is not usable: ${(e as Error).message.split('\n')[0]}`;
  }
}

/** CI fails a suite whose prerequisite is missing; elsewhere it is skipped with a loud reason. */
export function requireOrSkip(suite: string, problem: string | null): boolean {
  if (problem === null) return false;
  if (process.env.CI === 'true') throw new Error(`${suite}: ${problem} (required in CI)`);
  console.warn(`SKIPPING ${suite}: ${problem}`);
  return true;
}
