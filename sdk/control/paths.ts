// Where the control socket and the state file live (Node only).
import { join } from 'node:path';
import { homedir, tmpdir } from 'node:os';

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
