// Long-lived TCP connections for the fast-path suite (run inside the
// namespaces); every wait is bounded, one line per event.
//   echo-server ADDR PORT   per connection "<its local address>|", then every byte echoed; "ready"
//   talk VIP PORT           one connection; "connected <local port>"; then per stdin line "send N": N random
//                           bytes out, "echoed N <server address> ok|bad" once N bytes came back,
//                           or "failed timeout|closed|error ..."; "quit" ends it
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';

const [mode, addr, portText] = process.argv.slice(2);
const port = Number(portText);
setTimeout(() => { console.log('timeout'); process.exit(3); }, 120_000).unref();

if (mode === 'echo-server') {
  net.createServer((c) => {
    c.on('error', () => {});
    // First the server address the connection reached, then every byte echoed.
    c.write(`${c.localAddress}|`);
    c.pipe(c);
  }).listen(port, addr, () => console.log('ready'));
} else if (mode === 'talk') {
  const c = net.connect(port, addr);
  let from = null;
  let buf = Buffer.alloc(0);
  let want = null;
  let closed = null;
  const settle = (line) => {
    if (!want) return;
    clearTimeout(want.timer);
    want = null;
    buf = Buffer.alloc(0);
    console.log(line);
  };
  const check = () => {
    if (from === null) {
      const bar = buf.indexOf('|');
      if (bar < 0) return;
      from = buf.subarray(0, bar).toString();
      buf = buf.subarray(bar + 1);
    }
    if (want && buf.length >= want.data.length) settle(`echoed ${want.data.length} ${from} ${buf.equals(want.data) ? 'ok' : 'bad'}`);
  };
  c.on('connect', () => console.log(`connected ${c.localPort}`));
  c.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    check();
  });
  c.on('error', (e) => { closed = `error ${e.code ?? e.message}`; settle(`failed ${closed}`); });
  c.on('close', () => { closed ??= 'closed'; settle(`failed ${closed}`); });
  for await (const line of createInterface({ input: process.stdin })) {
    const [cmd, n] = line.trim().split(' ');
    if (cmd === 'quit') break;
    if (cmd !== 'send') continue;
    if (closed) { console.log(`failed ${closed}`); continue; }
    const data = randomBytes(Number(n));
    want = { data, timer: setTimeout(() => settle('failed timeout'), 3000) };
    if (from !== null) buf = Buffer.alloc(0);
    c.write(data);
    check();
  }
  c.destroy();
  process.exit(0);
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
