// What one connection costs the central scheduler of `wasmvsd proxy --workers N`
// (hosts/proxy/central.ts), without the workers, their sockets or the kernel's
// TCP: the records a worker sends for a request/close connection (accept;
// ESTABLISHED; client FIN and server FIN; the close with its traffic), decoded
// and applied to a real Director and ProxyDataPath, the decisions encoded and
// written to a real Unix socket, B connections per write as under load.
// Beside it, in the same run, the same table work as one process does it
// (schedule, events, accounting; no records, no writes): the difference is the
// channel's share. 1 s ÷ (µs per connection) is the ceiling of connections per
// second one main process can decide for, whatever the number of workers.
//   node bench/proxy/central.mjs [CONNS] [BATCH]      (after npm run build)
import { createServer, connect } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Director } from '../../dist/sdk/director.js';
import { ProxyDataPath } from '../../dist/hosts/proxy/proxy.js';
import { Central } from '../../dist/hosts/proxy/central.js';
import { tracked } from '../../dist/hosts/proxy/account.js';
import { silentLogger } from '../../dist/daemon/logger.js';
import {
  ChannelIn, ChannelOut, EVENT_CODE, R_ACCEPT, R_CLOSED, R_EVENT,
} from '../../dist/hosts/proxy/channel.js';

const CONNS = Number(process.argv[2] ?? 200_000);
const BATCH = Number(process.argv[3] ?? 16);
const ROUNDS = Number(process.env.ROUNDS ?? 5);

const director = await Director.create({ flavor: 'release' });
const proxy = new ProxyDataPath({ log: silentLogger(), splice: 'off', tickMs: 1000, engine: 'js' });
await proxy.start(director);
// Added after start and never synced: no listener opens, only the table is used.
const vip = { address: '198.18.0.1', port: 80 };
const vs = { key: 'tcp|198.18.0.1|80', protocol: 'tcp', ...vip };
director.addService({ protocol: 'tcp', ...vip }, { scheduler: 'wlc' });
for (let i = 1; i <= 4; i++) director.addDest({ protocol: 'tcp', ...vip }, { address: `198.18.1.${i}`, port: 80, method: 'masq', weight: i });

// The decisions go to a real socket, read and dropped on the other side (as a worker's reads would cost elsewhere).
const dir = mkdtempSync(join(tmpdir(), 'wasmvs-central-'));
const path = join(dir, 's');
const server = createServer((s) => s.on('data', () => {}));
await new Promise((r) => server.listen(path, r));
const sock = connect(path);
await new Promise((r) => sock.once('connect', r));

const peer = { flows: new Map(), pend: 0, out: new ChannelOut(sock) };
let due = false;
const central = new Central(proxy, (id) => (id === 1 ? vs : undefined), () => { due = true; });
const input = new ChannelIn((type, b, at) => central.record(peer, type, b, at));

/** The worker's side, encoded once: its records for B connections, in three writes (accepts; ESTABLISHED; the rest). */
function workerBytes(first, n) {
  const parts = [[], [], []];
  const sink = (k) => ({ destroyed: false, write: (b) => { parts[k].push(b); return true; } });
  const outs = [0, 1, 2].map((k) => new ChannelOut(sink(k)));
  for (let i = first; i < first + n; i++) {
    const addr = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    outs[0].begin(R_ACCEPT, 14).f64(i).u32(1).u16(1024 + (i % 60000)).ascii(addr).end();
    outs[1].begin(R_EVENT, 9).f64(i).u8(EVENT_CODE.established).end();
    outs[2].begin(R_EVENT, 9).f64(i).u8(EVENT_CODE['client-fin']).end();
    outs[2].begin(R_EVENT, 9).f64(i).u8(EVENT_CODE['server-fin']).end();
    outs[2].begin(R_CLOSED, 40).f64(i).f64(78).f64(1).f64(120).f64(1).end();
  }
  outs.forEach((o) => o.flush());
  return parts.map((p) => Buffer.concat(p));
}

let next = 1;
function viaChannel(n) {
  const batches = [];
  for (let i = 0; i < n; i += BATCH) { batches.push(workerBytes(next, BATCH)); next += BATCH; }
  const t0 = process.hrtime.bigint();
  for (const [accepts, established, rest] of batches) {
    input.feed(accepts);
    if (due) { due = false; peer.out.flush(); }
    input.feed(established);
    input.feed(rest);
    if (due) { due = false; peer.out.flush(); }
  }
  return Number(process.hrtime.bigint() - t0) / 1e3 / (batches.length * BATCH);
}

/** The same table work as one process does it for a connection (TcpFlow + ProxyDataPath), no records. */
function inProcess(n) {
  const clients = [];
  for (let i = 0; i < n; i++, next++) clients.push({ address: `10.${(next >> 16) & 255}.${(next >> 8) & 255}.${next & 255}`, port: 1024 + (next % 60000) });
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i += BATCH) {
    const flows = [];
    for (let j = i; j < i + BATCH && j < n; j++) {
      if (!proxy.admit('tcp', vs.key, 0)) throw new Error('refused');
      const d = director.schedule({ protocol: 'tcp', client: clients[j], virtual: vip });
      const f = { protocol: 'tcp', connId: d.id, destId: d.destId, svcKey: vs.key, dest: d.dest, destroy() {}, t: tracked('tcp', clients[j], vip, d.dest, d.destId, d.method) };
      proxy.pending(true);
      proxy.opened(f);
      proxy.proxyProtocol(vs.key, d.dest);
      flows.push(f);
    }
    for (const f of flows) { proxy.pending(false); director.connEvent(f.connId, 'established'); proxy.connectOk(f.svcKey, f.dest); }
    for (const f of flows) {
      director.connEvent(f.connId, 'client-fin');
      director.connEvent(f.connId, 'server-fin');
      proxy.account.add(f.t, 78, 1, 120, 1);
      proxy.account.close(f.t);
      director.connEvent(f.connId, 'close');
      proxy.closed(f);
    }
  }
  return Number(process.hrtime.bigint() - t0) / 1e3 / n;
}

const a = [], b = [];
viaChannel(20_000); inProcess(20_000); // warm both paths
for (let r = 0; r < ROUNDS; r++) { a.push(viaChannel(CONNS)); b.push(inProcess(CONNS)); }
const med = (v) => [...v].sort((x, y) => x - y)[(v.length - 1) >> 1];
const f2 = (v) => v.map((x) => x.toFixed(2)).join(' / ');
console.log(`central scheduler, ${CONNS} request/close connections per round, ${BATCH} per write, ${ROUNDS} interleaved rounds`);
console.log(`  records in, decisions out (central.ts + channel.ts): ${f2(a)} µs per connection, median ${med(a).toFixed(2)} -> ceiling ${Math.round(1e6 / med(a))} conn/s`);
console.log(`  the same table work in one process (no records):     ${f2(b)} µs per connection, median ${med(b).toFixed(2)}`);
console.log(`  channel's share: ${(med(a) / med(b)).toFixed(2)}x the table work`);
if (peer.flows.size !== 0) throw new Error(`flows left: ${peer.flows.size}`);
sock.destroy(); server.close(); rmSync(dir, { recursive: true, force: true });
await proxy.stop(0);
process.exit(0);
