// wasmvsadm at scale: -R and -a against iptables-legacy in the
// same run. Started by bench/cli/run.sh inside `unshare -n` (never run it in
// the host's namespace: it loads iptables rules). Every loop is bounded.
//   node bench/cli/bench.mjs --baselines DIR [SERVICES] [DESTS]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, mkdirSync, existsSync, openSync, closeSync } from 'node:fs';
import { tmpdir, cpus, totalmem, release, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderReport } from './report.mjs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const args = process.argv.slice(2);
const baselines = args[args.indexOf('--baselines') + 1];
const sizes = args.filter((a, i) => /^\d+$/.test(a) && args[i - 1] !== '--baselines').map(Number);
const N = sizes[0] ?? 20000, K = sizes[1] ?? 8;
const ADD_SAMPLES = 7;
const NODE = process.execPath;
const ADM = here('../../bin/wasmvsadm.js'), D = here('../../bin/wasmvsd.js');
if (!existsSync(here('../../dist/cli/wasmvsadm.js'))) { console.error('bench/cli: run `npm run build` first'); process.exit(2); }

const dir = mkdtempSync(join(tmpdir(), 'wasmvs-bench-cli-'));
mkdirSync(here('../out'), { recursive: true });
const t0 = Date.now();
const log = (s) => console.log(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(3)}s] ${s}`);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sec = (ms) => Math.round(ms) / 1000;

/** Run a command to completion; wall time in ms (process start included). */
function timed(cmd, argv, opts = {}) {
  const t = performance.now();
  const r = spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 1 << 26, timeout: 300_000, ...opts });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')}: exit ${r.status} ${r.error ?? ''} ${(r.stderr ?? '').slice(0, 500)}`);
  return { ms, out: r.stdout };
}

// Services in 198.18.0.0/15: VIP i, destinations in the other half of the range.
const ip = (i) => `198.${18 + ((i >> 16) & 1)}.${(i >> 8) & 255}.${i & 255}`;
function rules(n, k) {
  const out = [];
  for (let s = 0; s < n; s++) {
    const vip = `${ip(s)}:80`;
    out.push(`-A -t ${vip} -s rr`);
    for (let d = 0; d < k; d++) out.push(`-a -t ${vip} -r ${ip(65536 + ((s * k + d) % 65536))}:8080 -m -w 1`);
  }
  return out.join('\n') + '\n';
}

/**
 * iptables_scale.sh runs (the restore time is their median: the machine is
 * shared, one sample is noisy), taken in rounds with the -R runs: round i is
 * iptables run i, then -R run i, so both see the same minutes of load.
 */
const ROUNDS = 5;

/** One iptables_scale.sh run; with `adds`, then single appends on the loaded table. The table is flushed after. */
function iptablesRun(i, adds) {
  log(`iptables-legacy: ${baselines}/iptables_scale.sh ${N} legacy (${i + 1}/${ROUNDS})`);
  const r = timed('bash', [join(baselines, 'iptables_scale.sh'), String(N), 'legacy']);
  const m = /rules=(\d+) full_restore=([\d.]+)s add_one_rule=([\d.]+)s full_restore_plus_one=([\d.]+)s/.exec(r.out);
  if (!m) throw new Error(`unexpected iptables_scale.sh output: ${r.out}`);
  const run = { rules: Number(m[1]), restore: Number(m[2]), addOne: Number(m[3]), restorePlusOne: Number(m[4]) };
  if (adds) {
    // More single appends on the loaded table (N+1 services), process start included.
    run.adds = [];
    for (let k = 0; k < ADD_SAMPLES; k++) {
      run.adds.push(timed('iptables-legacy', ['-t', 'nat', '-A', 'KUBE-SERVICES', '-d', `198.18.255.${k + 1}/32`, '-p', 'tcp', '-m', 'tcp', '--dport', '80', '-j', 'KUBE-MARK-MASQ']).ms);
    }
  }
  spawnSync('iptables-legacy', ['-t', 'nat', '-F']);
  spawnSync('iptables-legacy', ['-t', 'nat', '-X']);
  return run;
}

function iptablesSummary(runs) {
  const sorted = [...runs].sort((a, b) => a.restore - b.restore);
  const m = sorted[Math.floor(runs.length / 2)];
  const adds = runs[runs.length - 1].adds;
  return {
    rules: m.rules, restore: m.restore, restoreRuns: runs.map((x) => x.restore), addOne: m.addOne, restorePlusOne: m.restorePlusOne,
    adds: adds.map(sec), addMedian: sec(median(adds)),
  };
}

function inProcess(file) {
  const run = (extra) => JSON.parse(timed(NODE, [here('./inproc.mjs'), file, dir, ...extra]).out);
  log('in-process -R (packed path)');
  const fast = [run([]), run([]), run([])];
  log('in-process -R (one command per line, the path before)');
  const slow = run(['--slow']);
  return { fast: fast.sort((a, b) => a.total - b.total)[1], fastRuns: fast.map((f) => f.total), slow };
}

async function startDaemon(sock, state, logFile) {
  // Log to a file, not a pipe: this process blocks in spawnSync while the daemon writes.
  const fd = openSync(logFile, 'w');
  const proc = spawn(NODE, [D, 'proxy', '--socket', sock, '--state', state], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  for (let i = 0; i < 200 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(sock)) throw new Error(`wasmvsd did not start: ${readFileSync(logFile, 'utf8')}`);
  return { proc, logText: () => readFileSync(logFile, 'utf8') };
}

/** The daemon answers a cheap request: whatever it was doing (the proxy's reaction) is done. */
const probe = (env) => timed(NODE, [ADM, '-L', '--timeout'], { env }).ms;

/** Extra runs with the rules through a pipe from this process (node writes 8.6 MiB into it while timed). */
const PIPE_RUNS = 3;

/**
 * The environment wasmvsadm runs in: this one without NODE_EXTRA_CA_CERTS.
 * Node 20 reads and parses that CA file at every process start, before any
 * of wasmvsadm's code (≈ 38 ms of CPU per start with this machine's bundle
 * of system certificates), and wasmvsadm never opens a TLS connection.
 * The report gives -R with it too (CA_RUNS), and says whether it was set.
 */
const caCerts = process.env.NODE_EXTRA_CA_CERTS;
const BASE_ENV = { ...process.env };
delete BASE_ENV.NODE_EXTRA_CA_CERTS;
const CA_RUNS = caCerts ? 3 : 0;

/**
 * -R into a fresh daemon; with `adds`, then the -a samples on the loaded daemon.
 * stdin is the rules file, as iptables_scale.sh gives iptables-legacy-restore
 * its file; `pipe` feeds the text through a pipe from this process instead;
 * `withCa` keeps NODE_EXTRA_CA_CERTS in wasmvsadm's environment.
 */
async function daemon(text, label, adds, pipe = false, withCa = false) {
  const sock = join(dir, `${label}.sock`), state = join(dir, `${label}.rules`);
  const d = await startDaemon(sock, state, join(dir, `${label}.log`));
  const env = { ...BASE_ENV, ...(withCa ? { NODE_EXTRA_CA_CERTS: caCerts } : {}), WASMVS_SOCKET: sock };
  try {
    log(`wasmvsd proxy: wasmvsadm -R (${label})`);
    const t = performance.now();
    const fd = pipe ? null : openSync(file, 'r');
    let restore;
    try {
      restore = timed(NODE, [ADM, '-R'], pipe ? { env, input: text } : { env, stdio: [fd, 'pipe', 'pipe'] }).ms;
    } finally {
      if (fd !== null) closeSync(fd);
    }
    probe(env);
    const res = { restore, settled: performance.now() - t, stateLines: readFileSync(state, 'utf8').split('\n').length - 1 };
    if (adds) {
      // The round trip: -S lists exactly the rules restored (same lines, any order).
      const saved = timed(NODE, [ADM, '-S', '-n'], { env }).out.split('\n').filter((l) => l !== '').sort();
      const given = text.split('\n').filter((l) => l !== '').sort();
      res.saveMatches = saved.length === given.length && saved.every((l, i) => l === given[i]);
      if (!res.saveMatches) throw new Error(`wasmvsadm -S after -R lists ${saved.length} lines that differ from the ${given.length} restored`);
      log('wasmvsadm -a: settled (daemon idle before each) and back to back');
      const idle = [], b2b = [];
      for (let i = 0; i < ADD_SAMPLES; i++) {
        probe(env);
        idle.push(timed(NODE, [ADM, '-a', '-t', '198.18.0.1:80', '-r', `198.19.254.${i + 1}:8080`, '-m'], { env }).ms);
      }
      for (let i = 0; i < ADD_SAMPLES; i++) b2b.push(timed(NODE, [ADM, '-a', '-t', '198.18.0.2:80', '-r', `198.19.254.${i + 1}:8080`, '-m'], { env }).ms);
      Object.assign(res, { idle, b2b, version: timed(NODE, [ADM, '-v'], { env }).ms });
    }
    const logText = d.logText();
    res.logLines = logText.split('\n').filter((l) => l.trim()).length;
    writeFileSync(here('../out/cli-daemon.log'), logText.split('\n').slice(0, 40).join('\n'));
    return res;
  } finally {
    d.proc.kill('SIGTERM');
    await new Promise((r) => d.proc.once('exit', r));
  }
}

/** The rounds: iptables run i, then -R into fresh daemon i (the last one also takes the -a samples). */
async function rounds(text) {
  const ipt = [], runs = [];
  for (let i = 0; i < ROUNDS; i++) {
    ipt.push(iptablesRun(i, i === ROUNDS - 1));
    runs.push(await daemon(text, `proxy${i}`, i === ROUNDS - 1));
  }
  return { ipt, runs };
}

async function proxy(text, runs) {
  const last = runs[runs.length - 1];
  const piped = [];
  for (let i = 0; i < PIPE_RUNS; i++) piped.push((await daemon(text, `pipe${i}`, false, true)).restore);
  const withCa = [];
  for (let i = 0; i < CA_RUNS; i++) withCa.push((await daemon(text, `ca${i}`, false, false, true)).restore);
  return {
    caCerts: caCerts ?? null, ...(withCa.length ? { restoreCa: sec(median(withCa)), restoreCaRuns: withCa.map(sec) } : {}),
    restorePipe: sec(median(piped)), restorePipeRuns: piped.map(sec), saveMatches: last.saveMatches,
    restore: sec(median(runs.map((r) => r.restore))), restoreRuns: runs.map((r) => sec(r.restore)),
    settled: sec(median(runs.map((r) => r.settled))), settledRuns: runs.map((r) => sec(r.settled)),
    stateLines: last.stateLines, logLines: last.logLines,
    addIdle: last.idle.map(sec), addIdleMedian: sec(median(last.idle)),
    addBackToBack: last.b2b.map(sec), addBackToBackMedian: sec(median(last.b2b)), processStart: sec(last.version),
  };
}

const text = rules(N, K);
const file = join(dir, 'rules.txt');
writeFileSync(file, text);
const res = {
  date: new Date().toISOString(), services: N, dests: K, lines: N * (K + 1), bytes: text.length,
  machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), kernel: release(), node: process.version, load: loadavg()[0] },
};
try {
  const r = await rounds(text);
  res.iptables = iptablesSummary(r.ipt);
  res.inProcess = inProcess(file);
  res.proxy = await proxy(text, r.runs);
  // Each round's own ratio (iptables-legacy-restore ÷ -R ack of the same round).
  res.roundRatios = r.ipt.map((x, i) => Math.round((x.restore / (r.runs[i].restore / 1000)) * 10) / 10);
  res.machine.loadAfter = loadavg()[0];
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const outDir = here('../out');
mkdirSync(outDir, { recursive: true });
const full = N === 20000 && K === 8;
writeFileSync(join(outDir, full ? 'cli.json' : 'cli.small.json'), JSON.stringify(res, null, 2) + '\n');
const md = renderReport(res, readFileSync(here('./ANALYSIS.md'), 'utf8'));
writeFileSync(full ? here('../REPORT-cli.md') : join(outDir, 'REPORT-cli.md'), md);
log(`done: ${full ? 'bench/REPORT-cli.md' : 'bench/out/REPORT-cli.md'}`);
