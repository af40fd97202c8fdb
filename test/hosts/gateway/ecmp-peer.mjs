// The two ends of the many-directors ECMP namespace suite (run inside the
// namespaces). Every loop and wait is bounded in count and time.
//   server PORT NAME      server on every address: greets each connection with
//                         "NAME\n", then sends frames (type u8, length u16,
//                         payload): 'E' echoes what the client sent, 'P'
//                         pushes 256 bytes of its own every 100 ms (server-
//                         sent data that no client packet precedes)
//   client VIP PORT N     N long-lived connections to VIP:PORT; each reads its
//                         greeting, then sends a 512-byte chunk every 100 ms
//                         and checks the echo and the pushes byte for byte. Prints
//                         "ready {json}" once all N are greeted (or failed).
//                         stdin "stop": stop sending, wait (bounded) until
//                         every connection has its echo back, print
//                         "result {json}" and exit. A connection is broken
//                         when it errors, closes, echoes wrong bytes or has
//                         not caught up by the deadline. "mark" then "status":
//                         the least progress of a live connection since the mark.
//   greet VIP PORT N SRC… N short connections from each source address in turn,
//                         one at a time; prints "served SRC NAME" per greeting
//                         ("served SRC error …" when one fails)
import net from 'node:net';
import { createInterface } from 'node:readline';

const [mode, a1, a2, a3] = process.argv.slice(2);
// Hard bound on the whole run.
setTimeout(() => { console.log('timeout'); process.exit(3); }, 300_000).unref();

/** The byte at offset i of a server's push stream. */
const pushAt = (i) => (i * 13 + (i >> 8)) & 0xff;

if (mode === 'server') {
  const name = a2;
  const frame = (type, payload) => {
    const h = Buffer.alloc(3);
    h[0] = type.charCodeAt(0);
    h.writeUInt16BE(payload.length, 1);
    return Buffer.concat([h, payload]);
  };
  const s = net.createServer((c) => {
    c.setNoDelay(true);
    let pushed = 0;
    const push = setInterval(() => {
      const b = Buffer.alloc(256);
      for (let i = 0; i < 256; i++) b[i] = pushAt(pushed + i);
      pushed += 256;
      c.write(frame('P', b));
    }, 100);
    c.on('error', () => { /* the client sees it */ });
    c.on('close', () => clearInterval(push));
    c.write(`${name}\n`);
    c.on('data', (d) => {
      for (let o = 0; o < d.length; o += 60000) c.write(frame('E', d.subarray(o, o + 60000)));
    });
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
    const c = { k, sock: null, rs: null, cport: 0, sent: 0, got: 0, pushed: 0, broken: null, greet: '', buf: Buffer.alloc(0) };
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
      if (c.rs === null) {
        c.greet += d.toString('latin1');
        const nl = c.greet.indexOf('\n');
        if (nl < 0) return;
        c.rs = c.greet.slice(0, nl);
        d = d.subarray(d.length - (c.greet.length - nl - 1));
        clearTimeout(t);
        resolve();
      }
      c.buf = c.buf.length ? Buffer.concat([c.buf, d]) : d;
      while (c.buf.length >= 3 && !c.broken) {
        const type = String.fromCharCode(c.buf[0]), len = c.buf.readUInt16BE(1);
        if (c.buf.length < 3 + len) break;
        const p = c.buf.subarray(3, 3 + len);
        c.buf = c.buf.subarray(3 + len);
        if (type === 'E') {
          for (let o = 0; o < p.length; o++, c.got++) if (p[o] !== byteAt(c.k, c.got)) { brk(c, `wrong echo byte at ${c.got}`); return; }
        } else if (type === 'P') {
          for (let o = 0; o < p.length; o++, c.pushed++) if (p[o] !== pushAt(c.pushed)) { brk(c, `wrong push byte at ${c.pushed}`); return; }
        } else { brk(c, `bad frame type ${c.buf[0]}`); return; }
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
    if (l === 'mark') {
      for (const c of conns) { c.markGot = c.got; c.markPushed = c.pushed; }
      console.log('marked');
      return;
    }
    if (l === 'status') {
      // The least progress of a live connection since the mark, in echoed and pushed bytes.
      const live = conns.filter((c) => !c.broken);
      console.log(`status ${JSON.stringify({ broken: n - live.length,
        minEcho: Math.min(...live.map((c) => c.got - (c.markGot ?? 0))), minPush: Math.min(...live.map((c) => c.pushed - (c.markPushed ?? 0))) })}`);
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
      total: n, broken: broken.length, bytes: conns.reduce((a, c) => a + c.got, 0), pushed: conns.reduce((a, c) => a + c.pushed, 0),
      why: broken.slice(0, 20).map((c) => `${c.cport} via ${c.rs}: ${c.broken}`),
    })}`);
    for (const c of conns) c.sock?.destroy();
    process.exit(0);
  });
} else if (mode === 'greet') {
  const vip = a1, port = Number(a2), n = Number(a3);
  const sources = process.argv.slice(6);
  const one = (src) => new Promise((resolve) => {
    const s = net.connect({ port, host: vip, localAddress: src });
    let text = '';
    const done = (what) => { clearTimeout(t); s.destroy(); console.log(`served ${src} ${what}`); resolve(); };
    const t = setTimeout(() => done('error timeout'), 10_000);
    s.on('data', (d) => {
      text += d.toString('latin1');
      const nl = text.indexOf('\n');
      if (nl >= 0) { s.end(); done(text.slice(0, nl)); }
    });
    s.on('error', (e) => done(`error ${e.code ?? e.message}`));
  });
  for (let i = 0; i < n; i++) for (const src of sources) await one(src);
  process.exit(0);
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
