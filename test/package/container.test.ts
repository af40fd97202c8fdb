// contrib/container: what can be checked without a container engine (this
// machine has none, so the image build itself is not run here). The
// entrypoint gives wasmvsd the systemd units' command line and FHS paths; run
// for real with the daemon from this repository (in mount and network
// namespaces of its own, with empty /run, /var/lib/wasmvs and /etc/wasmvs), it
// serves the socket wasmvsadm finds through the image's WASMVS_SOCKET, reloads
// on SIGHUP to its PID and stops on SIGTERM, leaving the state file and no socket.
// The Containerfile copies what the build reads and installs what the daemon runs.
import { describe, it, expect, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './project.js';
import { cannotIsolate } from '../docs/blocks.js';

const CI = process.env.CI === 'true';
const DIR = join(ROOT, 'contrib/container');
const ENTRY = join(DIR, 'entrypoint.sh');
const containerfile = readFileSync(join(DIR, 'Containerfile'), 'utf8');
const scratch = mkdtempSync(join(tmpdir(), 'wasmvs-ctr-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The unit's ExecStart arguments after the binary. */
function unitArgs(mode: string): string[] {
  const unit = readFileSync(join(ROOT, `contrib/systemd/wasmvsd-${mode}.service`), 'utf8');
  return /^ExecStart=(\S+) (.*)$/m.exec(unit)![2].split(/\s+/);
}

/** A PATH dir whose `wasmvsd` prints its argv, one per line. */
function stubPath(): string {
  const bin = join(scratch, 'stub');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'wasmvsd'), '#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n');
  chmodSync(join(bin, 'wasmvsd'), 0o755);
  return bin;
}

const noNs = cannotIsolate();
if (noNs && CI) throw new Error(`container suite: ${noNs}`);
if (noNs) console.warn(`SKIPPING the container entrypoint runs: ${noNs}`);

/**
 * Runs a script in mount and network namespaces of its own where /run, /var/lib and /etc/wasmvs
 * start empty, as in a fresh container: tmpfs on /run and /var/lib, an overlay on /etc whose
 * writes land in a tmpfs. Nothing on the host's filesystem is touched.
 */
function inFreshRoot(script: string, path: string) {
  const wrapped = `set -eu
mount -t tmpfs none /run
mount -t tmpfs none /var/lib
mkdir /run/.etc /run/.etc/u /run/.etc/w
mount -t overlay overlay -o lowerdir=/etc,upperdir=/run/.etc/u,workdir=/run/.etc/w /etc
rm -rf /etc/wasmvs
ip link set lo up
${script}`;
  return spawnSync('unshare', ['--net', '--mount', '--propagation', 'private', 'sh', '-c', wrapped], {
    encoding: 'utf8', timeout: 60_000, env: { ...process.env, PATH: `${path}:${process.env.PATH}` },
  });
}

describe('contrib/container entrypoint', () => {
  it.skipIf(noNs !== null).each(['proxy', 'gateway'])('%s: the systemd unit\'s wasmvsd command line', (mode) => {
    const r = inFreshRoot(`${ENTRY} ${mode}; ls -ld /run/wasmvs /var/lib/wasmvs | cut -c1-10; cat /etc/wasmvs/wasmvsd.rules | wc -c`, stubPath());
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.slice(0, -3)).toEqual(unitArgs(mode));
    expect(lines.slice(-3)).toEqual(['drwx------', 'drwx------', '0']); // root-only dirs, an empty config made
  });

  it.skipIf(noNs !== null)('no mode: proxy; extra options are passed on; another command runs as given', () => {
    const bin = stubPath();
    const r = inFreshRoot(`${ENTRY} --conn-tab-bits 16`, bin);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([...unitArgs('proxy'), '--conn-tab-bits', '16']);
    const other = inFreshRoot(`${ENTRY} echo hello`, bin);
    expect(other.stdout).toBe('hello\n');
  });

  it.skipIf(noNs !== null)('runs the real daemon: wasmvsadm through WASMVS_SOCKET, SIGHUP reloads, SIGTERM stops it cleanly', () => {
    const bin = join(scratch, 'bin');
    mkdirSync(bin, { recursive: true });
    for (const b of ['wasmvsd', 'wasmvsadm']) if (!existsSync(join(bin, b))) symlinkSync(join(ROOT, `bin/${b}.js`), join(bin, b));
    const env = /^ENV (.*)$/m.exec(containerfile)![1];
    const r = inFreshRoot(`export ${env}
${ENTRY} proxy 2>/run/log &
pid=$!
until wasmvsadm -L -n >/dev/null 2>&1; do sleep 0.1; done
wasmvsadm -A -t 127.0.0.1:8080 -s rr
echo '-A -t 127.0.0.1:8081 -s wlc' > /etc/wasmvs/wasmvsd.rules
kill -HUP $pid
until grep -q 'configuration reloaded' /run/log; do sleep 0.1; done
wasmvsadm -L -n
kill -TERM $pid; wait $pid && echo "exit 0"
test ! -e /run/wasmvs/wasmvsd.sock && echo "socket removed"
cat /var/lib/wasmvs/wasmvsd.rules
echo "job $pid"
cat /run/log >&2`, bin);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    // The reload made the configuration file's rules the ones in force (the -A through wasmvsadm went with it).
    const listing = r.stdout.slice(r.stdout.indexOf('IP Virtual Server'), r.stdout.indexOf('exit 0'));
    expect(listing).toContain('TCP  127.0.0.1:8081 wlc');
    expect(listing).not.toContain('8080');
    expect(r.stdout).toContain('exit 0\nsocket removed\n');
    // The state file in the volume holds what was applied, last the reload's rules.
    expect(r.stdout).toMatch(/-A -t 127\.0\.0\.1:8080 -s rr\n[^]*-A -t 127\.0\.0\.1:8081 -s wlc\n/);
    // exec: the daemon is the entrypoint's own process, so the PID the engine signals is wasmvsd's.
    const logged = /proxy: pid (\d+), control socket \/run\/wasmvs\/wasmvsd\.sock, state file \/var\/lib\/wasmvs\/wasmvsd\.rules/.exec(r.stderr)?.[1];
    expect(logged).toBeDefined();
    expect(r.stdout).toContain(`job ${logged}\n`);
  });
});

describe('contrib/container/Containerfile', () => {
  it('copies every path it names, and everything `npm run build` reads', () => {
    const copied = [...containerfile.matchAll(/^COPY (?!--from)(.*) \S+$/gm)].flatMap((m) => m[1].split(/\s+/));
    for (const p of copied) expect(existsSync(join(ROOT, p)), p).toBe(true);
    const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as { include: string[] };
    const inputs = [...tsconfig.include.map((g) => g.split('/')[0]), 'assembly', 'asconfig.json', 'scripts', 'docs'];
    for (const i of inputs) expect(copied, i).toContain(i);
  });

  it('builds with the steps CI uses and runs what the daemon needs', () => {
    expect(containerfile).toMatch(/npm run build && npm run build:native && npm pack/);
    // The prebuilt addon and its runtime library; the gateway's tools (ip, iptables, ip6tables, *-restore).
    const runStage = containerfile.slice(containerfile.lastIndexOf('\nFROM '));
    expect(runStage).toMatch(/apt-get install -y --no-install-recommends libmnl0 iproute2 iptables/);
    expect(runStage).toContain('pino@^10 prom-client@^15');
    // The build stage and the run stage are the same Debian release as the prebuilt addon's glibc needs.
    expect([...containerfile.matchAll(/^FROM \S+:(\S+?)(?:\s|$)/gm)].map((m) => m[1].replace(/-slim$/, ''))).toEqual(['20-bookworm', '20-bookworm']);
    expect(containerfile).toContain('ENTRYPOINT ["/usr/local/bin/wasmvsd-entrypoint"]');
    expect(containerfile).toContain('COPY contrib/container/entrypoint.sh /usr/local/bin/wasmvsd-entrypoint');
    expect(containerfile).toMatch(/^ENV .*WASMVS_SOCKET=\/run\/wasmvs\/wasmvsd\.sock/m);
    expect(containerfile).toMatch(/^VOLUME \["\/var\/lib\/wasmvs"\]$/m);
    expect(containerfile).toMatch(/^STOPSIGNAL SIGTERM$/m);
  });

  it('the capabilities it documents for the gateway are the systemd unit\'s', () => {
    const unit = readFileSync(join(ROOT, 'contrib/systemd/wasmvsd-gateway.service'), 'utf8');
    const caps = /^AmbientCapabilities=(.*)$/m.exec(unit)![1].split(/\s+/).map((c) => c.replace(/^CAP_/, '').toLowerCase());
    const doc = readFileSync(join(DIR, 'README.md'), 'utf8');
    const run = /podman run -d --name gw [^]*?wasmvsd gateway/.exec(doc)![0];
    const added = [...run.matchAll(/--cap-add (\S+)/g)].map((m) => m[1]);
    // NET_BIND_SERVICE is only for the proxy's low ports: the gateway binds no listener.
    expect(added.sort()).toEqual(caps.filter((c) => c !== 'net_bind_service').sort());
    expect(run).toContain('--network host');
    expect(run).toContain('--cap-drop all');
  });
});
