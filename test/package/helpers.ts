// Processes and servers for the package tests.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { existsSync, realpathSync } from 'node:fs';
import { dirname, extname, join, normalize } from 'node:path';
import type { AddressInfo } from 'node:net';
import { cleanEnv } from './project.js';

export interface Daemon {
  child: ChildProcess;
  /** The daemon's own pid, from its start line (npx puts npm and a shell in front of it). */
  daemonPid: number;
  log(): string;
  waitLog(text: string, ms?: number): Promise<void>;
  exited(ms?: number): Promise<void>;
}

export async function startDaemon(cmd: string, args: string[], cwd: string): Promise<Daemon> {
  const child = spawn(cmd, args, { cwd, env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
  let text = '';
  child.stderr!.on('data', (b: Buffer) => { text += b.toString(); });
  const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const waitLog = async (want: string, ms = 15_000) => {
    const until = Date.now() + ms;
    while (!text.includes(want)) {
      if (Date.now() > until || child.exitCode !== null) throw new Error(`no "${want}" from ${cmd} ${args.join(' ')}:\n${text}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await waitLog('control socket');
  const daemonPid = Number(/: pid (\d+), control socket/.exec(text)?.[1]);
  return {
    child, daemonPid, log: () => text, waitLog,
    exited: async (ms = 10_000) => {
      const t = setTimeout(() => { try { process.kill(daemonPid, 'SIGKILL'); } catch { /* gone */ } }, ms);
      await done;
      // The daemon itself may outlive npx by a moment.
      const until = Date.now() + ms;
      while (Date.now() < until) {
        try { process.kill(daemonPid, 0); } catch { break; }
        await new Promise((r) => setTimeout(r, 50));
      }
      clearTimeout(t);
    },
  };
}

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };

/** A static file server for one folder on loopback. */
export async function serveDir(dir: string): Promise<{ url: string; close(): void }> {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    const file = join(dir, path.endsWith('/') ? `${path}index.html` : path);
    readFile(file).then((body) => {
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body);
    }, () => res.writeHead(404).end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, close: () => server.close() };
}

/** Null when `unshare --net` works (root), else why not. */
export function canUnshareNet(): string | null {
  const r = spawnSync('unshare', ['--net', 'true']);
  return r.status === 0 ? null : `cannot create a network namespace (unshare --net: ${r.error?.message ?? r.stderr.toString().trim()}); needs root`;
}

/** Null when the addon can be compiled here, else what is missing. */
export function canBuildAddon(): string | null {
  if (spawnSync('g++', ['--version']).status !== 0) return 'no C++ compiler (apt-get install g++ make python3)';
  if (!existsSync('/usr/include/libmnl/libmnl.h')) return 'libmnl headers missing (apt-get install libmnl-dev)';
  return null;
}

/** The directory holding libmnl.so.0 as the dynamic loader finds it (ldconfig's cache), or null. */
function libmnlDir(): string | null {
  const r = spawnSync('ldconfig', ['-p'], { encoding: 'utf8' });
  const path = /\blibmnl\.so\.0 \(.*\) => (\S+)/.exec(r.stdout ?? '')?.[1];
  return path && existsSync(path) ? dirname(realpathSync(path)) : null;
}

/** Null when the runtime libmnl is installed (the prebuilt addon needs it), else what is missing. */
export function libmnlMissing(): string | null {
  return libmnlDir() === null ? 'libmnl.so.0 is not installed (apt-get install libmnl0)' : null;
}

/**
 * An argv prefix that runs a command as on a host without libmnl: in a mount
 * namespace of its own, libmnl's directory gets an overlay with the library
 * removed (the real one untouched; the overlay's scratch is a tmpfs that goes
 * with the namespace). Needs root.
 */
export function withoutLibmnl(): string[] {
  const dir = libmnlDir();
  if (dir === null) throw new Error('libmnl.so.0 is not installed');
  const script = `set -e
d=$(mktemp -d); mount -t tmpfs none "$d"; mkdir "$d/u" "$d/w"
mount -t overlay overlay -o "lowerdir=${dir},upperdir=$d/u,workdir=$d/w" "${dir}"
rm -f "${dir}"/libmnl.so*
set +e; "$@"; rc=$?
umount -l "${dir}"; umount -l "$d"; rmdir "$d"; exit $rc`;
  return ['unshare', '--mount', '--propagation', 'private', 'bash', '-c', script, 'without-libmnl'];
}
