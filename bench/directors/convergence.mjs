#!/usr/bin/env node
// Many directors: convergence after one write with 3 directors sharing one etcd.
//   node bench/directors/convergence.mjs [SERVICES] [WRITES]     (default 20000 50)
// Starts a real etcd-server (temporary data dir, free ports on 127.0.0.1) and
// three `wasmvsd proxy --store etcd://…` daemons, loads SERVICES fwmark services
// (one real server each; fwmark services open no listener) with one -R through
// director 1, then makes WRITES single-command writes (-e, a new weight)
// through director 1. For each: the time from sending the request to (a) the
// writer's reply and (b) the moment all three directors list the change (each
// is polled on its own control connection with `-L -f N` every ~1 ms).
// The real alternative, in the same run: one `wasmvsd proxy` with the state
// file (the default store) holding the same configuration, same writes: the
// time to its reply, when the change is applied and durable.
// Writes bench/out/directors.json. Bounded: every wait has a deadline.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { get } from 'node:http';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const { ControlClient } = await import(`${root}dist/cli/client.js`);
const SERVICES = Number(process.argv[2] ?? 20000);
const WRITES = Number(process.argv[3] ?? 50);
const dir = mkdtempSync(join(tmpdir(), 'wasmvs-bench-dirs-'));
const procs = [];
const now = () => performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const freePort = () => new Promise((resolve) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
});
const healthy = (url) => new Promise((resolve) => {
  const req = get(`${url}/health`, { timeout: 1000 }, (res) => { let b = ''; res.on('data', (d) => { b += d; }); res.on('end', () => resolve(b.includes('"health":"true"'))); });
  req.on('error', () => resolve(false));
  req.on('timeout', () => { req.destroy(); resolve(false); });
});
async function until(cond, what, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (await cond()) return; await sleep(20); }
  throw new Error(`timed out: ${what}`);
}
function start(cmd, args, name) {
  const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  p.stdout.on('data', (d) => { log += d; });
  p.stderr.on('data', (d) => { log += d; });
  procs.push(p);
  return { p, log: () => log, name };
}
const pct = (xs, q) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]; };
const stats = (xs) => ({ n: xs.length, p50: pct(xs, 0.5), p99: pct(xs, 0.99), max: Math.max(...xs) });

async function daemon(name, extra) {
  const sock = join(dir, `${name}.sock`);
  const d = start(process.execPath, [`${root}bin/wasmvsd.js`, 'proxy', '--socket', sock, '--state', join(dir, `${name}.rules`), ...extra], name);
  await until(() => d.log().includes('control socket'), `${name} up`, 30_000);
  return { ...d, sock, client: new ControlClient(sock) };
}

const svc = (i) => ({ fwmark: i + 1 });
const rules = () => {
  let t = '';
  for (let i = 0; i < SERVICES; i++) t += `-A -f ${i + 1} -s wrr\n-a -f ${i + 1} -r 198.19.${(i >> 8) & 255}.${i & 255}:80 -g -w 1\n`;
  return t;
};
const edit = (i, w) => ({ op: 'edit-server', svc: svc(i), dest: { address: `198.19.${(i >> 8) & 255}.${i & 255}`, port: 80, weight: w, method: 'route' } });
const weightOf = async (c, i) => { try { return (await c.list(svc(i))).services[0]?.dests[0]?.weight; } catch { return undefined; } };

async function restore(d, text) {
  const p = spawn(process.execPath, [`${root}bin/wasmvsadm.js`, '--socket', d.sock, '-R'], { stdio: ['pipe', 'ignore', 'pipe'] });
  let err = '';
  p.stderr.on('data', (x) => { err += x; });
  p.stdin.end(text);
  const code = await new Promise((r) => p.once('exit', r));
  if (code !== 0) throw new Error(`-R failed: ${err}`);
}

const out = { services: SERVICES, writes: WRITES, cpus: cpus().length, node: process.version };
try {
  // etcd
  const cport = await freePort(); let pport = await freePort(); while (pport === cport) pport = await freePort();
  const client = `127.0.0.1:${cport}`;
  const etcd = start('/usr/bin/etcd', ['--name', 'bench', '--data-dir', join(dir, 'etcd'), '--log-level', 'error',
    '--listen-client-urls', `http://${client}`, '--advertise-client-urls', `http://${client}`,
    '--listen-peer-urls', `http://127.0.0.1:${pport}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${pport}`,
    '--initial-cluster', `bench=http://127.0.0.1:${pport}`], 'etcd');
  await until(() => healthy(`http://${client}`), 'etcd healthy', 20_000);
  const url = `etcd://${client}/bench`;
  const ds = [];
  for (const n of ['d1', 'd2', 'd3']) ds.push(await daemon(n, ['--store', url, '--name', n]));
  const solo = await daemon('solo', []);

  // Load: one -R through d1 (chunked into etcd transactions), and the same into the state-file daemon.
  const text = rules();
  let t = now();
  await restore(ds[0], text);
  out.loadEtcdWriterMs = now() - t;
  await until(async () => (await Promise.all(ds.map((d) => weightOf(d.client, SERVICES - 1)))).every((w) => w === 1), 'all directors loaded', 600_000);
  out.loadEtcdAllMs = now() - t;
  t = now();
  await restore(solo, text);
  out.loadStateFileMs = now() - t;
  console.log(`loaded ${SERVICES} services: etcd writer ${out.loadEtcdWriterMs.toFixed(0)} ms, all 3 ${out.loadEtcdAllMs.toFixed(0)} ms; state file ${out.loadStateFileMs.toFixed(0)} ms`);

  // Single writes.
  const ack = [], conv = [], soloAck = [];
  for (let k = 0; k < WRITES; k++) {
    const i = Math.floor((k * 7919) % SERVICES);
    const w = 2 + (k % 50);
    const t0 = now();
    const seen = ds.map(() => null);
    const watch = ds.map(async (d, j) => {
      const end = Date.now() + 10_000;
      while (Date.now() < end) {
        if ((await weightOf(d.client, i)) === w) { seen[j] = now() - t0; return; }
        await sleep(1);
      }
    });
    const r = await ds[0].client.apply([edit(i, w)]);
    if (!r[0].ok) throw new Error(`write ${k} failed: ${JSON.stringify(r[0])}`);
    ack.push(now() - t0);
    await Promise.all(watch);
    if (seen.some((x) => x === null)) throw new Error(`write ${k} not applied everywhere within 10 s`);
    conv.push(Math.max(...seen));
    const t1 = now();
    const rs = await solo.client.apply([edit(i, w)]);
    if (!rs[0].ok) throw new Error(`solo write ${k} failed`);
    soloAck.push(now() - t1);
  }
  out.writerAckMs = stats(ack);
  out.convergenceMs = stats(conv);
  out.stateFileAckMs = stats(soloAck);
  out.ratioP99 = out.convergenceMs.p99 / out.stateFileAckMs.p99;
  out.ratioP50 = out.convergenceMs.p50 / out.stateFileAckMs.p50;
  console.log(`single write, ${WRITES} times: writer reply p50 ${out.writerAckMs.p50.toFixed(1)} ms p99 ${out.writerAckMs.p99.toFixed(1)} ms; `
    + `all 3 directors applied p50 ${out.convergenceMs.p50.toFixed(1)} ms p99 ${out.convergenceMs.p99.toFixed(1)} ms (target p99 < 1000 ms: ${out.convergenceMs.p99 < 1000 ? 'met' : 'missed'})`);
  console.log(`state-file daemon reply p50 ${out.stateFileAckMs.p50.toFixed(1)} ms p99 ${out.stateFileAckMs.p99.toFixed(1)} ms; ratio etcd/state file p50 ${out.ratioP50.toFixed(1)}x p99 ${out.ratioP99.toFixed(1)}x`);
  for (const d of [...ds, solo]) d.client.close();
} finally {
  for (const p of procs.reverse()) { if (p.exitCode === null) { p.kill('SIGTERM'); await Promise.race([new Promise((r) => p.once('exit', r)), sleep(8000)]); if (p.exitCode === null) p.kill('SIGKILL'); } }
  rmSync(dir, { recursive: true, force: true });
}
mkdirSync(`${root}bench/out`, { recursive: true });
writeFileSync(`${root}bench/out/directors.json`, JSON.stringify(out, null, 2) + '\n');
