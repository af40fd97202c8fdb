// The binary channel between wasmvsd proxy and its workers (hosts/proxy/channel.ts):
// records written on one end of a real Unix stream socket arrive whole and
// with their values on the other, however the stream is cut into chunks.
import { describe, it, expect, afterEach } from 'vitest';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ChannelIn, ChannelOut, EVENT_CODE, EVENT_NAMES, METHODS, METHOD_CODE, R_ACCEPT, R_DECIDE, R_EVENT, R_JSON, R_TRAFFIC,
  asciiAt, jsonAt,
} from '../../../hosts/proxy/channel.js';

interface Got { type: number; fields: unknown[] }

/** Decode the records these tests write. */
function decode(type: number, b: Buffer, at: number, len: number): Got {
  switch (type) {
    case R_ACCEPT: return { type, fields: [b.readDoubleLE(at), b.readUInt32LE(at + 8), b.readUInt16LE(at + 12), asciiAt(b, at + 14)] };
    case R_EVENT: return { type, fields: [b.readDoubleLE(at), EVENT_NAMES[b[at + 8]]] };
    case R_TRAFFIC: return { type, fields: [0, 8, 16, 24, 32].map((o) => b.readDoubleLE(at + o)) };
    case R_DECIDE: return {
      type, fields: [b.readDoubleLE(at), b.readDoubleLE(at + 8), b.readDoubleLE(at + 16), b.readUInt16LE(at + 24), METHODS[b[at + 26]], b[at + 27], asciiAt(b, at + 28)],
    };
    case R_JSON: return { type, fields: jsonAt(b, at, len) };
    default: throw new Error(`unexpected record type ${type}`);
  }
}

/** Writes the same set of records every time, with values at their types' edges. */
function writeAll(out: ChannelOut, n: number): Got[] {
  const want: Got[] = [];
  for (let i = 0; i < n; i++) {
    const seq = 2 ** 40 + i;
    const addr = i % 2 === 0 ? '198.18.0.1' : 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe';
    out.begin(R_ACCEPT, 14).f64(seq).u32(0xffffffff - i).u16(65535 - i).ascii(addr).end();
    want.push({ type: R_ACCEPT, fields: [seq, 0xffffffff - i, 65535 - i, addr] });
    out.begin(R_DECIDE, 28).f64(seq).f64(2 ** 31 + i).f64(i).u16(i).u8(METHOD_CODE.tunnel).u8(2).ascii(addr).end();
    want.push({ type: R_DECIDE, fields: [seq, 2 ** 31 + i, i, i, 'tunnel', 2, addr] });
    out.begin(R_EVENT, 9).f64(seq).u8(EVENT_CODE['server-fin']).end();
    want.push({ type: R_EVENT, fields: [seq, 'server-fin'] });
    out.begin(R_TRAFFIC, 40).f64(seq).f64(2 ** 45).f64(3).f64(0).f64(1).end();
    want.push({ type: R_TRAFFIC, fields: [seq, 2 ** 45, 3, 0, 1] });
    if (i % 100 === 0) {
      const msg = ['l', { key: `tcp|127.0.0.1|${i}`, protocol: 'tcp', address: '127.0.0.1', port: i }, i, 'é→✓'];
      out.json(msg);
      want.push({ type: R_JSON, fields: msg });
    }
  }
  return want;
}

describe('proxy workers channel', () => {
  const cleanup: (() => void)[] = [];
  afterEach(() => { for (const c of cleanup.splice(0)) c(); });

  /** Both ends of a Unix stream socket (as the worker's fd 4 is). */
  async function pair(): Promise<[Socket, Socket]> {
    const dir = mkdtempSync(join(tmpdir(), 'wasmvs-channel-'));
    const path = join(dir, 's');
    const server: Server = createServer();
    const accepted = new Promise<Socket>((r) => server.once('connection', r));
    await new Promise<void>((r) => server.listen(path, r));
    const a = connect(path);
    const b = await accepted;
    cleanup.push(() => { a.destroy(); b.destroy(); server.close(); rmSync(dir, { recursive: true, force: true }); });
    return [a, b];
  }

  it('records of every kind arrive whole and with their values, in order, across many writes', async () => {
    const [a, b] = await pair();
    const got: Got[] = [];
    const input = new ChannelIn((type, buf, at, len) => got.push(decode(type, buf, at, len)));
    b.on('data', (c: Buffer) => input.feed(c));
    const out = new ChannelOut(a);
    const want: Got[] = [];
    // Several flushes, one far past the initial buffer and a socket chunk, so records straddle reads.
    for (const n of [1, 3, 2000, 7]) { want.push(...writeAll(out, n)); out.flush(); }
    expect(out.empty).toBe(true);
    for (let i = 0; i < 200 && got.length < want.length; i++) await new Promise((r) => setTimeout(r, 10));
    expect(got).toEqual(want);
  });

  it('a record cut at any byte is held until its rest comes', async () => {
    const [a, b] = await pair();
    const chunks: Buffer[] = [];
    let whole = 0;
    const counter = new ChannelIn(() => { whole++; });
    b.on('data', (c: Buffer) => { chunks.push(c); counter.feed(c); });
    const out = new ChannelOut(a);
    const want = writeAll(out, 5);
    out.flush();
    for (let i = 0; i < 200 && whole < want.length; i++) await new Promise((r) => setTimeout(r, 10));
    // The same bytes again, cut into pieces of every size.
    const bytes = Buffer.concat(chunks);
    for (const step of [1, 2, 5, 13, 64]) {
      const got: Got[] = [];
      const input = new ChannelIn((type, buf, at, len) => got.push(decode(type, buf, at, len)));
      for (let i = 0; i < bytes.length; i += step) input.feed(bytes.subarray(i, i + step));
      expect(got).toEqual(want);
    }
  });

  it('a string too long for its length byte is a clear error', async () => {
    const out = new ChannelOut((await pair())[0]);
    expect(() => out.begin(R_ACCEPT, 14).f64(1).u32(1).u16(1).ascii('x'.repeat(256)).end()).toThrow(/string too long \(256\)/);
  });
});
