// Runs inside the test's namespace (ip netns exec): binds an NFQUEUE queue
// with the addon, waits for "go" on stdin (so every packet is already queued
// and bursts are full), then answers bursts: every 4th packet gets a rewritten
// payload (first UDP data byte -> 'X', IPv4 UDP checksum 0 = none), the rest
// plain accepts that the addon batches. Prints one JSON line and exits.
import { createRequire } from 'node:module';
import dgram from 'node:dgram';

const [queue, expected, mode, port, addr] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const { NfQueue, REC_HEADER, VER_STRIDE } = require('../../native/build/Release/wasmvs_nfq.node');

const N = Number(expected);
const BURST = 64;
const STRIDE = 512;
// mode: 'batch' (default), 'single' (batch: false), 'per-packet' (verdictMode: one send per message) or
// 'overrun' (a receive buffer too small for what is queued before "go": the kernel's ENOBUFS waits on the
// socket; prints "drained" after the first wake-up, then keeps answering).
const q = new NfQueue({ queue: Number(queue), copyRange: STRIDE - REC_HEADER, batch: mode !== 'single', maxLen: 4096,
  ...(mode === 'per-packet' ? { verdictMode: 'per-packet' } : {}), ...(mode === 'overrun' ? { rcvBuf: 8192 } : {}) });
const packets = new Uint8Array(BURST * STRIDE);
const verdicts = new Uint8Array(BURST * VER_STRIDE);
const payloads = new Uint8Array(BURST * STRIDE);
const received = [];
let seen = 0;
let bursts = 0;
// 'overrun': packets read when the backlog was drained (those after it were queued later).
let packetsAtDrain = -1;
const statuses = [];

const sock = dgram.createSocket('udp4');
sock.on('message', (m) => {
  received.push(m.toString());
  if (received.length === N) finish(0);
});

function answer(n) {
  const pv = new DataView(packets.buffer);
  const vv = new DataView(verdicts.buffer);
  let off = 0;
  for (let i = 0; i < n; i++) {
    const rec = i * STRIDE;
    const len = pv.getUint32(rec + 8, true);
    const o = i * VER_STRIDE;
    vv.setUint32(o, pv.getUint32(rec, true), true);
    vv.setUint32(o + 4, 1, true); // NF_ACCEPT
    vv.setUint32(o + 8, 0, true);
    if ((seen + i) % 4 === 0) {
      const pkt = payloads.subarray(off, off + len);
      pkt.set(packets.subarray(rec + REC_HEADER, rec + REC_HEADER + len));
      const ihl = (pkt[0] & 15) * 4;
      pkt[ihl + 6] = 0;
      pkt[ihl + 7] = 0;
      pkt[ihl + 8] = 0x58;
      vv.setUint32(o + 8, 2, true); // VER_F_PAYLOAD
      vv.setUint32(o + 16, off, true);
      vv.setUint32(o + 20, len, true);
      off += len;
    }
  }
  seen += n;
  q.verdicts(verdicts, n, payloads);
}

function finish(code) {
  const s = q.stats();
  process.stdout.write(JSON.stringify({ ...s, bursts, packetsAtDrain, received, fd: q.fd, statuses: [...new Set(statuses)] }) + '\n');
  q.close();
  sock.close();
  process.exit(code);
}

sock.bind(Number(port), addr, () => {
  process.stdout.write('ready\n');
  process.stdin.once('data', () => {
    q.start((status) => {
      statuses.push(status);
      for (;;) {
        const n = q.read(packets, STRIDE, BURST);
        if (n === 0) break;
        bursts++;
        answer(n);
      }
      if (statuses.length === 1 && mode === 'overrun') { packetsAtDrain = q.stats().packets; process.stdout.write('drained\n'); }
    });
  });
});
setTimeout(() => finish(1), 15000).unref();
