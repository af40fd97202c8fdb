// The native splice path of the proxy (hosts/proxy/splice.ts + the addon's
// splice pump), in process with real sockets on loopback: bytes arrive
// exactly and in order both ways under backpressure, a FIN is passed on as a
// FIN while the other direction still flows, a reset on either side resets the
// other, a PROXY header and bytes the client sent before the real server
// accepted go first, the byte counts reach the destination's statistics while
// the connection is open and exactly at its end, and a pump that refuses a
// connection leaves it on the JS path without losing a byte, --splice auto
// hands over only bulk connections (mid-stream), and 100 connections at once
// share the pump and its pipe pool.
import { describe, it, expect, afterEach } from 'vitest';
import { connect, type Socket } from 'node:net';
import { existsSync } from 'node:fs';
import { silentLogger } from '../../../daemon/logger.js';
import { Splicer, type SplicePumpClass, type NativePump } from '../../../hosts/proxy/splice.js';
import type { ProxySettings } from '../../../daemon/settings.js';
import { ADDON, inCI } from '../gateway/prereq.js';
import { until, MB, bytes, digest } from './harness.js';
import { proxyRig, dial, collect, bulkServer, bulkExchange, type Rig } from './inproc.js';

const built = existsSync(ADDON);
if (!built && !inCI) console.warn(`\n*** SKIPPING splice suite: addon not built (${ADDON}); npm run build:native ***\n`);
const suite = describe.skipIf(!built && !inCI);

async function rig(onConn: (s: Socket) => void, settings: (port: number) => Partial<ProxySettings> = () => ({}), splice: 'on' | 'auto' = 'on'): Promise<Rig> {
  if (inCI && !built) throw new Error(`addon not built in CI: ${ADDON}`);
  const r = await proxyRig(onConn, { splice, settings });
  expect(r.proxy.splicer).not.toBeNull();
  return r;
}


const destStats = (r: Rig) => r.director.dests({ protocol: 'tcp', address: '127.0.0.1', port: r.port })[0];

suite('proxy --splice on: the native pump moves the bytes', () => {
  let r: Rig | null = null;
  afterEach(async () => {
    if (!r) return;
    await r.proxy.stop(0);
    for (const s of r.accepted) s.destroy();
    r.server.close();
    r = null;
  });

  it('16 MiB each way at once: exact bytes under backpressure both ways, counted exactly at the end', async () => {
    const up = bytes(16 * MB, 1), down = bytes(16 * MB, 2);
    r = await rig(bulkServer(down));
    await bulkExchange(r.port, up, down);
    await until(() => r!.proxy.openFlows() === 0, 'flow closed');
    const st = r.proxy.splicer!.stats();
    expect(st.added).toBe(1);
    expect(st.closed).toBe(1);
    expect(st.spliced + st.copied).toBe(up.length + down.length + 65);
    expect(st.spliced).toBeGreaterThan(up.length);
    const d = destStats(r);
    expect(d.stats.inbytes).toBe(up.length);
    expect(d.stats.outbytes).toBe(down.length + 65);
    expect(d.stats.inpkts).toBeGreaterThan(0);
    expect(d.stats.outpkts).toBeGreaterThan(0);
    expect(d.stats.conns).toBe(1);
  });

  it('counts reach the statistics while the connection stays open; the entry is ESTABLISHED and active', async () => {
    r = await rig((s) => { s.on('data', () => {}); s.write('x'.repeat(1000)); });
    const c = await dial(r.port);
    c.on('data', () => {});
    c.write(bytes(MB, 3));
    await until(() => destStats(r!).stats.inbytes === MB && destStats(r!).stats.outbytes === 1000, 'counts of an open connection');
    expect(r.proxy.openFlows()).toBe(1);
    const conns = r.director.connections().filter((x) => !x.template);
    expect(conns.map((x) => x.state)).toEqual(['ESTABLISHED']);
    expect(destStats(r).activeconns).toBe(1);
    c.destroy();
  });

  it('half-close: the client FIN reaches the real server, whose answer still flows back; the entry goes inactive', async () => {
    let serverEnded = false;
    let answer: () => void = () => {};
    r = await rig((s) => {
      const got: Buffer[] = [];
      s.on('data', (d: Buffer) => got.push(d));
      s.on('end', () => { serverEnded = true; answer = () => s.end(`got ${Buffer.concat(got)}`); });
    });
    const c = await dial(r.port);
    const reply = collect(c);
    c.end('hello');
    await until(() => serverEnded, 'FIN at the real server');
    await until(() => destStats(r!).inactconns === 1 && destStats(r!).activeconns === 0, 'entry inactive after the client FIN');
    expect(c.destroyed).toBe(false);
    answer();
    expect(await reply).toEqual({ data: Buffer.from('got hello') });
    await until(() => r!.proxy.openFlows() === 0, 'flow closed');
  });

  it('a real server reset resets the client; a client reset resets the real server', async () => {
    const serverErrors: string[] = [];
    let mode: 'server-resets' | 'client-resets' = 'server-resets';
    r = await rig((s) => {
      s.on('error', (e: NodeJS.ErrnoException) => serverErrors.push(e.code ?? e.message));
      s.once('data', () => { if (mode === 'server-resets') s.resetAndDestroy(); });
    });
    const c1 = await dial(r.port);
    const got1 = collect(c1);
    c1.write('ping');
    expect((await got1).error).toBe('ECONNRESET');
    await until(() => r!.proxy.openFlows() === 0, 'first flow closed');
    expect(r.director.connections().filter((x) => !x.template).map((x) => x.state)).toEqual(['CLOSE']);

    mode = 'client-resets';
    const c2 = await dial(r.port);
    c2.on('error', () => {});
    c2.write('ping');
    await until(() => r!.accepted.length === 2 && r!.accepted[1].bytesRead === 4, 'bytes at the real server');
    c2.resetAndDestroy();
    await until(() => serverErrors.includes('ECONNRESET'), 'RST at the real server');
    await until(() => r!.proxy.openFlows() === 0, 'second flow closed');
  });

  it('a PROXY header and bytes sent before the real server accepted go first, in order', async () => {
    const payload = bytes(256 * 1024, 4);
    const seen: Promise<Buffer>[] = [];
    r = await rig((s) => { seen.push(collect(s).then((x) => { s.end(); return x.data; })); },
      (port) => ({ proxyProtocol: [{ scope: { svc: `tcp|127.0.0.1|${port}` }, version: 1 }] }));
    const c = connect({ host: '127.0.0.1', port: r.port, allowHalfOpen: true });
    let local = 0;
    c.on('connect', () => { local = c.localPort!; });
    c.on('data', () => {});
    c.on('error', () => {});
    c.end(payload);
    await until(() => seen.length === 1, 'accepted');
    const got = await seen[0];
    const nl = got.indexOf('\r\n');
    expect(got.subarray(0, nl).toString()).toBe(`PROXY TCP4 127.0.0.1 127.0.0.1 ${local} ${r.port}`);
    expect(digest(got.subarray(nl + 2))).toBe(digest(payload));
    await until(() => r!.proxy.openFlows() === 0, 'flow closed');
    expect(destStats(r).stats.inbytes).toBe(payload.length);
  });

  it('stopping the proxy resets the connections the pump holds', async () => {
    r = await rig((s) => { s.on('data', () => {}); s.on('error', () => {}); });
    const c = await dial(r.port);
    const got = collect(c);
    c.write('x');
    await until(() => r!.proxy.splicer!.stats().conns === 1, 'handed over');
    await r.proxy.stop(0);
    expect((await got).error).toBe('ECONNRESET');
  });

  it('a pump that refuses a connection leaves it on the JS path, bytes read early included', async () => {
    r = await rig((s) => { const got = collect(s); void got.then((x) => s.end(digest(x.data))); });
    class Refusing implements NativePump {
      add(): void { const e = new Error('SplicePump.add: Too many open files') as NodeJS.ErrnoException; e.code = 'EMFILE'; throw e; }
      abort(): void {}
      stats() { return { conns: 0, pipes: 0, pooled: 0, spliced: 0, copied: 0, added: 0, closed: 0 }; }
      close(): void {}
    }
    r.proxy.splicer!.close();
    r.proxy.splicer = new Splicer(Refusing as unknown as SplicePumpClass, silentLogger());
    const payload = bytes(2 * MB, 5);
    const c = connect({ host: '127.0.0.1', port: r.port, allowHalfOpen: true });
    const reply = collect(c);
    c.end(payload);
    expect((await reply).data.toString()).toBe(digest(payload));
    await until(() => r!.proxy.openFlows() === 0, 'flow closed');
    expect(destStats(r).stats.inbytes).toBe(payload.length);
  });
  it('--splice auto: a short exchange stays on the JS path; a bulk one is handed over mid-stream, bytes exact', async () => {
    const up = bytes(8 * MB, 6), down = bytes(8 * MB, 7);
    r = await rig((s) => {
      const got: Buffer[] = [];
      s.once('data', (d: Buffer) => {
        if (d.toString() === 'hello') { s.end('short'); return; }
        got.push(d);
        s.on('data', (x: Buffer) => got.push(x));
        s.on('end', () => s.end(`\n${digest(Buffer.concat(got))}`));
        s.write(down);
      });
    }, () => ({}), 'auto');
    expect(r.proxy.splicer!.after).toBeGreaterThan(0);
    const short = await dial(r.port);
    const shortReply = collect(short);
    short.end('hello');
    expect((await shortReply).data.toString()).toBe('short');
    await until(() => r!.proxy.openFlows() === 0, 'short flow closed');
    expect(r.proxy.splicer!.stats().added).toBe(0);

    const c = await dial(r.port);
    const reply = collect(c);
    c.end(up);
    const { data, error } = await reply;
    expect(error).toBeUndefined();
    expect(digest(data.subarray(0, down.length))).toBe(digest(down));
    expect(data.subarray(down.length).toString()).toBe(`\n${digest(up)}`);
    await until(() => r!.proxy.openFlows() === 0, 'bulk flow closed');
    const st = r.proxy.splicer!.stats();
    expect(st.added).toBe(1);
    expect(st.spliced).toBeGreaterThan(0);
    const d = destStats(r);
    expect(d.stats.inbytes).toBe(5 + up.length);
    expect(d.stats.outbytes).toBe(5 + down.length + 65);
  });
  it('100 connections at once, each 256 KiB echoed: every byte back in order, no pipe kept past the pool', async () => {
    r = await rig((s) => { s.on('error', () => {}); s.pipe(s); });
    const one = async (k: number) => {
      const payload = bytes(256 * 1024, 100 + k);
      const c = await dial(r!.port);
      const reply = collect(c);
      c.end(payload);
      const { data, error } = await reply;
      return error === undefined && data.length === payload.length && digest(data) === digest(payload);
    };
    const ok = await Promise.all(Array.from({ length: 100 }, (_, k) => one(k)));
    expect(ok.filter((x) => !x).length).toBe(0);
    await until(() => r!.proxy.openFlows() === 0, 'all flows closed');
    await until(() => r!.proxy.splicer!.stats().conns === 0, 'pump empty');
    const st = r.proxy.splicer!.stats();
    expect(st.added).toBe(100);
    expect(st.closed).toBe(100);
    expect(st.pipes).toBe(st.pooled);
    expect(st.pooled).toBeLessThanOrEqual(64);
    expect(destStats(r).stats.inbytes).toBe(100 * 256 * 1024);
    expect(destStats(r).stats.outbytes).toBe(100 * 256 * 1024);
  });
  it('--splice auto with a client that does not read for a while: handed over once its writes drain, bytes exact', async () => {
    const down = bytes(32 * MB, 8);
    r = await rig((s) => { s.on('error', () => {}); s.resume(); s.end(down); }, () => ({}), 'auto');
    const c = await dial(r.port);
    c.pause();
    const reply = collect(c);
    await new Promise((res) => setTimeout(res, 500));
    c.resume();
    c.end();
    const { data, error } = await reply;
    expect(error).toBeUndefined();
    expect(data.length).toBe(down.length);
    expect(digest(data)).toBe(digest(down));
    await until(() => r!.proxy.openFlows() === 0, 'flow closed');
    expect(r.proxy.splicer!.stats().added).toBe(1);
    expect(destStats(r).stats.outbytes).toBe(down.length);
  });
});
