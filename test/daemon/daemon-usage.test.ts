// wasmvsd -h lists every option its parsers accept (and only those), and
// --version names the package and the core ABI; wasmvsadm -v needs no daemon.
import { describe, it, expect, vi, afterEach } from 'vitest';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDaemonArgs, main as daemonMain, WASMVSD_OPTIONS as DAEMON_OPTIONS, usageText as daemonUsageText } from '../../cli/wasmvsd.js';
import { main as admMain } from '../../cli/wasmvsadm.js';
import { daemonVersionText } from '../../daemon/usage.js';
import { WASMVS_VERSION } from '../../ipvsadm/usage.js';
import { version as V } from '../../sdk/core/abi.gen.js';

/** The core ABI as --version prints it (major.minor of the build's ABI_VERSION). */
const ABI = `${V.ABI_VERSION >>> 16}.${(V.ABI_VERSION >>> 8) & 0xff}`;

const ROOT = join(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

/** A value each option accepts, for the options that take one. */
const SAMPLE: Record<string, string> = {
  '--socket': '/run/wasmvs/wasmvsd.sock', '--state': '/var/lib/wasmvs/wasmvsd.rules', '--config': '/etc/wasmvs/lb.rules',
  '--conn-tab-bits': '16', '--memory-limit': '512', '--queue': '0:3', '--burst': '32', '--stride': '2048', '--verdict': 'per-packet',
  '--store': 'etcd://127.0.0.1:2379/wasmvs', '--name': 'lb1', '--workers': '2',
  '--splice': 'on', '--engine': 'native', '--fast-path': 'off', '--queue-threads': 'on', '--native-core': 'off', '--sync-listen': '127.0.0.1:8849', '--sync-peers': '127.0.0.2:8849', '--sync-key': '/etc/wasmvs/sync.key', '--sync-wait': '5',
};

/** Every quoted `'--name'` literal in a parser's source. */
function literals(file: string): string[] {
  return [...readFileSync(join(ROOT, file), 'utf8').matchAll(/'(--[a-z][a-z-]*)'/g)].map((m) => m[1]);
}

async function capture(run: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((t) => { out += String(t); return true; });
  vi.spyOn(process.stderr, 'write').mockImplementation((t) => { err += String(t); return true; });
  try {
    return { code: await run(), out, err };
  } finally {
    vi.restoreAllMocks();
  }
}

afterEach(() => vi.unstubAllEnvs());

describe('wasmvsd --help', () => {
  it('every listed option is accepted by parseDaemonArgs in its mode', () => {
    for (const o of DAEMON_OPTIONS.filter((x) => x.name !== '--help' && x.name !== '--version' )) {
      const argv = [o.modes === 'gateway' ? 'gateway' : 'proxy', o.name, ...(o.arg ? [SAMPLE[o.name]] : [])];
      expect(typeof parseDaemonArgs(argv), argv.join(' ')).toBe('object');
    }
  });

  it('--splice takes auto, on or off, in proxy mode only, and reaches the data path', () => {
    expect(parseDaemonArgs(['proxy', '--splice', 'maybe'])).toBe('invalid --splice maybe (auto, on or off)');
    expect(parseDaemonArgs(['proxy', '--splice'])).toBe('invalid --splice  (auto, on or off)');
    expect(parseDaemonArgs(['gateway', '--splice', 'on'])).toBe('--splice is a proxy option');
    expect(parseDaemonArgs(['proxy', '--splice=off'])).toMatchObject({ mode: 'proxy', dataPathOptions: { splice: 'off' } });
  });

  it('--engine takes auto, native or js, in proxy mode only, and reaches the data path', () => {
    expect(parseDaemonArgs(['proxy', '--engine', 'fast'])).toBe('invalid --engine fast (auto, native or js)');
    expect(parseDaemonArgs(['gateway', '--engine', 'native'])).toBe('--engine is a proxy option');
    expect(parseDaemonArgs(['proxy', '--engine=native', '--workers', '2'])).toMatchObject({ mode: 'proxy', dataPathOptions: { engine: 'native', workers: 2 } });
  });

  it('the gateway\'s values are checked by wasmvsd itself, with the gateway\'s messages', () => {
    expect(parseDaemonArgs(['gateway', '--burst', '0'])).toMatch(/^invalid --burst 0 \(1\.\.\d+\)$/);
    expect(parseDaemonArgs(['gateway', '--queue=9:3'])).toBe('invalid --queue 3 (9..72)');
    expect(parseDaemonArgs(['gateway', '--verdict', 'single'])).toBe('invalid --verdict single (batch|per-packet)');
    expect(parseDaemonArgs(['gateway', '--fast-path', 'yes'])).toBe('invalid --fast-path yes (on|off)');
    expect(parseDaemonArgs(['gateway', '--stride', '258'])).toBe('--stride must be a multiple of 4, got 258');
    expect(parseDaemonArgs(['gateway', '--burst', '1024', '--stride', '4096'])).toMatch(/exceeds the core's packet region/);
    expect(parseDaemonArgs(['gateway', '--fail-open=1'])).toBe('unexpected argument --fail-open=1');
    expect(parseDaemonArgs(['gateway', '--fail-closed', '--fast-path=on'])).toMatchObject({ dataPathOptions: { failOpen: false, fastPath: true } });
    expect(parseDaemonArgs(['gateway', '--cleanup'])).toMatchObject({ dataPathOptions: { cleanup: true } });
    expect(parseDaemonArgs(['gateway', '--queue-threads', 'yes'])).toBe('invalid --queue-threads yes (on|off)');
    expect(parseDaemonArgs(['gateway', '--queue-threads', 'on'])).toMatchObject({ dataPathOptions: { queueThreads: true } });
    expect(parseDaemonArgs(['proxy', '--queue-threads', 'on'])).toMatch(/gateway option/);
    expect(parseDaemonArgs(['proxy', '--native-core', 'yes'])).toBe('invalid --native-core yes (on|off)');
    expect(parseDaemonArgs(['proxy', '--native-core', 'off'])).toMatchObject({ dataPathOptions: { nativeCore: false } });
    expect(parseDaemonArgs(['gateway', '--native-core', 'on'])).toMatch(/proxy option/);
    expect(parseDaemonArgs(['proxy', '--cleanup'])).toBe('--cleanup is a gateway option');
  });

  it('the first problem in argv order is the one reported', () => {
    expect(parseDaemonArgs(['--conn-tab-bits', '7', '--bogus'])).toBe('invalid --conn-tab-bits 7 (8..20)');
    expect(parseDaemonArgs(['--bogus', 'proxy'])).toBe('unexpected argument --bogus');
    expect(parseDaemonArgs(['--burst', '8', 'proxy'])).toBe('--burst is a gateway option');
    expect(parseDaemonArgs(['proxy', '-xyz'])).toBe('unexpected argument -xyz');
    expect(parseDaemonArgs(['proxy', '--', '--socket'])).toBe('unexpected argument --');
    expect(parseDaemonArgs(['proxy', 'proxy'])).toBe('unexpected argument proxy');
    expect(parseDaemonArgs(['proxy', '--store', 'http://x'])).toBe('--store http://x: expected etcd://HOST:PORT/PREFIX (without --store the state file is the store)');
    expect(parseDaemonArgs(['proxy', '--sync-key='])).toBe('--sync-key needs a value');
    expect(parseDaemonArgs(['proxy', '--sync-listen', '127.0.0.1:8849', '--sync-key=/k'])).toMatchObject({ sync: { listen: '127.0.0.1:8849', keyFile: '/k' } });
  });

  it('every option parseDaemonArgs accepts is listed', () => {
    const help = daemonUsageText();
    // Named in the parsers and accepted from a user (the gateway's parser also takes options only wasmvsd passes it).
    const named = new Set(['cli/wasmvsd.ts', 'daemon/wasmvsd.ts', 'daemon/options.ts', 'hosts/proxy/options.ts', 'hosts/gateway/options.ts', 'hosts/gateway/gateway.ts'].flatMap(literals));
    const accepted = [...named].filter((name) => ['proxy', 'gateway'].some((mode) =>
      [[], [SAMPLE[name] ?? '1'], ['x']].some((v) => typeof parseDaemonArgs([mode, name, ...v]) === 'object')));
    expect(accepted).toContain('--memory-limit');
    for (const name of accepted) expect(help, name).toMatch(new RegExp(`(^|[ ,])${name}( |$)`, 'm'));
    for (const o of DAEMON_OPTIONS) expect(help).toContain(o.name);
    // Connection sync reaches the gateway from --sync-* (DataPathContext), not from an option of its own.
    expect(parseDaemonArgs(['gateway', '--conn-sync'])).toBe('unexpected argument --conn-sync');
  });

  it('names the environment and the signals', () => {
    const help = daemonUsageText();
    for (const w of ['WASMVS_SOCKET', 'WASMVS_STATE', 'WASMVS_LOG_LEVEL', 'WASMVS_METRICS', 'SIGHUP', 'SIGTERM']) expect(help).toContain(w);
  });

  it('-h and --help print it to stdout, exit 0, before any argument check', async () => {
    for (const argv of [['-h'], ['--help'], ['proxy', '--bogus', '--help']]) {
      const r = await capture(() => daemonMain(argv));
      expect(r).toEqual({ code: 0, out: daemonUsageText(), err: '' });
    }
    expect(daemonUsageText()).toMatch(/^Usage: wasmvsd proxy\|gateway/);
  });

  it('a bad argument exits 2 with the reason and a pointer to --help, not the whole text', async () => {
    const r = await capture(() => daemonMain(['proxy', '--bogus']));
    expect(r).toEqual({ code: 2, out: '', err: "wasmvsd: unexpected argument --bogus\nTry 'wasmvsd --help' for the options.\n" });
  });
});

describe('--version', () => {
  it('wasmvsd -v/--version: the package version and the core ABI', async () => {
    for (const argv of [['--version'], ['-v']]) {
      const r = await capture(() => daemonMain(argv));
      expect(r.code).toBe(0);
      expect(r.out).toBe(`wasmvsd v${pkg.version} (wasmvs core ABI ${ABI})\n`);
    }
    expect(daemonVersionText()).toBe(`wasmvsd v${pkg.version} (wasmvs core ABI ${ABI})\n`);
  });

  it('the version the bins print is package.json\'s', () => {
    expect(WASMVS_VERSION).toBe(pkg.version);
  });

  it('wasmvsadm --version answers without a daemon, even when the socket could not be used', async () => {
    const open = mkdtempSync(join(tmpdir(), 'wasmvs-open-'));
    chmodSync(open, 0o777); // anyone could plant a socket here: wasmvsadm refuses to send requests to it
    vi.stubEnv('WASMVS_SOCKET', join(open, 'wasmvsd.sock'));
    for (const argv of [['--version'], ['-v']]) {
      const r = await capture(() => admMain(argv));
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(new RegExp(`^wasmvsadm v${pkg.version.replace(/\./g, '\\.')} \\(wasmvs core ABI ${ABI.replace('.', '\\.')}; ipvsadm v1\\.31 compatible, IPVS v1\\.2\\.1\\)\\n$`));
    }
    rmSync(open, { recursive: true });
  });
});
