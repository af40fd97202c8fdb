// docs/gateway.md's worked example as a user runs it: the block that builds
// the topology (director with the VIP on lo, offload left on), starts the
// gateway, adds the service, sends a line through it and tears it all down,
// run as written with `bash -e`, twice (it must be re-runnable), from the
// repository root where `npx wasmvsd` is this package; the same for its
// IPv6 version.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { missingNfqPrereq, inCI } from '../native/prereq.js';

const ROOT = join(import.meta.dirname, '../..');
const doc = readFileSync(join(ROOT, 'docs/gateway.md'), 'utf8');
/** The ```sh blocks that start the gateway: the worked example, then its IPv6 version. */
const blocks = [...doc.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]).filter((b) => b.includes('npx wasmvsd gateway'));
const example = blocks.find((b) => !b.includes('2001:2:'));
const example6 = blocks.find((b) => b.includes('2001:2:'));

const missing = missingNfqPrereq() ?? (spawnSync('socat', ['-V']).status === 0 ? null : 'socat is not installed');
if (missing && inCI) throw new Error(`docs/gateway.md example: ${missing}`);
if (missing) console.warn(`SKIPPING docs/gateway.md example: ${missing}`);

describe('docs/gateway.md worked example', () => {
  it.skipIf(missing !== null)('runs as written, twice, and leaves no namespace, process or rule behind', () => {
    expect(example).toBeDefined();
    const netnsBefore = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    for (let run = 0; run < 2; run++) {
      const r = spawnSync('bash', ['-e', '-c', example!], { cwd: ROOT, encoding: 'utf8', timeout: 90_000 });
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain('hello');
      expect(r.stdout).toMatch(/TCP {2}198\.18\.42\.1:8080 +1 /);
      expect(r.stdout).toMatch(/TCP 0\d:\d\d +\w+ +198\.18\.40\.2:\d+ +198\.18\.42\.1:8080 +198\.18\.41\.2:8080/);
    }
    expect(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout).toBe(netnsBefore);
    expect(spawnSync('pgrep', ['-f', 'wasmvsd gateway --socket /tmp/tmp'], { encoding: 'utf8' }).stdout).toBe('');
  }, 240_000);

  it.skipIf(missing !== null)('its IPv6 version runs as written, twice: forwarding on while the gateway runs, off after', () => {
    expect(example6).toBeDefined();
    const netnsBefore = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    for (let run = 0; run < 2; run++) {
      const r = spawnSync('bash', ['-e', '-c', example6!], { cwd: ROOT, encoding: 'utf8', timeout: 90_000 });
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain('hello');
      expect(r.stdout).toMatch(/TCP {2}\[2001:2:0:42::1\]:8080 +1 /);
      expect(r.stdout.match(/net\.ipv6\.conf\.all\.forwarding = \d/g)).toEqual(['net.ipv6.conf.all.forwarding = 1', 'net.ipv6.conf.all.forwarding = 0']);
    }
    expect(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout).toBe(netnsBefore);
    expect(spawnSync('pgrep', ['-f', 'wasmvsd gateway --socket /tmp/tmp'], { encoding: 'utf8' }).stdout).toBe('');
  }, 240_000);
});
