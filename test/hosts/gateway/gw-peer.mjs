// Client and server ends of the gateway namespace suite (run inside the
// namespaces). Every loop and wait is bounded; each prints one line per event.
//   tcp-server ADDR PORT MAX        echo "echo:<local address>:<data hex>" per connection, log "got ..."
//   tcp-client VIP PORT COUNT SIZE  COUNT sequential connections of SIZE random bytes, "reply ..." lines
//                                   (addresses IPv4 or IPv6; an IPv6 peer is printed as [address]:port)
//   udp-server ADDR PORT MAX        same for datagrams
//   udp-client VIP PORT SIZE        one datagram, "udp-reply ..." line
//   tcp-greet ADDR PORT             writes "hello:<local address>\n" on every connection
//   tcp-hold VIP PORT COUNT         opens COUNT connections one after the other, prints "held <address>" for
//                                   each greeting, keeps them open until stdin closes
import net from 'node:net';
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';

/** address:port, the address in brackets when it is IPv6. */
const hostPort = (a, p) => `${a.includes(':') ? `[${a}]` : a}:${p}`;
const udpType = (a) => (a.includes(':') ? 'udp6' : 'udp4');

const [mode, addr, portText, a3, a4] = process.argv.slice(2);
const port = Number(portText);
setTimeout(() => { console.log('timeout'); process.exit(3); }, 60_000).unref();

if (mode === 'tcp-server') {
  let left = Number(a3);
  const s = net.createServer((c) => {
    const parts = [];
    c.on('data', (d) => parts.push(d));
    c.on('end', () => {
      const hex = Buffer.concat(parts).toString('hex');
      console.log(`got ${hex} for ${c.localAddress} from ${c.remoteAddress}`);
      c.end(`echo:${c.localAddress}:${hex}`);
      if (--left === 0) s.close();
    });
    c.on('error', (e) => console.log(`error ${e.message}`));
  });
  s.listen(port, addr, () => console.log('ready'));
} else if (mode === 'tcp-client') {
  const count = Number(a3), size = Number(a4);
  const one = (i) => new Promise((resolve) => {
    const data = randomBytes(size).toString('hex');
    let peer = '-';
    const c = net.connect(port, addr, () => {
      peer = hostPort(c.remoteAddress, c.remotePort);
      console.log(`sent ${data}`);
      c.end(Buffer.from(data, 'hex'));
    });
    const parts = [];
    const timer = setTimeout(() => { console.log(`reply ${i} timeout`); c.destroy(); resolve(); }, 5000);
    c.on('data', (d) => parts.push(d));
    c.on('end', () => {
      clearTimeout(timer);
      // "echo:<address>:<hex>": the address may hold colons (IPv6), the hex never does.
      const text = Buffer.concat(parts).toString();
      const served = text.slice(text.indexOf(':') + 1, text.lastIndexOf(':'));
      const hex = text.slice(text.lastIndexOf(':') + 1);
      console.log(`reply ${i} ${served} ${peer} ${hex === data ? 'ok' : 'bad'}`);
      resolve();
    });
    c.on('error', (e) => { clearTimeout(timer); console.log(`reply ${i} error ${e.message}`); resolve(); });
  });
  for (let i = 0; i < count; i++) await one(i);
  console.log('done');
  process.exit(0);
} else if (mode === 'udp-server') {
  let left = Number(a3);
  const s = dgram.createSocket(udpType(addr));
  s.on('message', (m, r) => {
    console.log(`got ${m.toString('hex')} for ${addr} from ${r.address}`);
    s.send(`echo:${addr}:${m.toString('hex')}`, r.port, r.address, () => { if (--left === 0) s.close(); });
  });
  s.bind(port, addr, () => console.log('ready'));
} else if (mode === 'udp-client') {
  const data = randomBytes(Number(a3));
  const s = dgram.createSocket(udpType(addr));
  s.on('message', (m, r) => {
    console.log(`udp-reply ${m.toString()} from ${hostPort(r.address, r.port)}`);
    process.exit(0);
  });
  console.log(`sent ${data.toString('hex')}`);
  // Up to 5 tries, one a second: the first may race the rules on a fresh setup.
  let tries = 0;
  const send = () => { if (tries++ < 5) { s.send(data, port, addr); setTimeout(send, 1000).unref(); } };
  s.bind(0, send);
} else if (mode === 'tcp-greet') {
  net.createServer((c) => { c.on('error', () => {}); c.write(`hello:${c.localAddress}\n`); }).listen(port, addr, () => console.log('ready'));
} else if (mode === 'tcp-hold') {
  const held = [];
  for (let i = 0; i < Number(a3); i++) {
    const line = await new Promise((resolve) => {
      const c = net.connect(port, addr);
      held.push(c);
      const timer = setTimeout(() => resolve('timeout'), 5000);
      c.once('data', (d) => { clearTimeout(timer); resolve(String(d).trim().replace('hello:', '')); });
      c.on('error', (e) => { clearTimeout(timer); resolve(`error ${e.message}`); });
    });
    console.log(`held ${line}`);
  }
  console.log('done');
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
