// Two namespaces joined by a veth pair, created and removed by the test
// itself; addresses from 198.18.0.0/15 only.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';

export function sh(cmd: string, ...args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface Pair { client: string; server: string; clientAddr: string; serverAddr: string }

export function makePair(tag: string, third: number): Pair {
  const p: Pair = { client: `${tag}c`, server: `${tag}s`, clientAddr: `198.18.${third}.1`, serverAddr: `198.18.${third}.2` };
  destroyPair(p);
  sh('ip', 'netns', 'add', p.client);
  sh('ip', 'netns', 'add', p.server);
  sh('ip', 'link', 'add', `${tag}a`, 'netns', p.client, 'type', 'veth', 'peer', 'name', `${tag}b`, 'netns', p.server);
  sh('ip', '-n', p.client, 'addr', 'add', `${p.clientAddr}/24`, 'dev', `${tag}a`);
  sh('ip', '-n', p.server, 'addr', 'add', `${p.serverAddr}/24`, 'dev', `${tag}b`);
  for (const [ns, dev] of [[p.client, `${tag}a`], [p.server, `${tag}b`]]) {
    sh('ip', '-n', ns, 'link', 'set', dev, 'up');
    sh('ip', '-n', ns, 'link', 'set', 'lo', 'up');
  }
  return p;
}

export function destroyPair(p: Pair): void {
  for (const ns of [p.client, p.server]) {
    try {
      sh('ip', 'netns', 'del', ns);
    } catch {
      // not there: nothing to remove
    }
  }
}

const children = new Set<ChildProcess>();

/** Spawns `cmd` inside namespace `ns` (ip netns exec replaces itself by cmd, so kill() reaches it). */
export function inNs(ns: string, cmd: string, args: string[]): ChildProcess {
  const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

/** Kills every child still running (after a failed test), so the next test starts clean. */
export function killChildren(): void {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
}

/** Resolves with the first line the child prints that satisfies `match`, or rejects after `ms`. */
export function waitLine(child: ChildProcess, match: (l: string) => boolean, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for child output; stderr: ${err}`)), ms);
    child.stderr?.on('data', (d) => (err += d));
    child.stdout?.on('data', (d) => {
      buf += d;
      for (const l of buf.split('\n')) {
        if (match(l)) {
          clearTimeout(timer);
          resolve(l);
          return;
        }
      }
    });
    // 'close', not 'exit': 'exit' can come before the last of the child's stdout has been read here,
    // and a child that printed its line and exited at once would look as if it died without it.
    child.on('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`child exited ${code} early; stderr: ${err}`));
    });
  });
}
