// docs/gateway.md's worked examples as a user runs them: every block that
// starts the gateway (blocks.ts claims them for this file) builds its
// topology, starts the gateway, adds the service, sends a line through it and
// tears it all down. Each is run as written with `bash -e`, twice (it must be
// re-runnable), from the repository root where `npx wasmvsd` is this package:
// the NAT example (VIP on the director's lo), its DR version (the real server
// with a leg on the client's segment and the VIP on its lo) and its IPv6
// version.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { missingNfqPrereq, inCI } from '../hosts/gateway/prereq.js';
import { claimed, ROOT, type Block } from './blocks.js';

const missing = missingNfqPrereq() ?? (spawnSync('socat', ['-V']).status === 0 ? null : 'socat is not installed');
if (missing && inCI) throw new Error(`docs/gateway.md example: ${missing}`);
if (missing) console.warn(`SKIPPING docs/gateway.md example: ${missing}`);

const blocks = claimed('docs/gateway.md', 'gateway.test.ts');
/** Each claimed block by what it adds as a real server; every claimed block must be one of these. */
const kinds: Record<string, (b: Block) => boolean> = {
  nat: (b) => b.body.includes('-r 198.18.41.2:8080 -m'),
  dr: (b) => b.body.includes('-r 198.18.41.2 -g'),
  nat6: (b) => b.body.includes('-r [2001:2:0:41::2]:8080 -m'),
};
const block = (kind: string) => blocks.find(kinds[kind]);

const netns = () => spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout
  .split('\n').map((l) => l.split(' ')[0]).filter(Boolean);

/**
 * The namespaces a block creates (its `for n in …; do ip netns add $n` line):
 * the ones this test checks are gone afterwards. Only its own: a benchmark or
 * another suite on the same machine may add and remove others meanwhile.
 */
function ownNamespaces(b: Block): string[] {
  const m = /for n in ([\w ]+); do ip netns add \$n/.exec(b.body);
  expect(m, `docs/gateway.md:${b.line} creates its namespaces with "for n in …; do ip netns add $n"`).not.toBeNull();
  return m![1].trim().split(/\s+/);
}

/**
 * After a block failed half-way (bash -e stops at the failing line): its
 * processes stopped and its namespaces deleted, so the next test starts clean.
 */
function cleanUp(own: string[]) {
  for (const n of netns().filter((x) => own.includes(x))) {
    const pids = spawnSync('ip', ['netns', 'pids', n], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
    for (const pid of pids) { try { process.kill(Number(pid), 'SIGTERM'); } catch { /* gone */ } }
    // The gateway removes its rules on SIGTERM; give it a moment, then the namespace goes.
    spawnSync('sleep', ['2']);
    spawnSync('ip', ['netns', 'del', n]);
  }
}

/** Runs a block twice as written; it must leave no namespace or gateway behind. Returns each run's stdout. */
function runTwice(b: Block | undefined): string[] {
  expect(b).toBeDefined();
  const own = ownNamespaces(b!);
  expect(netns().filter((n) => own.includes(n)), 'a namespace of the example exists before it runs').toEqual([]);
  const outs: string[] = [];
  for (let run = 0; run < 2; run++) {
    const r = spawnSync('bash', ['-e', '-c', b!.body], { cwd: ROOT, encoding: 'utf8', timeout: 90_000 });
    if (r.status !== 0) cleanUp(own);
    expect(r.status, `docs/gateway.md:${b!.line} run ${run + 1}\n${r.stdout}${r.stderr}`).toBe(0);
    expect(r.stdout).toContain('hello');
    outs.push(r.stdout);
  }
  expect(netns().filter((n) => own.includes(n))).toEqual([]);
  expect(spawnSync('pgrep', ['-f', 'wasmvsd gateway --socket /tmp/tmp'], { encoding: 'utf8' }).stdout).toBe('');
  return outs;
}

describe('docs/gateway.md worked examples', () => {
  it('every block that starts the gateway is one of the examples run below, each once', () => {
    expect(blocks.map((b) => Object.keys(kinds).filter((k) => kinds[k](b)))).toEqual([['nat'], ['dr'], ['nat6']]);
  });

  it.skipIf(missing !== null)('NAT: runs as written, twice, and leaves no namespace, process or rule behind', () => {
    for (const out of runTwice(block('nat'))) {
      expect(out).toMatch(/TCP {2}198\.18\.42\.1:8080 +1 /);
      expect(out).toMatch(/TCP 0\d:\d\d +TIME_WAIT +198\.18\.40\.2:\d+ +198\.18\.42\.1:8080 +198\.18\.41\.2:8080/);
    }
  }, 240_000);

  it.skipIf(missing !== null)('DR: runs as written, twice; the director counts the client\'s packets only', () => {
    for (const out of runTwice(block('dr'))) {
      // Conns 1, some packets in, none out: the replies went from the real server to the client directly.
      expect(out).toMatch(/TCP {2}198\.18\.42\.1:8080 +1 +[1-9]\d* +0 +[1-9]\d* +0\n/);
      expect(out).toMatch(/-> 198\.18\.41\.2:8080 +1 +[1-9]\d* +0 +[1-9]\d* +0\n/);
      expect(out).toMatch(/TCP 0\d:\d\d +FIN_WAIT +198\.18\.40\.2:\d+ +198\.18\.42\.1:8080 +198\.18\.41\.2:8080/);
    }
  }, 240_000);

  it.skipIf(missing !== null)('IPv6: runs as written, twice: forwarding on while the gateway runs, off after', () => {
    for (const out of runTwice(block('nat6'))) {
      expect(out).toMatch(/TCP {2}\[2001:2:0:42::1\]:8080 +1 /);
      expect(out.match(/net\.ipv6\.conf\.all\.forwarding = \d/g)).toEqual(['net.ipv6.conf.all.forwarding = 1', 'net.ipv6.conf.all.forwarding = 0']);
    }
  }, 240_000);
});
