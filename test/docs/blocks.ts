// The fenced blocks of README.md and docs/*.md, and which test runs each one.
//
// The convention (README.md, "Docs that run"): a block's info string says
// what it is.
//   sh, js, ts   runs in the test suite as written; every one is claimed below
//                by exactly one test, which runs it (coverage.test.ts checks).
//   text         output or an illustration; never run (a test may compare a
//                command's output with it).
//   rules        a wasmvsadm -R / wasmvsd --config file; every one is loaded
//                by wasmvsd with nothing skipped (proxy.test.ts).
//   sh release   a command for a release check that takes far longer than the
//                suite may (hours); listed in RELEASE_ONLY, never run here.
// Blocks that only install the machine (apt-get install, npm ci, npm run
// build:native, npm test) are what CI's entry point `.ci/run` itself runs:
// coverage.test.ts checks each of their commands against it.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '../..');

export interface Block { doc: string; lang: string; body: string; line: number; heading: string }

/** README.md and every docs/*.md, relative to the repository root. */
export function docs(): string[] {
  return ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
}

/** The fenced blocks of one doc in order, with the `## ` heading each sits under. */
export function fenced(doc: string): Block[] {
  const out: Block[] = [];
  let heading = '';
  let open: { lang: string; lines: string[]; line: number } | null = null;
  readFileSync(join(ROOT, doc), 'utf8').split('\n').forEach((line, i) => {
    if (open === null && line.startsWith('## ')) heading = line.slice(3).trim();
    if (open === null && line.startsWith('```')) open = { lang: line.slice(3).trim(), lines: [], line: i + 1 };
    else if (open !== null && line.trim() === '```') {
      out.push({ doc, lang: open.lang, heading, body: open.lines.join('\n') + '\n', line: open.line });
      open = null;
    } else open?.lines.push(line);
  });
  return out;
}

export const EXECUTED = new Set(['sh', 'js', 'ts']);
export const KNOWN = new Set([...EXECUTED, 'text', 'rules', 'sh release']);

/** Blocks that run in the suite: sh, js, ts. */
export function executable(doc: string): Block[] {
  return fenced(doc).filter((b) => EXECUTED.has(b.lang));
}

/** A block whose every command sets up the machine the way `.ci/run` does. */
export function isSetup(b: Block): boolean {
  const cmds = setupCommands(b);
  return b.lang === 'sh' && cmds.length > 0 && cmds.every((c) => /^(apt-get install|npm ci|npm run build:native|npm test)\b/.test(c));
}

/** A sh block's commands: comments dropped, `&&` chains split. */
export function setupCommands(b: Block): string[] {
  return b.body.split('\n').map((l) => l.replace(/(^|\s)#.*$/, '').trim()).filter(Boolean).flatMap((l) => l.split(/\s*&&\s*/));
}

/** Documents that cannot be edited here keep an untagged block; each is named with why. */
export const UNTAGGED_ALLOWED: { doc: string; contains: string; why: string }[] = [
];

/** Release-only commands (`sh release`), never run in the suite. */
export const RELEASE_ONLY = [{ doc: 'docs/limits.md', why: 'the fuzz suites at 200000 runs each (up to 30 minutes per property)' }];

export interface Claim { doc: string; runner: string; what: string; select(b: Block): boolean }

/** Which test runs which executable block; coverage.test.ts checks every block has exactly one. */
export const CLAIMS: Claim[] = [
  { doc: 'README.md', runner: 'coverage.test.ts', what: 'setup commands, the same as .ci/run', select: isSetup },
  { doc: 'README.md', runner: 'readme.test.ts', what: 'the demo, the SDK, the daemon quick start, the playground', select: (b) => !isSetup(b) },
  { doc: 'docs/cli.md', runner: 'samples.test.ts', what: 'the quick start with globally installed bins', select: () => true },
  { doc: 'docs/connections.md', runner: 'samples.test.ts', what: 'the SDK walk-through', select: () => true },
  { doc: 'docs/stats.md', runner: 'samples.test.ts', what: 'the SDK example and the values its comments give', select: () => true },
  { doc: 'docs/core.md', runner: 'samples.test.ts', what: 'the host entry example and the values its comments give', select: () => true },
  { doc: 'docs/sdk.md', runner: 'samples.test.ts', what: 'the prepareFlow example and the values its comments give', select: () => true },
  { doc: 'docs/proxy.md', runner: 'proxy.test.ts', what: 'every sh block, top to bottom, as one script', select: () => true },
  { doc: 'docs/gateway.md', runner: 'coverage.test.ts', what: 'setup commands, the same as .ci/run', select: isSetup },
  { doc: 'docs/gateway.md', runner: 'gateway.test.ts', what: 'the worked examples: NAT, DR, IPv6', select: (b) => b.body.includes('npx wasmvsd gateway') },
  { doc: 'docs/ldirectord.md', runner: 'ldirectord.test.ts', what: 'ldirectord driving wasmvsd proxy, with the tables it prints', select: () => true },
  { doc: 'docs/many-directors.md', runner: 'many-directors.test.ts', what: 'the etcd worked example', select: (b) => b.body.includes('etcd --name doc') },
  { doc: 'docs/many-directors.md', runner: 'many-directors-sync.test.ts', what: 'the connection sync example', select: (b) => b.body.includes('--sync-key') },
];

/**
 * What keeps a doc's blocks from rotting unseen: each sh/js/ts block not
 * claimed by exactly one test, as `doc:line: why`. Empty when every block runs.
 */
export function coverageProblems(blocks: Block[], claims: Claim[] = CLAIMS): string[] {
  return blocks.filter((b) => EXECUTED.has(b.lang)).flatMap((b) => {
    const by = claims.filter((c) => c.doc === b.doc && c.select(b));
    return by.length === 1 ? [] : [`${b.doc}:${b.line}: ${b.lang} block claimed by ${by.map((c) => c.runner).join(', ') || 'no test'}`];
  });
}

/**
 * The blocks a runner must run for a doc. Every runner takes its blocks from
 * here (coverage.test.ts checks it calls `claimed(doc, runner)`) and asserts
 * it ran each of them.
 */
export function claimed(doc: string, runner: string): Block[] {
  const mine = CLAIMS.filter((c) => c.doc === doc && c.runner === runner);
  return executable(doc).filter((b) => mine.some((c) => c.select(b)));
}

/** Null when network, mount and PID namespaces can be made (root), else why not. */
export function cannotIsolate(): string | null {
  const r = spawnSync('unshare', ['--net', '--mount', '--pid', '--fork', 'true'], { encoding: 'utf8' });
  return r.status === 0 ? null : `cannot create network, mount and PID namespaces (${r.error?.message ?? r.stderr.trim()}); needs root`;
}

/**
 * Runs a bash script as a user's fresh machine would: its own network
 * namespace (loopback up, fixed ports free) and its own empty /tmp and /run (a
 * doc's /tmp/wasmvs.sock or /run/wasmvs collide with nothing; the cwd,
 * the repository and `keep` stay visible where they are; writes under
 * `scratch` stay in the namespace), `set -e`;
 * whatever it left running is stopped at its end (its own PID namespace: the
 * trap's kill, then the namespace's end for anything the trap did not reach).
 */
export function runIsolated(script: string, opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; keep?: string[]; scratch?: string[] }) {
  const keep = [...new Set([opts.cwd, ROOT, ...(opts.keep ?? [])])].filter((p) => p.startsWith('/tmp/'));
  // `scratch` folders get an overlay whose writes stay in the namespace (build outputs other suites also write).
  const rebind = [
    ...keep.map((p) => `mkdir -p '${p}'; mount --bind '/run/.host-tmp/${p.slice(5)}' '${p}'`),
    ...(opts.scratch ?? []).map((p, i) => `mkdir -p /run/.ov${i}/u /run/.ov${i}/w; mount -t overlay overlay -o 'lowerdir=${p},upperdir=/run/.ov${i}/u,workdir=/run/.ov${i}/w' '${p}'`),
  ].join('\n');
  const wrapped = `set -euo pipefail
mount -t tmpfs none /run; mkdir /run/.host-tmp; mount --bind /tmp /run/.host-tmp
mount -t tmpfs none /tmp
${rebind}
cd '${opts.cwd}'
ip link set lo up
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true' EXIT
${script}`;
  // A PID namespace of its own too: whatever the script leaves running (a daemon a job started, which
  // `npm start` may not pass the trap's signal on to) dies with it, and with unshare on a timeout.
  return spawnSync('unshare', ['--net', '--mount', '--pid', '--fork', '--kill-child', '--mount-proc', '--propagation', 'private', 'bash', '-c', wrapped], {
    cwd: opts.cwd, env: opts.env ?? process.env, encoding: 'utf8', timeout: opts.timeoutMs ?? 90_000,
  });
}
