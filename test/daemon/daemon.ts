// Real wasmvsd / wasmvsadm processes for end-to-end tests (built files in dist/).
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const WASMVSD = `${ROOT}bin/wasmvsd.js`;
export const WASMVSADM = `${ROOT}bin/wasmvsadm.js`;

export function requireBuild(): void {
  for (const f of ['dist/cli/wasmvsd.js', 'dist/cli/wasmvsadm.js']) {
    if (!existsSync(ROOT + f)) throw new Error(`${f} is missing: run \`npm run build:sdk\` first`);
  }
}

export interface Daemon { proc: ChildProcess; log: () => string; exited: Promise<number | null> }

export async function startDaemon(args: string[], socket: string): Promise<Daemon> {
  const proc = spawn(process.execPath, [WASMVSD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout!.on('data', (d) => { log += d; });
  proc.stderr!.on('data', (d) => { log += d; });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  // Bounded wait for the control socket to appear.
  for (let i = 0; i < 200 && !log.includes('control socket'); i++) {
    if (proc.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!existsSync(socket)) throw new Error(`wasmvsd did not start: ${log}`);
  return { proc, log: () => log, exited };
}

export interface Run { code: number; out: string; err: string }

export function wasmvsadm(args: string[], env: Record<string, string> = {}, stdin?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [WASMVSADM, ...args], { env: { ...process.env, ...env }, timeout: 30_000 },
      (err, out, errText) => resolve({ code: child.exitCode ?? (err as { code?: number } | null)?.code ?? -1, out, err: errText }));
    if (stdin !== undefined) child.stdin!.end(stdin);
  });
}
