// The shipped systemd units: systemd itself accepts them (systemd-analyze
// verify), and what systemd cannot check holds too: every ExecStart option is
// one wasmvsd accepts, the paths are the FHS ones the unit creates, reload is a
// SIGHUP to the daemon, and the hardening leaves the gateway what it needs.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { parseDaemonArgs } from '../../cli/wasmvsd.js';

const ROOT = join(import.meta.dirname, '../..');
const CI = process.env.CI === 'true';
const MODES = ['proxy', 'gateway'] as const;
const unitPath = (mode: string) => join(ROOT, 'contrib/systemd', `wasmvsd-${mode}.service`);

type Unit = Record<string, Record<string, string[]>>;

/** Sections → keys → values in order (a key may repeat); comments and blank lines dropped. */
function parseUnit(text: string): Unit {
  const unit: Unit = {};
  let section: Record<string, string[]> | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const head = /^\[(.+)\]$/.exec(line);
    if (head) { section = unit[head[1]] ??= {}; continue; }
    const eq = line.indexOf('=');
    if (section === null || eq < 1) throw new Error(`not a unit line: ${raw}`);
    (section[line.slice(0, eq)] ??= []).push(line.slice(eq + 1));
  }
  return unit;
}

const one = (s: Record<string, string[]>, key: string) => {
  expect(s[key], key).toHaveLength(1);
  return s[key][0];
};
/** ExecStart-style command: the optional `-` prefix dropped, split on spaces (the units quote nothing). */
const argvOf = (cmd: string) => cmd.replace(/^-/, '').split(/\s+/);

const systemdAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;
if (!systemdAnalyze && CI) throw new Error('systemd-analyze missing in CI (apt-get install systemd)');
if (!systemdAnalyze) console.warn('SKIPPING systemd-analyze verify of contrib/systemd: systemd-analyze not installed (the parsed checks still run)');

describe.each(MODES)('contrib/systemd/wasmvsd-%s.service', (mode) => {
  const text = readFileSync(unitPath(mode), 'utf8');
  const unit = parseUnit(text);
  const svc = unit.Service;

  it('is a simple service reloaded by SIGHUP to the daemon itself', () => {
    expect(Object.keys(unit)).toEqual(['Unit', 'Service', 'Install']);
    expect(one(svc, 'Type')).toBe('simple');
    expect(one(svc, 'ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(one(unit.Install, 'WantedBy')).toBe('multi-user.target');
  });

  it('starts wasmvsd in its mode with options wasmvsd accepts, under /run/wasmvs and /var/lib/wasmvs', () => {
    const [bin, ...args] = argvOf(one(svc, 'ExecStart'));
    expect(bin).toMatch(/^\/.*\/wasmvsd$/);
    const parsed = parseDaemonArgs(args);
    if (typeof parsed === 'string') throw new Error(`ExecStart refused by wasmvsd: ${parsed}`);
    expect(parsed.mode).toBe(mode);
    expect(parsed.socket).toBe('/run/wasmvs/wasmvsd.sock');
    expect(parsed.state).toBe('/var/lib/wasmvs/wasmvsd.rules');
    expect(parsed.config).toBe('/etc/wasmvs/wasmvsd.rules');
    // systemd creates exactly those directories, root's and 0700, so wasmvsadm accepts the socket's.
    expect(`/run/${one(svc, 'RuntimeDirectory')}`).toBe(dirname(parsed.socket!));
    expect(`/var/lib/${one(svc, 'StateDirectory')}`).toBe(dirname(parsed.state!));
    expect(`/etc/${one(svc, 'ConfigurationDirectory')}`).toBe(dirname(parsed.config!));
    expect(one(svc, 'RuntimeDirectoryMode')).toBe('0700');
    expect(svc.User).toBeUndefined();
    expect(svc.DynamicUser).toBeUndefined();
  });

  it('every other wasmvsd command line in it is accepted too, with the same binary and socket', () => {
    const [bin, ...args] = argvOf(one(svc, 'ExecStart'));
    const socket = (parseDaemonArgs(args) as { socket: string }).socket;
    for (const key of ['ExecStartPre', 'ExecStartPost', 'ExecStop', 'ExecStopPost']) {
      for (const cmd of svc[key] ?? []) {
        const [b, ...a] = argvOf(cmd);
        if (!b.endsWith('/wasmvsd')) continue;
        expect(b, cmd).toBe(bin);
        const p = parseDaemonArgs(a);
        if (typeof p === 'string') throw new Error(`${key} refused by wasmvsd: ${p}`);
        expect(p.socket, cmd).toBe(socket);
      }
    }
  });

  it('is hardened without breaking what the mode needs', () => {
    expect(one(svc, 'NoNewPrivileges')).toBe('yes');
    expect(one(svc, 'ProtectHome')).toBe('yes');
    expect(svc.MemoryDenyWriteExecute).toBeUndefined(); // V8's JIT
    expect(svc.PrivateNetwork).toBeUndefined(); // it serves the host's network
    const caps = one(svc, 'CapabilityBoundingSet').split(/\s+/);
    const families = one(svc, 'RestrictAddressFamilies').split(/\s+/);
    expect(families).toEqual(expect.arrayContaining(['AF_UNIX', 'AF_INET', 'AF_INET6']));
    if (mode === 'gateway') {
      expect(caps).toEqual(expect.arrayContaining(['CAP_NET_ADMIN', 'CAP_NET_RAW']));
      expect(families).toContain('AF_NETLINK'); // NFQUEUE, ip rule/route, nftables
      expect(svc.ProtectKernelTunables).toBeUndefined(); // ip_forward, rp_filter, accept_local
      expect(one(svc, 'ProtectSystem')).not.toBe('strict'); // iptables' /run/xtables.lock
      expect(one(svc, 'RuntimeDirectoryPreserve')).toBe('yes'); // a killed run's sysctl record
    } else {
      expect(caps).toEqual(['CAP_NET_BIND_SERVICE']);
      expect(one(svc, 'ProtectSystem')).toBe('strict');
    }
  });

  it.skipIf(!systemdAnalyze)('passes systemd-analyze verify', () => {
    // verify insists that the binaries exist: point them at a stub.
    const dir = mkdtempSync(join(tmpdir(), 'wasmvs-unit-'));
    try {
      const stub = join(dir, 'wasmvsd');
      writeFileSync(stub, '#!/bin/sh\nexit 0\n');
      chmodSync(stub, 0o755);
      const file = join(dir, `wasmvsd-${mode}.service`);
      writeFileSync(file, text.replaceAll('/usr/local/bin/wasmvsd', stub));
      const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr.split('\n').filter((l) => l.includes(`wasmvsd-${mode}.service`))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('packaging of the units', () => {
  it('the packed tarball holds them', () => {
    // --ignore-scripts: only the file list is wanted, not prepack's build.
    const r = spawnSync('npm', ['pack', '--dry-run', '--ignore-scripts', '--json'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const files = (JSON.parse(r.stdout) as { files: { path: string }[] }[])[0].files.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(MODES.map((m) => `contrib/systemd/wasmvsd-${m}.service`)));
  });

  it('both name the same ExecStart binary, and the gateway refuses to run beside the proxy', () => {
    const [p, g] = MODES.map((m) => parseUnit(readFileSync(unitPath(m), 'utf8')));
    expect(argvOf(one(p.Service, 'ExecStart'))[0]).toBe(argvOf(one(g.Service, 'ExecStart'))[0]);
    expect(one(g.Unit, 'Conflicts')).toBe('wasmvsd-proxy.service');
  });
});
