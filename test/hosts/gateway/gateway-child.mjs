// A minimal gateway for the namespace tests: the addon reads each burst
// straight into the core's REGION_PACKETS, one gwBurst call decides and
// rewrites it over the connection table, and the verdict records go back in
// one call — the path hosts/gateway/gateway.ts runs, without its rules,
// routes and daemon. One service VIP:port (rr) with one real server RS:port:
// NAT rewrites both ways, DR answers with the real server's verdict mark
// (printed on the ready line, so the parent can route it), TUN wraps in IPIP
// from tunSrc. Constants come from the parent (the generated ABI mirror) as
// JSON in argv[2]. Stops on "stop" from stdin and prints one JSON line of
// counters.
import { createRequire } from 'node:module';
import { Director } from 'wasmvs';
import { coreOf } from 'wasmvs/core';

const cfg = JSON.parse(process.argv[2]);
const L = cfg.layout;
const require = createRequire(import.meta.url);
const { NfQueue, REC_HEADER, VER_STRIDE } = require('../../../native/build/Release/wasmvs_nfq.node');
if (REC_HEADER !== L.GW_REC_HEADER || VER_STRIDE !== L.GW_VER_SIZE) throw new Error('addon and core record layouts differ');

const ip4 = (s) => s.split('.').reduce((a, b) => ((a << 8) | Number(b)) >>> 0, 0);
const d = await Director.create({ seed: 1, flavor: 'debug' });
const key = { protocol: 'tcp', address: cfg.vip, port: cfg.port };
d.addService(key, { scheduler: 'rr' });
const method = { nat: 'masq', dr: 'route', tun: 'tunnel' }[cfg.mode];
const destId = d.addDest(key, { address: cfg.rs, port: cfg.port, method });
const x = coreOf(d).x;
if (cfg.mode === 'tun' && x.gwConfig(ip4(cfg.tunSrc), cfg.mtu) !== 0) throw new Error('gwConfig refused the tunnel settings');
const drMark = (L.GW_DR_MARK_BASE + (destId & L.GW_DR_SLOT_MASK)) >>> 0;
const VIP = ip4(cfg.vip);

const BURST = 32, STRIDE = 2048;
const base = x.getIoBase();
const q = new NfQueue({ queue: cfg.queue, copyRange: STRIDE - REC_HEADER, gso: cfg.gso });
const seen = { in: 0, out: 0, forwarded: 0, dropped: 0, passed: 0, partial: 0 };
const started = Date.now();

function handle(n) {
  let dv = new DataView(x.memory.buffer);
  for (let i = 0; i < n; i++) {
    const rec = base + L.REGION_PACKETS + i * STRIDE;
    const inbound = dv.getUint32(rec + L.GW_REC_HEADER + 16) === VIP;
    seen[inbound ? 'in' : 'out']++;
    if (dv.getUint8(rec + L.GW_REC_FLAGS) & L.GW_RF_CSUM_PARTIAL) seen.partial++;
  }
  const now = 1 + Math.floor((Date.now() - started) / 1000);
  if (x.gwBurst(n, STRIDE, now) !== n) throw new Error('gwBurst refused a burst');
  dv = new DataView(x.memory.buffer); // the burst may have grown memory
  for (let i = 0; i < n; i++) {
    const v = base + L.REGION_LIST + i * L.GW_VER_SIZE;
    const flags = dv.getUint32(v + L.GW_VER_FLAGS, true);
    if (dv.getUint32(v + L.GW_VER_VERDICT, true) === 0) seen.dropped++;
    else if (flags & (L.GW_VF_PAYLOAD | L.GW_VF_MARK)) seen.forwarded++;
    else seen.passed++;
  }
  const mem = x.memory.buffer;
  q.verdicts(new Uint8Array(mem, base + L.REGION_LIST, n * L.GW_VER_SIZE), n, new Uint8Array(mem, base + L.REGION_PACKETS, BURST * STRIDE));
}

q.start(() => {
  for (let n; (n = q.read(new Uint8Array(x.memory.buffer, base + L.REGION_PACKETS, BURST * STRIDE), STRIDE, BURST)) > 0; ) handle(n);
});
process.stdout.write(`ready ${drMark}\n`);
process.stdin.on('data', (b) => {
  if (!String(b).includes('stop')) return;
  process.stdout.write(JSON.stringify({ ...seen, ...q.stats() }) + '\n');
  q.close();
  process.exit(0);
});
setTimeout(() => process.exit(2), 30000).unref();
