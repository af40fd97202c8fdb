// wasmvsd as a program (cli/wasmvsd.ts, built): what it loads before it starts
// the daemon, observed with a module loader hook in the real process, and the
// daemon with a mode table whose host module is not in the build (the no-op
// data path, said in the log) or whose host is missing a dependency (an error).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { WASMVSD, requireBuild, wasmvsadm } from './daemon.js';

const ROOT = join(import.meta.dirname, '../..');
const dist = (rel: string) => pathToFileURL(join(ROOT, 'dist', rel)).href;
let dir: string;

beforeAll(() => {
  requireBuild();
  dir = mkdtempSync(join(tmpdir(), 'wasmvs-program-'));
  // Records every module the process loads (a hook on its own thread; appends are whole lines).
  writeFileSync(join(dir, 'hooks.mjs'), `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) { appendFileSync(process.env.LOAD_LOG, url + '\\n'); return next(url, context); }
`);
  writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n`);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs bin/wasmvsd.js with `args`; its exit, output and the dist/ modules it loaded (relative to dist/). */
function traced(args: string[], n: string): { code: number | null; out: string; err: string; loaded: string[] } {
  const logFile = join(dir, `loaded-${n}`);
  writeFileSync(logFile, '');
  const r = spawnSync(process.execPath, ['--import', pathToFileURL(join(dir, 'register.mjs')).href, WASMVSD, ...args],
    { encoding: 'utf8', timeout: 30_000, env: { ...process.env, LOAD_LOG: logFile, WASMVS_SOCKET: join(dir, 'none.sock') } });
  const loaded = readFileSync(logFile, 'utf8').split('\n').filter((u) => u.startsWith(`${dist('')}/`)).map((u) => u.slice(dist('').length + 1));
  return { code: r.status, out: r.stdout, err: r.stderr, loaded };
}

/** Modules that --help, --version and a refused option must not load. */
const HEAVY = /^(sdk\/director|sdk\/core\/(core|load)|daemon\/(wasmvsd|handler|server|state)|native\/)|^hosts\/(?!(proxy|gateway)\/options\.js$)/;

describe('wasmvsd before the daemon starts', () => {
  it('--help, --version and a refused option load neither the core, the daemon nor a host (only the hosts\' option tables)', () => {
    const runs = [
      traced(['--help'], 'help'), traced(['gateway', '-h'], 'h'), traced(['--version'], 'version'),
      traced(['gateway', '--burst', '0'], 'bad-burst'), traced(['proxy', '--fast-path', 'on'], 'foreign'),
    ];
    expect(runs.map((r) => r.code)).toEqual([0, 0, 0, 2, 2]);
    expect(runs[0].out).toMatch(/^Usage: wasmvsd proxy\|gateway/);
    expect(runs[3].err).toMatch(/^wasmvsd: invalid --burst 0 \(1\.\.\d+\)\nTry 'wasmvsd --help' for the options\.\n$/);
    expect(runs[4].err).toMatch(/^wasmvsd: --fast-path is a gateway option\n/);
    for (const r of runs) {
      // The hook sees the program's modules (the check is not vacuous) and none of the heavy ones.
      expect(r.loaded).toEqual(expect.arrayContaining(['cli/wasmvsd.js', 'daemon/options.js', 'hosts/gateway/options.js', 'hosts/proxy/options.js']));
      expect(r.loaded.filter((f) => HEAVY.test(f))).toEqual([]);
    }
  });

  it('a started daemon does load them (the hook would see a heavy module)', async () => {
    const logFile = join(dir, 'loaded-run');
    writeFileSync(logFile, '');
    const sock = join(dir, 'run.sock');
    const proc = spawn(process.execPath, ['--import', pathToFileURL(join(dir, 'register.mjs')).href, WASMVSD, 'proxy', '--socket', sock, '--state', join(dir, 'run.rules')],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOAD_LOG: logFile } });
    const log = await until(proc, 'control socket');
    proc.kill('SIGTERM');
    expect(await exit(proc)).toBe(0);
    expect(log).toContain('proxy: pid');
    const loaded = readFileSync(logFile, 'utf8');
    for (const m of ['daemon/wasmvsd.js', 'sdk/director.js', 'hosts/proxy/datapath.js']) expect(loaded).toContain(dist(m));
    expect(loaded).not.toContain(dist('hosts/gateway/datapath.js'));
  });
});

/** Collects the child's output until `line` appears (bounded: 10 s) or it exits. */
async function until(proc: ReturnType<typeof spawn>, line: string): Promise<string> {
  let log = '';
  proc.stdout!.on('data', (d) => { log += d; });
  proc.stderr!.on('data', (d) => { log += d; });
  for (let i = 0; i < 200 && !log.includes(line) && proc.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
  return log;
}

function exit(proc: ReturnType<typeof spawn>): Promise<number | null> {
  return proc.exitCode !== null ? Promise.resolve(proc.exitCode) : new Promise((r) => proc.once('exit', (c) => r(c)));
}

describe('a mode table whose host is not in the build', () => {
  /** A program like cli/wasmvsd.ts whose proxy entry imports `host` (relative to it). */
  function program(name: string, host: string): string {
    const file = join(dir, `${name}.mjs`);
    writeFileSync(file, `import { parseDaemonArgs } from '${dist('cli/wasmvsd.js')}';
import { runDaemon } from '${dist('daemon/wasmvsd.js')}';
import { optionalModule } from '${dist('daemon/datapath.js')}';
const args = parseDaemonArgs(process.argv.slice(2));
const paths = {
  proxy: () => optionalModule(import('${host}'), import.meta.url),
  gateway: () => optionalModule(import('./absent-gateway.js'), import.meta.url),
};
try { process.exit(await runDaemon(args, paths)); } catch (e) { process.stderr.write('failed: ' + e.message + '\\n'); process.exit(1); }
`);
    return file;
  }

  it('absent host module: the daemon keeps the rules, forwards nothing and says so', async () => {
    const sock = join(dir, 'noop.sock');
    const proc = spawn(process.execPath, [program('noop', './absent-proxy.js'), 'proxy', '--socket', sock, '--state', join(dir, 'noop.rules')], { stdio: ['ignore', 'pipe', 'pipe'] });
    const log = await until(proc, 'control socket');
    try {
      expect(log).toContain('wasmvsd: no proxy data path is installed in this build: rules are kept, no traffic is forwarded\n');
      expect(await wasmvsadm(['--socket', sock, '-A', '-t', '198.18.0.1:80', '-s', 'rr'])).toEqual({ code: 0, out: '', err: '' });
      expect((await wasmvsadm(['--socket', sock, '-S', '-n'])).out).toBe('-A -t 198.18.0.1:80 -s rr\n');
      expect(readFileSync(join(dir, 'noop.rules'), 'utf8')).toBe('-A -t 198.18.0.1:80 -s rr\n');
    } finally {
      proc.kill('SIGTERM');
    }
    expect(await exit(proc)).toBe(0);
    expect(existsSync(sock)).toBe(false);
  });

  it('a change is answered once the data path carries it (its configChanged promise), as ipvsadm returns once the kernel has it', async () => {
    // A data path that takes 400 ms to carry each change (the gateway's rules round) and writes down when it has.
    const carried = join(dir, 'carried');
    writeFileSync(join(dir, 'slow-host.mjs'), `import { appendFileSync } from 'node:fs';
export const createDataPath = () => ({
  name: 'slow', async start() {}, async stop() {},
  configChanged(journal) {
    return new Promise((resolve) => setTimeout(() => { appendFileSync(${JSON.stringify(carried)}, (journal ?? []).join(';') + '\\n'); resolve(); }, 400));
  },
});
`);
    const sock = join(dir, 'slow.sock');
    const proc = spawn(process.execPath, [program('slow', './slow-host.mjs'), 'proxy', '--socket', sock, '--state', join(dir, 'slow.rules')], { stdio: ['ignore', 'pipe', 'pipe'] });
    await until(proc, 'control socket');
    try {
      expect(await wasmvsadm(['--socket', sock, '-A', '-t', '198.18.0.1:80', '-s', 'rr'])).toEqual({ code: 0, out: '', err: '' });
      expect(readFileSync(carried, 'utf8')).toBe('-A -t 198.18.0.1:80 -s rr\n');
      expect(await wasmvsadm(['--socket', sock, '-a', '-t', '198.18.0.1:80', '-r', '198.18.1.1:80', '-m'])).toEqual({ code: 0, out: '', err: '' });
      expect(readFileSync(carried, 'utf8').split('\n')).toHaveLength(3);
    } finally {
      proc.kill('SIGTERM');
    }
    expect(await exit(proc)).toBe(0);
  });

  it('a host whose own dependency is missing is an error naming it, not the no-op path', async () => {
    writeFileSync(join(dir, 'broken-host.mjs'), `import './missing-dependency.js';\nexport const createDataPath = () => { throw new Error('unreachable'); };\n`);
    const sock = join(dir, 'broken.sock');
    const proc = spawn(process.execPath, [program('broken', './broken-host.mjs'), 'proxy', '--socket', sock, '--state', join(dir, 'broken.rules')], { stdio: ['ignore', 'pipe', 'pipe'] });
    const log = await until(proc, 'failed: ');
    expect(await exit(proc)).toBe(1);
    expect(log).toContain(`failed: Cannot find module '${join(dir, 'missing-dependency.js')}' imported from ${join(dir, 'broken-host.mjs')}`);
    expect(log).not.toContain('no proxy data path');
    expect(existsSync(sock)).toBe(false);
  });
});
