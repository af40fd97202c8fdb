// Time to first byte of new TCP connections to one VIP:port (the server
// writes one byte on accept): COUNT sequential connections, each bounded by
// a 5 s timeout. Prints one JSON line with the first (cold) connection and
// percentiles over the rest, in microseconds.
import net from 'node:net';

const [addr, portText, countText] = process.argv.slice(2);
const port = Number(portText), count = Number(countText ?? 200);
const one = () => new Promise((resolve) => {
  const t0 = process.hrtime.bigint();
  const c = net.connect(port, addr);
  const timer = setTimeout(() => { c.destroy(); resolve(-1); }, 5000);
  c.once('data', () => {
    clearTimeout(timer);
    resolve(Number(process.hrtime.bigint() - t0) / 1000);
    c.destroy();
  });
  c.on('error', () => { clearTimeout(timer); resolve(-1); });
});
const times = [];
for (let i = 0; i < count; i++) times.push(await one());
const failed = times.filter((t) => t < 0).length;
const ok = times.slice(1).filter((t) => t >= 0).sort((a, b) => a - b);
const pct = (p) => Math.round(ok[Math.min(ok.length - 1, Math.floor((p / 100) * ok.length))] ?? -1);
console.log(JSON.stringify({ first: Math.round(times[0]), p50: pct(50), p90: pct(90), p99: pct(99), n: ok.length, failed }));
process.exit(0);
