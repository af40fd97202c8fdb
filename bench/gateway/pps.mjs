// One NFQUEUE consumer for the packets/s comparison (run by bench/gateway/run.sh
// inside a throw-away namespace, queue 0, same traffic as the C baseline):
//   node pps.mjs gw-nat|gw-nat-packed|gw-dr|gw-pass|gw-pass-single|gw-pass-pp|gw-dr-pp|addon-batch|addon-single|addon-pp SECONDS BURST
// gw-*: the wasmvsd gateway path (addon → core gwBurst → batch verdicts) with a
// UDP service for 127.0.0.1:9999, NAT (payload verdicts, never batchable) or
// DR (mark verdicts, batchable); gw-pass: no service, every packet parsed,
// looked up and accepted unchanged; addon-*: the addon alone accepting every
// packet, with batch or per-packet verdict messages. '-single': one verdict
// message per packet, still one sendto per burst; '-pp': verdictMode
// 'per-packet', one message and one sendto per packet (the honest per-packet
// baseline, as the C consumer's batch 1). After 1 s of warm-up it counts for
// SECONDS and prints one JSON line (with the queue's message/send counters).
import { Director } from '../../dist/sdk/index.js';
import { counters as C } from '../../dist/sdk/core/abi.gen.js';
import { Gateway, GATEWAY_DEFAULTS } from '../../dist/hosts/gateway/gateway.js';
import { loadNativeQueue } from '../../dist/native/addon.js';

const [mode, secsText, burstText] = process.argv.slice(2);
const secs = Number(secsText ?? 4), burst = Number(burstText ?? 64);
let count = () => 0;
let stop = async () => {};
let qstats = () => ({});
const single = mode.endsWith('-single');
const perPacket = mode.endsWith('-pp');

if (mode.startsWith('gw-')) {
  const d = await Director.create({});
  if (mode.startsWith('gw-nat') || mode.startsWith('gw-dr')) {
    const key = { protocol: 'udp', address: '127.0.0.1', port: 9999 };
    d.addService(key, { scheduler: 'rr' });
    d.addDest(key, { address: '127.0.0.1', port: 9999, method: mode.startsWith('gw-nat') ? 'masq' : 'route' });
  }
  // '-packed': the daemon's default packed records (each as long as its packet); else a 2048-byte stride.
  const stride = mode.endsWith('-packed') ? GATEWAY_DEFAULTS.stride : 2048;
  const gw = new Gateway({ ...GATEWAY_DEFAULTS, burst, stride, batch: !single, ...(perPacket ? { verdict: 'per-packet' } : {}) },
    () => {}, { exec: () => '' });
  await gw.start(d);
  count = () => d.counter(C.CNT_GW_PACKETS);
  stop = () => gw.stop();
  qstats = () => gw.stats()[0];
} else {
  const Native = loadNativeQueue();
  const stride = 2048;
  const q = new Native({ queue: 0, copyRange: stride - 20, failOpen: true, gso: false, batch: mode === 'addon-batch', maxLen: 8192, rcvBuf: 8 << 20,
    ...(perPacket ? { verdictMode: 'per-packet' } : {}) });
  const pk = new Uint8Array(burst * stride), ver = new Uint8Array(burst * 24);
  const pv = new DataView(pk.buffer), vv = new DataView(ver.buffer);
  let n = 0;
  q.start(() => {
    for (let b = 0; b < 64; b++) {
      const got = q.read(pk, stride, burst);
      if (got <= 0) break;
      for (let i = 0; i < got; i++) {
        vv.setUint32(i * 24, pv.getUint32(i * stride, true), true);
        vv.setUint32(i * 24 + 4, 1, true);
      }
      q.verdicts(ver, got);
      n += got;
      if (got < burst) break;
    }
  });
  count = () => n;
  stop = async () => q.close();
  qstats = () => q.stats();
}

await new Promise((r) => setTimeout(r, 1000));
const c0 = count(), t0 = performance.now();
await new Promise((r) => setTimeout(r, secs * 1000));
const pkts = count() - c0, dt = (performance.now() - t0) / 1000;
const { packets: qpackets, verdictMsgs, sends } = qstats();
await stop();
console.log(JSON.stringify({ mode, burst, pps: Math.round(pkts / dt), packets: pkts, queue: { packets: qpackets, verdictMsgs, sends } }));
process.exit(0);
