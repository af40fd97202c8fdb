// `npm start` before any configuration: three local backends that answer with
// their name, a TCP balancer on 127.0.0.1 scheduling each accepted connection
// with the wasmvs core (rr), and a few client requests to show the result.
import net from 'node:net';
import { Director } from '../sdk/src/index.js';

const VIP = '127.0.0.1';

function backend(name: string): Promise<net.Server> {
  const srv = net.createServer((sock) => {
    sock.on('error', () => sock.destroy());
    sock.end(`hello from ${name}\n`);
  });
  return new Promise((resolve) => srv.listen(0, VIP, () => resolve(srv)));
}

function portOf(s: net.Server): number {
  return (s.address() as net.AddressInfo).port;
}

async function main(): Promise<void> {
  const director = await Director.create();
  const backends = await Promise.all(['backend-a', 'backend-b', 'backend-c'].map(backend));
  const balancer = net.createServer();
  await new Promise<void>((r) => balancer.listen(Number(process.env.WASMVS_DEMO_PORT ?? 0), VIP, r));
  const svc = { protocol: 'tcp' as const, address: VIP, port: portOf(balancer) };
  director.addService(svc, { scheduler: 'rr' });
  backends.forEach((b, i) => director.addDest(svc, { address: VIP, port: portOf(b), weight: i + 1, method: 'masq' }));

  balancer.on('connection', (client) => {
    client.on('error', () => client.destroy());
    const pick = director.schedule({
      protocol: 'tcp', client: { address: client.remoteAddress ?? VIP, port: client.remotePort ?? 0 }, virtual: svc,
    });
    if (!pick) return client.destroy();
    const up = net.connect(pick.dest.port, pick.dest.address);
    up.on('error', () => client.destroy());
    client.pipe(up).pipe(client);
  });

  console.log(`wasmvs demo: TCP ${VIP}:${svc.port} rr -> 3 backends`);
  const seen = new Map<string, number>();
  const rounds = Number(process.env.WASMVS_DEMO_REQUESTS ?? 12);
  for (let i = 0; i < rounds; i++) {
    const text = await new Promise<string>((resolve, reject) => {
      const c = net.connect(svc.port, VIP);
      let buf = '';
      c.on('data', (b) => (buf += b));
      c.on('end', () => resolve(buf.trim()));
      c.on('error', reject);
    });
    seen.set(text, (seen.get(text) ?? 0) + 1);
  }
  for (const [k, v] of [...seen].sort()) console.log(`  ${k}: ${v} connections`);
  console.log(`try: curl telnet://${VIP}:${svc.port}  (Ctrl-C to stop)`);
  if (process.env.WASMVS_DEMO_ONCE) {
    balancer.close();
    backends.forEach((b) => b.close());
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
