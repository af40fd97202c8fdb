// What the fast-path suites (gw-fastpath, gw-fastpath6, gw-reconfig-load) share: a bounded poll,
// a long-lived client connection in the client namespace (gw-fastpath-peer.mjs
// `talk`) that sends on demand and reports who echoed, and a client that
// reuses one port (gw-load-peer.mjs `reuse`).
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { inNs, sh, waitLine } from './netns.js';

const TALK = fileURLToPath(new URL('./gw-fastpath-peer.mjs', import.meta.url));
const LOAD_PEER = fileURLToPath(new URL('./gw-load-peer.mjs', import.meta.url));

/**
 * gw-load-peer's `reuse` client in namespace `ns`: each connect() is one connection from port `local` to vip:port,
 * its result line; `reset`: the client ends each with a RST once it has the server's line (`reuse-rst`).
 */
export async function reuseClient(ns: string, vip: string, port: number, local: number, reset = false): Promise<{ proc: ChildProcess; connect(): Promise<string> }> {
  const proc = inNs(ns, process.execPath, [LOAD_PEER, reset ? 'reuse-rst' : 'reuse', vip, String(port), String(local)]);
  await waitLine(proc, (l) => l === 'ready', 10_000);
  return {
    proc,
    connect() {
      const line = waitLine(proc, (l) => /^(served|error|timeout)/.test(l), 10_000);
      proc.stdin!.write('go\n');
      return line;
    },
  };
}

/** Polls (bounded: `tries` × `ms`) until `ok` holds. */
export async function until(what: string | (() => string), ok: () => boolean, tries = 100, ms = 100): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (ok()) return;
    await new Promise((r) => setTimeout(r, ms));
  }
  throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
}

/** One TCP connection from namespace `ns` to vip:port, kept open; send(n) writes n bytes and returns the echo line. */
export class Talk {
  private lines: string[] = [];
  readonly port: Promise<number>;
  private readonly proc: ChildProcess;
  constructor(ns: string, vip: string, port: number) {
    this.proc = inNs(ns, process.execPath, [TALK, 'talk', vip, String(port)]);
    this.proc.stdin!.on('error', () => { /* the client exited first (a failed connection): nothing to tell it */ });
    let buf = '';
    this.proc.stdout!.on('data', (d) => {
      buf += d;
      const parts = buf.split('\n');
      buf = parts.pop()!;
      this.lines.push(...parts);
    });
    this.port = waitLine(this.proc, (l) => l.startsWith('connected '), 10_000).then((l) => Number(l.split(' ')[1]));
  }
  private answers(): string[] { return this.lines.filter((l) => l.startsWith('echoed') || l.startsWith('failed')); }
  async send(n: number): Promise<string> {
    const before = this.answers().length;
    this.proc.stdin!.write(`send ${n}\n`);
    await until('an answer from the talk client', () => this.answers().length > before, 100, 100);
    return this.answers()[before];
  }
  /** Idempotent (tests end their talks, and the cleanup ends every one again). */
  end(): void { if (!this.proc.stdin!.writableEnded) this.proc.stdin!.end('quit\n'); }
}

/** The real server an echo line names, or what the line said instead. */
export const served = (line: string) => /^echoed \d+ (\S+) ok$/.exec(line)?.[1] ?? `not echoed: ${line}`;

/**
 * A namespace's conntrack statistics summed over its CPUs (/proc/net/stat/nf_conntrack): on a
 * counter miss, whether conntrack called packets invalid (not counted, not NATed) or dropped some.
 */
export function ctStat(ns: string): string {
  const [head, ...rows] = sh('ip', 'netns', 'exec', ns, 'cat', '/proc/net/stat/nf_conntrack').trim().split('\n');
  const names = head.trim().split(/\s+/);
  const sum = (name: string) => rows.reduce((n, r) => n + parseInt(r.trim().split(/\s+/)[names.indexOf(name)] ?? '0', 16), 0);
  return ['invalid', 'insert_failed', 'drop', 'clashres'].map((n) => `${n}=${sum(n)}`).join(' ');
}
