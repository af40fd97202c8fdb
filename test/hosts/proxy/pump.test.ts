// The JS path's pumps (hosts/proxy/pump.ts), in process with real sockets on
// loopback and --splice off: bytes arrive exactly and in order both ways while
// both ends stop reading for a while (a pump's own buffer is never read into
// while a write still holds it), a bulk direction takes its own buffer and
// gives it back when the connection ends, short exchanges take none, many
// connections at once share the process's buffer without mixing their bytes,
// and InBytes/OutBytes/InPkts/OutPkts count exactly what moved. The reader's
// rule itself: a copy out of the shared buffer keeps reading while the
// writer's queue is under its high-water mark (a client's first bytes queued
// during the real server's connect do not stop and restart its reads), a
// chunk of the direction's own buffer stops it at any queued byte.
import { describe, it, expect, afterEach } from 'vitest';
import { createServer, connect, type Socket } from 'node:net';
import { ownedBuffers, Pump } from '../../../hosts/proxy/pump.js';
import { until, MB, bytes, digest } from './harness.js';
import { proxyRig, type Rig } from './inproc.js';

async function rig(onConn: (s: Socket) => void): Promise<Rig> {
  const r = await proxyRig(onConn, { splice: 'off' });
  expect(r.proxy.splicer).toBeNull();
  return r;
}

/** Everything a socket receives until its end. */
function collect(s: Socket): Promise<Buffer> {
  const parts: Buffer[] = [];
  s.on('data', (d: Buffer) => parts.push(d));
  return new Promise((resolve, reject) => {
    s.once('end', () => resolve(Buffer.concat(parts)));
    s.once('error', reject);
  });
}

/** A real server that echoes nothing: it reads all (pausing first), then answers `answer` and ends. */
function answering(answer: Buffer, got: Buffer[]): (s: Socket) => void {
  return (s) => {
    const parts: Buffer[] = [];
    s.pause();
    setTimeout(() => s.resume(), 200);
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('error', () => s.destroy());
    s.on('end', () => { got.push(Buffer.concat(parts)); s.end(answer); });
  };
}

const destStats = (r: Rig) => r.director.dests({ protocol: 'tcp', address: '127.0.0.1', port: r.port })[0];

describe('proxy JS path: pumps with kept read buffers', () => {
  let r: Rig | null = null;
  afterEach(async () => {
    await r?.proxy.stop(0);
    r?.server.close();
    r = null;
  });

  it('4 MiB each way with both ends stalled: exact bytes, own buffers while bulk, given back at the end, counters exact', async () => {
    const up = bytes(4 * MB, 11), down = bytes(4 * MB, 12), got: Buffer[] = [];
    r = await rig(answering(down, got));
    const c = connect({ host: '127.0.0.1', port: r.port, allowHalfOpen: true });
    // The client stops reading for a while too: the answer backs up into the proxy.
    c.pause();
    const answer = collect(c);
    let peak = 0;
    const watch = setInterval(() => { peak = Math.max(peak, ownedBuffers()); }, 5);
    setTimeout(() => c.resume(), 300);
    c.end(up);
    const all = await answer;
    clearInterval(watch);
    expect(got).toHaveLength(1);
    expect(digest(got[0])).toBe(digest(up));
    expect(all.length).toBe(down.length);
    expect(digest(all)).toBe(digest(down));
    expect(peak).toBeGreaterThanOrEqual(1);
    c.destroy();
    await until(() => r!.proxy.openFlows() === 0, 'the flow closed');
    expect(ownedBuffers()).toBe(0);
    await until(() => destStats(r!).stats.inbytes === up.length && destStats(r!).stats.outbytes === down.length, 'bytes counted');
    const st = destStats(r).stats;
    // A chunk read stands for a packet: at least one per 64 KiB read, at most one per byte.
    expect(st.inpkts).toBeGreaterThanOrEqual(up.length / 65536);
    expect(st.inpkts).toBeLessThanOrEqual(up.length);
    expect(st.outpkts).toBeGreaterThanOrEqual(down.length / 65536);
    expect(st.outpkts).toBeLessThanOrEqual(down.length);
  });

  it('60 short exchanges at once: no own buffer, every answer its own, bytes counted exactly', async () => {
    r = await rig((s) => {
      s.on('error', () => s.destroy());
      s.on('data', (d: Buffer) => s.write(Buffer.concat([Buffer.from('re:'), d])));
      s.on('end', () => s.end());
    });
    const N = 60;
    const answers = await Promise.all(Array.from({ length: N }, (_, i) => new Promise<string>((resolve, reject) => {
      const c = connect({ host: '127.0.0.1', port: r!.port, allowHalfOpen: true });
      const parts: Buffer[] = [];
      c.on('data', (d: Buffer) => parts.push(d));
      c.on('error', reject);
      c.on('end', () => { c.destroy(); resolve(Buffer.concat(parts).toString()); });
      c.end(`request ${i} ${'x'.repeat(i * 50)}`);
    })));
    answers.forEach((a, i) => expect(a).toBe(`re:request ${i} ${'x'.repeat(i * 50)}`));
    expect(ownedBuffers()).toBe(0);
    await until(() => r!.proxy.openFlows() === 0, 'the flows closed');
    const sent = answers.reduce((n, a) => n + a.length - 3, 0);
    await until(() => destStats(r!).stats.inbytes === sent, 'bytes counted');
    const st = destStats(r).stats;
    expect(st.inbytes).toBe(sent);
    expect(st.outbytes).toBe(sent + 3 * N);
    expect(st.conns).toBe(N);
  });

  it("the reader's rule: copies queue up to the high-water mark, the own buffer stops at any queued byte", async () => {
    const server = createServer(() => {});
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const to = connect({ port: (server.address() as { port: number }).port, host: '127.0.0.1' });
    await new Promise((r) => to.once('connect', r));
    try {
      to.cork(); // every write stays queued: writableLength counts it
      const counted: number[] = [];
      const pump = new Pump((n) => counted.push(n));
      pump.to = to;
      pump.from = to; // resume() is not reached here
      const { buffer, callback } = pump.onread();
      const read = (n: number) => { const b = buffer(); b.fill(7, 0, n); return callback(n, b); };
      const hwm = to.writableHighWaterMark;
      // Short reads (copies) while the first is still queued: reading goes on.
      expect(read(100)).toBe(true);
      expect(read(100)).toBe(true);
      expect(to.writableLength).toBe(200);
      // A copy that takes the queue to the high-water mark stops the reader.
      expect(read(hwm - 200 - 1)).toBe(true);
      expect(read(1)).toBe(false);
      // A bulk read gives the direction its own buffer: with anything queued, it stops.
      expect(ownedBuffers()).toBe(0);
      const own = new Pump(() => {});
      own.to = to;
      own.from = to;
      const o = own.onread();
      const first = o.buffer();
      expect(o.callback(16 * 1024, first)).toBe(false);
      expect(ownedBuffers()).toBe(1);
      expect(o.buffer()).not.toBe(first);
      expect(o.callback(1, o.buffer())).toBe(false);
      own.release();
      expect(ownedBuffers()).toBe(0);
      expect(counted).toEqual([100, 100, hwm - 201, 1]);
    } finally {
      to.destroy();
      server.close();
    }
  });
});
