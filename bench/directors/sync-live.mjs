#!/usr/bin/env node
// Many directors: connection-sync bandwidth per new connection, against IPVS's sync
// message v1 on the same packets.
//   node bench/directors/sync-live.mjs [SHORT] [LONG]     (default 20000 2000)
// Director A (NAT, rr over 4 real servers) sees SHORT short connections
// (handshake; a request and a 3-packet answer; FIN both ways 1 s later) and
// LONG long ones (one request/answer exchange every 0.4 s for 120 s, 300
// packets in from the client), arriving evenly over 10 s; every entry then
// ends (TIME_WAIT, 120 s). The clock is simulated (5 steps per second), A's
// sync channel (daemon/sync.js, as `wasmvsd --sync-*` runs it)
// scans after every step as its 200 ms timer does, and a real peer B
// imports over loopback TCP. Measured: the bytes A's sync sends (frames:
// header, entries, HMAC) per connection, and B's table at the end.
// The IPVS figure is computed on the same packets: ip_vs_sync_conn_needed's
// rule with the defaults (sync_threshold "3 50", sync_refresh_period 0):
// an entry at the client's 3rd packet and every 50th after, and at each
// change to FIN_WAIT, CLOSE_WAIT, TIME_WAIT or CLOSE seen on a client packet
// (the state from this core, which follows IPVS's tables); 36 bytes per IPv4
// entry, 8-byte header per message of up to 40 entries (1500-byte MTU).
// Transport headers are left out on both sides (IPVS: UDP/IP 28 bytes per
// message; ours: TCP/IP, segments of up to 64 KiB frames).
// Writes bench/out/sync-live.json. Bounded: a fixed number of steps.
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const { Director } = await import(`${root}dist/sdk/index.js`);
const { ConnSync } = await import(`${root}dist/daemon/sync.js`);
const KEY = Buffer.from('bench-sync-key-0123456789abcdef');
const VIP = '198.18.0.1';
const SHORT = Number(process.argv[2] ?? 20000);
const LONG = Number(process.argv[3] ?? 2000);
const STEPS = 5; // per simulated second

let now = 1000;
async function director() {
  const d = await Director.create({ connTabBits: 16, clock: () => Math.floor(now) });
  const svc = { protocol: 'tcp', address: VIP, port: 80 };
  d.addService(svc, { scheduler: 'rr' });
  for (let i = 1; i <= 4; i++) d.addDest(svc, { address: `198.18.1.${i}`, method: 'masq' });
  return d;
}

// A connection's packets: [step offset, direction, TCP flags].
const IN = 'in', OUT = 'out';
const handshake = [[0, IN, 0x02], [0, OUT, 0x12], [0, IN, 0x10]];
const exchange = (s) => [[s, IN, 0x18], [s, OUT, 0x18], [s, OUT, 0x18], [s, OUT, 0x18], [s, IN, 0x10]];
const close = (s) => [[s, IN, 0x11], [s, OUT, 0x11], [s, IN, 0x10]];
const shortScript = [...handshake, ...exchange(1), ...close(STEPS)];
const longScript = [...handshake];
for (let s = 1; s < 120 * STEPS; s += 2) longScript.push([s, IN, 0x18], [s, OUT, 0x18]);
longScript.push(...close(120 * STEPS + 1));

const conns = [];
const ARRIVAL_STEPS = 10 * STEPS;
const every = LONG > 0 ? Math.floor((SHORT + LONG) / LONG) : 0;
let longs = 0;
for (let k = 0; k < SHORT + LONG; k++) {
  const long = every > 0 && k % every === 0 && longs < LONG;
  if (long) longs++;
  conns.push({
    k, long, start: Math.floor((k * ARRIVAL_STEPS) / (SHORT + LONG)), script: long ? longScript : shortScript,
    client: { address: `10.${(k >>> 16) & 255}.${(k >>> 8) & 255}.${k & 255}`, port: 1024 + (k % 50000) },
    // IPVS's per-connection sync bookkeeping.
    pkts: 0, oldState: 'NONE', ipvsSends: 0,
  });
}
// Packets by absolute step and phase: phase i holds each connection's i-th packet of that step,
// so the state read after a phase is the one that packet left.
const byStep = new Map();
for (const c of conns) {
  let last = -1, phase = 0;
  for (const [off, dir, flags] of c.script) {
    const s = c.start + off;
    phase = s === last ? phase + 1 : 0;
    last = s;
    if (!byStep.has(s)) byStep.set(s, []);
    const phases = byStep.get(s);
    (phases[phase] ??= []).push({ c, dir, flags });
  }
}

const IPVS_SYNC_STATES = new Set(['ESTABLISHED', 'FIN_WAIT', 'CLOSE', 'CLOSE_WAIT', 'TIME_WAIT']);
/** ip_vs_sync_conn_needed (sync_threshold 3, sync_period 50, sync_refresh_period 0), after a client packet. */
function ipvsNeeded(c, state) {
  if (!IPVS_SYNC_STATES.has(state)) return false;
  const force = state !== c.oldState;
  if (!(force && state !== 'ESTABLISHED') && c.pkts % 50 !== 3) return false;
  c.oldState = state;
  return true;
}

const a = await director();
const b = await director();
const syncA = new ConnSync({ director: a, key: KEY, name: 'a', peers: [], listen: { host: '127.0.0.1', port: 0 }, log: () => {}, interval: 2_000_000 });
await syncA.start();
const port = syncA['server'].address().port;
const syncB = new ConnSync({ director: b, key: KEY, name: 'b', peers: [{ host: '127.0.0.1', port }], log: () => {}, interval: 2_000_000 });
await syncB.start();
if (!(await syncB.ready(10_000))) throw new Error('B got no snapshot from A');
const base = { ...syncA.stats };
const flush = () => new Promise((r) => setImmediate(r));

const lastStep = Math.max(...byStep.keys()) + 125 * STEPS;
let peakB = 0;
let failed = 0;
const t0 = performance.now();
for (let step = 0; step <= lastStep; step++) {
  now = 1000 + step / STEPS;
  for (const list of byStep.get(step) ?? []) {
    // A NAT reply comes from the real server the connection's first packet was sent to.
    const res = a.packet(list.map((p) => ({ protocol: 'tcp', direction: p.dir, client: p.c.client,
      virtual: p.dir === IN ? { address: VIP, port: 80 } : p.c.rs, flags: p.flags, length: 60 })), Math.floor(now));
    list.forEach((p, j) => {
      if (!res[j].ok) { failed++; return; }
      if (p.dir !== IN) return;
      p.c.rs ??= res[j].address;
      p.c.pkts++;
      const r = res[j];
      const info = a.connection(r.id, Math.floor(now));
      if (info && ipvsNeeded(p.c, info.state)) p.c.ipvsSends++;
    });
  }
  if (step % STEPS === 0) a.advance(Math.floor(now));
  syncA.scan();
  await flush();
  if (step % STEPS === 0) peakB = Math.max(peakB, b.connectionCount());
}
// B takes what is still on the way.
await new Promise((r) => setTimeout(r, 1000));
const wallMs = performance.now() - t0;

const n = conns.length;
const sent = { bytes: syncA.stats.bytesSent - base.bytesSent, entries: syncA.stats.entriesSent - base.entriesSent, frames: syncA.stats.batchesSent - base.batchesSent };
const ipvs = (list) => {
  const entries = list.reduce((s, c) => s + c.ipvsSends, 0);
  return { entries, bytes: entries * 36 + Math.ceil(entries / 40) * 8 };
};
const ipvsAll = ipvs(conns);
const result = {
  connections: n, short: conns.filter((c) => !c.long).length, long: conns.filter((c) => c.long).length,
  simulatedSeconds: lastStep / STEPS, wallMs, packetsRefused: failed,
  ours: { ...sent, bytesPerConnection: sent.bytes / n, entriesPerConnection: sent.entries / n },
  ipvsV1: { ...ipvsAll, bytesPerConnection: ipvsAll.bytes / n, entriesPerConnection: ipvsAll.entries / n,
    shortEntriesPerConnection: ipvs(conns.filter((c) => !c.long)).entries / Math.max(1, conns.filter((c) => !c.long).length),
    longEntriesPerConnection: ipvs(conns.filter((c) => c.long)).entries / Math.max(1, conns.filter((c) => c.long).length) },
  ratioOursToIpvs: sent.bytes / ipvsAll.bytes,
  peer: { peakEntries: peakB, entriesAtEnd: b.connectionCount(), imported: syncB.stats.entriesImported, removed: syncB.stats.entriesRemoved,
    refused: syncB.stats.refused + syncB.stats.importRefused },
};
await syncB.close();
await syncA.close();
mkdirSync(`${root}bench/out`, { recursive: true });
writeFileSync(`${root}bench/out/sync-live.json`, JSON.stringify(result, null, 2) + '\n');
console.log(JSON.stringify(result, null, 2));
