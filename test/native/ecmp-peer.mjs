// The two ends of the many-directors ECMP namespace suite (run inside the
// namespaces). Every loop and wait is bounded in count and time.
//   server PORT NAME      echo server on every address: greets each connection
//                         with "NAME\n", then echoes every byte back
//   client VIP PORT N     N long-lived connections to VIP:PORT; each reads its
//                         greeting, then sends a 512-byte chunk every 100 ms
//                         and checks the echo byte for byte. Prints
//                         "ready {json}" once all N are greeted (or failed).
//                         stdin "stop": stop sending, wait (bounded) until
//                         every connection has its echo back, print
//                         "result {json}" and exit. A connection is broken
//                         when it errors, closes, echoes wrong bytes or has
//                         not caught up by the deadline.
import net from 'node:net';
import { createInterface } from 'node:readline';

const [mode, a1, a2, a3] = process.argv.slice(2);
// Hard bound on the whole run.
setTimeout(() => { console.log('timeout'); process.exit(3); }, 300_000).unref();

if (mode === 'server') {
  const name = a2;
  const s = net.createServer((c) => {
    c.setNoDelay(true);
    c.on('error', () => { /* the client sees it */ });
    c.write(`${name}\n`);
    c.pipe(c);
  });
  s.listen(Number(a1), '0.0.0.0', () => console.log('ready'));
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
} else if (mode === 'client') {
  const vip = a1, port = Number(a2), n = Number(a3);
  const CHUNK = 512, EVERY_MS = 100;
  /** The byte at offset i of connection k's stream: checkable from both ends. */
  const byteAt = (k, i) => (k * 131 + i * 7 + (i >> 9)) & 0xff;
  const conns = [];
  let sending = true;
  for (let k = 0; k < n; k++) {
    const c = { k, sock: null, rs: null, cport: 0, sent: 0, got: 0, broken: null, greet: '' };
    conns.push(c);
  }
  const brk = (c, why) => { if (!c.broken) { c.broken = why; c.sock?.destroy(); } };
  const open = (c) => new Promise((resolve) => {
    const s = net.connect(port, vip);
    c.sock = s;
    s.setNoDelay(true);
    const t = setTimeout(() => { brk(c, 'connect/greeting timeout'); resolve(); }, 20_000);
    s.on('connect', () => { c.cport = s.localPort; });
    s.on('data', (d) => {
      let o = 0;
      if (c.rs === null) {
        c.greet += d.toString('latin1');
        const nl = c.greet.indexOf('\n');
        if (nl < 0) return;
        c.rs = c.greet.slice(0, nl);
        o = d.length - (c.greet.length - nl - 1);
        clearTimeout(t);
        resolve();
      }
      for (; o < d.length; o++, c.got++) {
        if (d[o] !== byteAt(c.k, c.got)) { brk(c, `wrong byte at ${c.got}`); return; }
      }
    });
    s.on('error', (e) => { clearTimeout(t); brk(c, `error ${e.code ?? e.message}`); resolve(); });
    s.on('close', () => { clearTimeout(t); if (sending || c.got < c.sent) brk(c, 'closed'); resolve(); });
  });
  // Opened 20 at a time: the directors see a SYN burst, not a flood.
  for (let i = 0; i < n; i += 20) await Promise.all(conns.slice(i, i + 20).map(open));
  const spread = {};
  for (const c of conns) if (!c.broken) spread[c.rs] = (spread[c.rs] ?? 0) + 1;
  console.log(`ready ${JSON.stringify({ open: conns.filter((c) => !c.broken).length, spread, ports: conns.filter((c) => !c.broken).map((c) => c.cport) })}`);
  // Each connection sends on its own phase, so the load is even over time.
  const timers = conns.map((c, k) => setTimeout(() => {
    const tick = () => {
      if (!sending || c.broken) return;
      const b = Buffer.alloc(CHUNK);
      for (let i = 0; i < CHUNK; i++) b[i] = byteAt(c.k, c.sent + i);
      c.sent += CHUNK;
      c.sock.write(b);
      c.timer = setTimeout(tick, EVERY_MS);
    };
    tick();
  }, (k * EVERY_MS) / n));
  const rl = createInterface({ input: process.stdin });
  rl.on('line', async (l) => {
    if (l === 'status') {
      console.log(`status ${JSON.stringify({ broken: conns.filter((c) => c.broken).length, sent: conns.reduce((a, c) => a + c.sent, 0), got: conns.reduce((a, c) => a + c.got, 0) })}`);
      return;
    }
    if (l !== 'stop') return;
    sending = false;
    for (const t of timers) clearTimeout(t);
    for (const c of conns) clearTimeout(c.timer);
    // Bounded: until every live connection has its echo back, at most 30 s.
    for (let i = 0; i < 300 && conns.some((c) => !c.broken && c.got < c.sent); i++) await new Promise((r) => setTimeout(r, 100));
    for (const c of conns) if (!c.broken && c.got < c.sent) brk(c, `echo behind by ${c.sent - c.got} bytes at the deadline`);
    const broken = conns.filter((c) => c.broken);
    console.log(`result ${JSON.stringify({
      total: n, broken: broken.length, bytes: conns.reduce((a, c) => a + c.got, 0),
      why: broken.slice(0, 20).map((c) => `${c.cport} via ${c.rs}: ${c.broken}`),
    })}`);
    for (const c of conns) c.sock?.destroy();
    process.exit(0);
  });
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
