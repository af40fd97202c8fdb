// Where the control socket and the state file live (Node only).
import { join, dirname, basename } from 'node:path';
import { homedir, tmpdir } from 'node:os';
import { lstatSync, mkdirSync } from 'node:fs';

type Env = Record<string, string | undefined>;
const uid = () => (typeof process.getuid === 'function' ? process.getuid() : -1);

/** --socket, else WASMVS_SOCKET, else /run/wasmvs as root, else the user's runtime dir. */
export function socketPath(explicit?: string, env: Env = process.env, user = uid()): string {
  if (explicit) return explicit;
  if (env.WASMVS_SOCKET) return env.WASMVS_SOCKET;
  if (user === 0) return '/run/wasmvs/wasmvsd.sock';
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'wasmvs', 'wasmvsd.sock');
  return join(tmpdir(), `wasmvs-${user}`, 'wasmvsd.sock');
}

/** --state, else WASMVS_STATE, else /var/lib/wasmvs as root, else $XDG_STATE_HOME/wasmvs. */
export function statePath(explicit?: string, env: Env = process.env, user = uid()): string {
  if (explicit) return explicit;
  if (env.WASMVS_STATE) return env.WASMVS_STATE;
  if (user === 0) return '/var/lib/wasmvs/wasmvsd.rules';
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'wasmvs', 'wasmvsd.rules');
}

/**
 * Where a gateway records the sysctls it changed (their values before): beside
 * its control socket, in the runtime directory, as wasmvsd.sysctl.json for
 * wasmvsd.sock. Sysctls do not survive a reboot; /run does not either.
 */
export function sysctlRecordPath(socket: string): string {
  return join(dirname(socket), `${basename(socket).replace(/\.sock$/, '')}.sysctl.json`);
}

/**
 * Why the socket `file` in `dir` may not be used, or null when it may. The
 * directory must be a real directory (not a symlink) owned by one of `owners`
 * and writable by nobody else, or another local user could plant a socket
 * there and answer our requests (the default /tmp/wasmvs-UID is predictable).
 * One exception: a sticky directory (like /tmp) owned by one of `owners` or
 * root, where nobody can remove or replace another user's file; there the
 * socket file itself, if present, must belong to one of `owners`.
 */
export function unsafeDir(dir: string, owners: readonly number[], file?: string): string | null {
  const st = lstatSync(dir);
  if (st.isSymbolicLink()) return `${dir} is a symbolic link`;
  if (!st.isDirectory()) return `${dir} is not a directory`;
  const sticky = (st.mode & 0o1000) !== 0 && (owners.includes(st.uid) || st.uid === 0);
  if (sticky) {
    let f: ReturnType<typeof lstatSync> | null = null;
    try { f = file ? lstatSync(file) : null; } catch { f = null; }
    return f && !owners.includes(f.uid) ? `${file} belongs to uid ${f.uid}, not to uid ${owners.join(' or ')}` : null;
  }
  if (!owners.includes(st.uid)) return `${dir} is owned by uid ${st.uid}, not by uid ${owners.join(' or ')}`;
  if (st.mode & 0o022) return `${dir} is writable by ${st.mode & 0o020 ? 'its group' : 'other users'} (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')})`;
  return null;
}

/** The daemon's socket directory: created mode 0700 when missing, refused (thrown) when unsafe. */
export function privateSocketDir(dir: string, user = uid(), file?: string): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') { mkdirSync(dirname(dir), { recursive: true, mode: 0o700 }); mkdirSync(dir, { mode: 0o700 }); }
    else if (code !== 'EEXIST') throw e;
  }
  const why = unsafeDir(dir, [user], file);
  if (why) throw new Error(`refusing the control socket directory: ${why}; remove it or choose another with --socket`);
}
