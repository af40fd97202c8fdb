// A minimal gateway for the namespace tests: the addon feeds bursts, the
// core (debug build) handles each packet in REGION_PACKETS, the burst's
// verdicts go back in one call. NAT: inbound packets to VIP go to RS
// (decision 0), replies from RS get VIP as source (decision 1). DR: the packet
// is left as it is and accepted with a mark that the director's policy
// routing sends to RS's MAC. TUN: the packet is wrapped in an outer IPv4
// header (protocol 4) to RS. The connection table is not involved yet: one
// fixed real server. Constants come from the parent (the generated ABI
// mirror) as JSON in argv[2]. Stops on "stop" from stdin and prints one JSON
// line of counters.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import * as loader from '@assemblyscript/loader';

const cfg = JSON.parse(process.argv[2]);
const L = cfg.layout;
const require = createRequire(import.meta.url);
const { NfQueue, REC_HEADER, VER_STRIDE } = require('../../native-host/build/Release/wasmvs_nfq.node');
const core = loader.instantiateSync(readFileSync(new URL('../../build/wasmvs.debug.wasm', import.meta.url)), {}).exports;
core.init(1, 0);
const base = core.getIoBase();

const ip4 = (s) => s.split('.').reduce((a, b) => ((a << 8) | Number(b)) >>> 0, 0);
function decision(slot, address, port) {
  const dv = new DataView(core.memory.buffer, base + L.REGION_DECISIONS + slot * L.DECISION_SIZE);
  dv.setUint8(L.DEC_DAF, 4);
  dv.setUint16(L.DEC_DPORT, port, true);
  dv.setUint32(L.DEC_DADDR, ip4(address), true);
  for (let w = 1; w < 4; w++) dv.setUint32(L.DEC_DADDR + 4 * w, 0, true);
}
decision(0, cfg.rs, cfg.port);
decision(1, cfg.vip, cfg.port);
const VIP = ip4(cfg.vip);

const BURST = 32, STRIDE = 2048;
const q = new NfQueue({ queue: cfg.queue, copyRange: STRIDE - REC_HEADER, gso: cfg.gso });
const packets = new Uint8Array(BURST * STRIDE);
const verdicts = new Uint8Array(BURST * VER_STRIDE);
const payloads = new Uint8Array(BURST * STRIDE);
const seen = { in: 0, out: 0, forwarded: 0, dropped: 0, passed: 0, partial: 0 };

function handle(n) {
  const pv = new DataView(packets.buffer), vv = new DataView(verdicts.buffer);
  let off = 0;
  for (let i = 0; i < n; i++) {
    const rec = i * STRIDE, len = pv.getUint32(rec + 8, true), recFlags = packets[rec + 17];
    const bytes = packets.subarray(rec + REC_HEADER, rec + REC_HEADER + len);
    new Uint8Array(core.memory.buffer, base + L.REGION_PACKETS, len).set(bytes);
    const inbound = new DataView(bytes.buffer, bytes.byteOffset).getUint32(16) === VIP;
    seen[inbound ? 'in' : 'out']++;
    const flags = recFlags & 2 ? L.PKT_F_CSUM_PARTIAL : 0;
    if (flags) seen.partial++;
    let v;
    if (cfg.mode === 'dr') v = core.pktRoute(0, len, 0); // the kernel's forwarding decrements the TTL
    else if (cfg.mode === 'tun') v = core.pktTunnel(0, len, 4096, 0, ip4(cfg.tunSrc), cfg.mtu, flags | L.PKT_F_DEC_TTL);
    else v = core.pktNat(0, len, inbound ? 0 : 1, inbound ? L.PKT_DIR_IN : L.PKT_DIR_OUT, flags);
    const o = i * VER_STRIDE;
    vv.setUint32(o, pv.getUint32(rec, true), true);
    vv.setUint32(o + 4, v === L.PKT_DROP ? 0 : 1, true);
    vv.setUint32(o + 8, 0, true);
    if (v === L.PKT_FORWARD && cfg.mode === 'dr') {
      vv.setUint32(o + 8, 1, true); // VER_F_MARK: unchanged bytes, so runs batch
      vv.setUint32(o + 12, cfg.mark, true);
      seen.forwarded++;
    } else if (v === L.PKT_FORWARD) {
      const outLen = core.pktLen();
      payloads.set(new Uint8Array(core.memory.buffer, base + L.REGION_PACKETS, outLen), off);
      vv.setUint32(o + 8, 2, true);
      vv.setUint32(o + 16, off, true);
      vv.setUint32(o + 20, outLen, true);
      off += outLen;
      seen.forwarded++;
    } else if (v === L.PKT_DROP) seen.dropped++;
    else seen.passed++;
  }
  q.verdicts(verdicts, n, payloads);
}

q.start(() => {
  for (let n; (n = q.read(packets, STRIDE, BURST)) > 0; ) handle(n);
});
process.stdout.write('ready\n');
process.stdin.on('data', (d) => {
  if (!String(d).includes('stop')) return;
  process.stdout.write(JSON.stringify({ ...seen, ...q.stats() }) + '\n');
  q.close();
  process.exit(0);
});
setTimeout(() => process.exit(2), 30000).unref();
