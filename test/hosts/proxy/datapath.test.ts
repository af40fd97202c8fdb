// The TCP data path itself, through a real wasmvsd proxy: bytes arrive
// exactly and in order both ways under backpressure (a reader that stops
// reading for a while), a client's FIN reaches the real server as a FIN while
// the answer still flows back (half-close), and the bytes moved are counted in
// the destination's statistics (InBytes/OutBytes) as IPVS counts them.
import { describe, it, expect, afterEach } from 'vitest';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { lab, freePort, until, listening, requireBuild, MB, bytes, digest, type Lab } from './harness.js';

/**
 * A real server that reads everything until the client's FIN, pausing its
 * reads for a while first (backpressure towards the proxy), then answers with
 * `answer` and the digest of what it got, and ends.
 */
function sink(answer: Buffer): Promise<{ server: Server; port: number; got: () => Buffer | null }> {
  let got: Buffer | null = null;
  const server = createServer({ allowHalfOpen: true }, (s: Socket) => {
    const parts: Buffer[] = [];
    s.pause();
    setTimeout(() => s.resume(), 300);
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('error', () => s.destroy());
    s.on('end', () => {
      got = Buffer.concat(parts);
      s.write(answer);
      s.end(`\n${digest(got)}`);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () =>
    resolve({ server, port: (server.address() as { port: number }).port, got: () => got })));
}

describe('wasmvsd proxy: TCP data path', () => {
  let l: Lab;
  let srv: Server | null = null;
  afterEach(async () => {
    await l?.stop();
    srv?.close();
    l?.cleanup();
  });

  // Node's sockets (--engine js): --splice off: the JS path carries every byte (pump.ts: reads into kept buffers); the default
  // (--splice auto) hands the connection to the native pump mid-stream when the addon is built;
  // --engine native: the addon's threads own both sockets from the accept on.
  it.each([['--splice off'], ['the default --splice'], ['--engine native']])('8 MiB each way (%s): exact bytes under backpressure, half-close passed on, bytes counted in --stats', async (mode) => {
    requireBuild();
    l = lab();
    const up = bytes(8 * MB, 1), down = bytes(8 * MB, 2);
    const s = await sink(down);
    srv = s.server;
    const port = await freePort();
    const vip = `127.0.0.1:${port}`;
    await l.start(`-A -t ${vip} -s rr\n-a -t ${vip} -r 127.0.0.1:${s.port} -m\n`, { args: mode === '--splice off' ? ['--splice', 'off', '--engine', 'js'] : mode === '--engine native' ? ['--engine', 'native'] : ['--engine', 'js'] });
    await listening(l, port);

    const c = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const parts: Buffer[] = [];
    let ended = false, error: Error | null = null;
    c.on('error', (e) => { error = e; });
    c.on('end', () => { ended = true; });
    // The client, too, stops reading for a while: the answer backs up into the proxy.
    c.pause();
    setTimeout(() => c.resume(), 300);
    c.on('data', (d: Buffer) => parts.push(d));
    c.end(up);
    await until(() => ended || error !== null, 'the answer and the real server\'s FIN', 30_000);
    expect(error).toBe(null);
    expect(s.got()?.length).toBe(up.length);
    expect(digest(s.got()!)).toBe(digest(up));
    const all = Buffer.concat(parts);
    expect(all.length).toBe(down.length + 65);
    expect(digest(all.subarray(0, down.length))).toBe(digest(down));
    expect(all.subarray(down.length + 1).toString()).toBe(digest(up));
    c.destroy();

    // The flush of the next tick puts the bytes into the dest's counters.
    const stat = async () => {
      const line = (await l.adm('-L -n --stats --exact')).out.split('\n').find((x) => x.includes(`127.0.0.1:${s.port}`)) ?? '';
      const f = line.trim().split(/\s+/);
      return { conns: Number(f[2]), inPkts: Number(f[3]), outPkts: Number(f[4]), inBytes: Number(f[5]), outBytes: Number(f[6]) };
    };
    await until(async () => { const t = await stat(); return t.inBytes >= up.length && t.outBytes >= down.length + 65; }, 'bytes in --stats');
    const t = await stat();
    expect(t.conns).toBe(1);
    expect(t.inBytes).toBe(up.length);
    expect(t.outBytes).toBe(down.length + 65);
    // A chunk read stands for a packet: on the JS path at least one per 64 KiB read (the splice
    // pump's calls move more); at most one per byte.
    const per = mode === '--splice off' ? 65536 : Infinity;
    expect(t.inPkts).toBeGreaterThanOrEqual(Math.max(1, Math.ceil(up.length / per)));
    expect(t.inPkts).toBeLessThanOrEqual(up.length);
    expect(t.outPkts).toBeGreaterThanOrEqual(Math.max(1, Math.ceil((down.length + 65) / per)));
    expect(t.outPkts).toBeLessThanOrEqual(down.length + 65);
  });
});
