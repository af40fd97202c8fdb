#!/usr/bin/env node
// Many directors: bulk resync of a connection table between two directors.
//   node bench/directors/sync.mjs [CONNECTIONS]     (default 1000000)
// Director A (this process) fills its table with CONNECTIONS TCP connections
// (SYN then ACK: ESTABLISHED, NAT, rr over 4 real servers) through the core's
// packet path, and listens with the sync channel of `wasmvsd --sync-*`
// (daemon/sync.js, HMAC-SHA256 per frame). Director B (a second
// process, the same configuration) connects: the time from B's connect to
// B having imported A's whole snapshot is the resync time (target < 5 s for
// 1M). Also measured, in the same run: the time A takes to list the same
// table locally (the SDK's connections(), what `wasmvsadm -L -c` walks), and
// the bytes per entry on the wire against IPVS's sync message v1.
// Writes bench/out/sync.json. Bounded: B gives up after 120 s.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const { Director } = await import(`${root}dist/sdk/index.js`);
const { ConnSync } = await import(`${root}dist/daemon/sync.js`);
const KEY = Buffer.from('bench-sync-key-0123456789abcdef');
const VIP = '198.18.0.1';

async function director() {
  const d = await Director.create({ connTabBits: 20, clock: () => 1000 });
  const svc = { protocol: 'tcp', address: VIP, port: 80 };
  d.addService(svc, { scheduler: 'rr' });
  for (let i = 1; i <= 4; i++) d.addDest(svc, { address: `198.18.1.${i}`, method: 'masq' });
  return d;
}

if (process.argv[2] === '--receiver') {
  const port = Number(process.argv[3]);
  const d = await director();
  const sync = new ConnSync({ director: d, key: KEY, name: 'b', peers: [{ host: '127.0.0.1', port }], log: () => {} });
  const t0 = performance.now();
  await sync.start();
  const got = await sync.ready(120_000);
  const ms = performance.now() - t0;
  process.stdout.write(JSON.stringify({ got, ms, entries: d.connectionCount(), stats: sync.stats }) + '\n');
  await sync.close();
  process.exit(0);
}

const N = Number(process.argv[2] ?? 1_000_000);
const a = await director();
let t = performance.now();
const BATCH = 256;
for (let done = 0; done < N; done += BATCH) {
  for (const flags of [0x02, 0x10]) {
    const list = [];
    for (let k = done; k < Math.min(N, done + BATCH); k++) {
      list.push({ protocol: 'tcp', direction: 'in', client: { address: `10.${(k >>> 16) & 255}.${(k >>> 8) & 255}.${k & 255}`, port: 1024 + (k % 50000) },
        virtual: { address: VIP, port: 80 }, flags, length: 60 });
    }
    a.packet(list);
  }
}
const fillMs = performance.now() - t;
const entries = a.connectionCount();
t = performance.now();
let listed = 0;
for (const page of a.connectionPages()) listed += page.length;
const listMs = performance.now() - t;
const sync = new ConnSync({ director: a, key: KEY, name: 'a', peers: [], listen: { host: '127.0.0.1', port: 0 }, log: () => {} });
await sync.start();
const port = sync['server'].address().port;
const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--receiver', String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
child.stdout.on('data', (x) => { out += x; });
const killer = setTimeout(() => child.kill('SIGKILL'), 150_000);
await new Promise((r) => child.once('exit', r));
clearTimeout(killer);
await sync.close();
const b = JSON.parse(out);
const perEntry = sync.stats.bytesSent / sync.stats.entriesSent;
const result = {
  connections: entries, fillMs, listMs, listed,
  resyncMs: b.ms, imported: b.entries, complete: b.got && b.entries === entries,
  bytesSent: sync.stats.bytesSent, batches: sync.stats.batchesSent, bytesPerEntry: perEntry,
  ipvsV1BytesPerEntry: 36, ratioResyncToLocalListing: b.ms / listMs,
};
mkdirSync(`${root}bench/out`, { recursive: true });
writeFileSync(`${root}bench/out/sync.json`, JSON.stringify(result, null, 2) + '\n');
console.log(JSON.stringify(result, null, 2));
