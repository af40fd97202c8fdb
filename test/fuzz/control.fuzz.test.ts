// Control requests, valid ones mutated and random ones, into the daemon's
// request handler and through a real control socket: no exception, every
// line gets one reply that says ok or why not, a refused change leaves the
// configuration alone, and the socket answers every line or closes cleanly.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server, Socket } from 'node:net';
import { ControlHandler } from '../../daemon/handler.js';
import { replyTo } from '../../daemon/server-core.js';
import { listenControl } from '../../daemon/server.js';
import type { Reply } from '../../ipvsadm/protocol.js';
import { director } from '../helpers.js';
import { open } from '../daemon/socket-client.js';
import { budget, testTimeout } from './budget.js';
import { mutatedText, mutatedValue } from './mutate.js';
import { PagedList } from '../../daemon/reply-stream.js';

const SVC = { protocol: 'tcp', address: '198.18.0.1', port: 80 };
/** Valid requests of every op: the seeds that mutation starts from. */
const VALID: object[] = [
  { id: 1, op: 'hello' }, { id: 2, op: 'list' }, { id: 3, op: 'list', svc: SVC }, { id: 4, op: 'connections' },
  { id: 5, op: 'timeouts' }, { id: 6, op: 'daemons' }, { id: 7, op: 'drains' },
  { id: 8, op: 'drain', svc: SVC, dest: { address: '198.18.1.1', port: 80 }, deadline: 5 },
  { id: 9, op: 'apply', cmds: [{ op: 'add-service', svc: { protocol: 'udp', address: '198.18.0.2', port: 53 }, opts: { scheduler: 'rr' } }] },
  { id: 10, op: 'apply', atomic: true, cmds: [
    { op: 'add-server', svc: SVC, dest: { address: '198.18.1.2', port: 80, weight: 3, method: 'masq' } },
    { op: 'edit-service', svc: SVC, opts: { scheduler: 'sh', persistent: 30, flags: ['sh-port'] } }] },
  { id: 11, op: 'apply', cmds: [{ op: 'delete-server', svc: SVC, dest: { address: '198.18.1.1', port: 80 } }, { op: 'zero' }, { op: 'set', tcp: 10, tcpfin: 5, udp: 3 }] },
  { id: 12, op: 'apply', cmds: [{ op: 'add-service', svc: { fwmark: 7, af: 6 }, opts: { scheduler: 'mh', flags: ['mh-port'] }, pe: 'sip' }] },
  { id: 13, op: 'apply', packed: 'AQYAAAEAEsZQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', count: 1 },
  { id: 14, op: 'apply', cmds: [{ op: 'flush' }, { op: 'start-daemon', state: 'master', syncid: 3 }] },
];

const request = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...VALID).chain((v) => mutatedValue(v)).map((v) => JSON.stringify(v) ?? 'null') },
  { weight: 4, arbitrary: fc.constantFrom(...VALID).chain((v) => mutatedText(JSON.stringify(v))) },
  { weight: 1, arbitrary: fc.json() },
  { weight: 1, arbitrary: fc.string({ maxLength: 64 }) },
);

async function handlerWithConfig(seed: number): Promise<ControlHandler> {
  const h = new ControlHandler(await director(seed), { size: 4096, mode: 'proxy', dataPath: 'none', abiVersion: 0x10000 });
  h.apply([
    { op: 'add-service', svc: SVC as never, opts: { scheduler: 'wlc' } },
    { op: 'add-server', svc: SVC as never, dest: { address: '198.18.1.1', port: 80, weight: 2, method: 'masq' } },
  ], false);
  return h;
}

/** One reply that says ok or why not: an id, ok, and an error with a code and a message. */
function checkReply(line: string, reply: Reply): void {
  expect(typeof reply.id).toBe('number');
  expect(typeof reply.ok).toBe('boolean');
  if (!reply.ok) {
    expect(reply.error.code).toMatch(/^E[A-Z0-9_]+$/);
    expect(reply.error.message.length).toBeGreaterThan(0);
    expect(reply.error.message).not.toMatch(/\bat \S+:\d+|TypeError|RangeError/);
  }
  let v: unknown;
  try { v = JSON.parse(line); } catch { v = undefined; }
  const id = (v as { id?: unknown } | null)?.id;
  if (typeof id === 'number' && Number.isSafeInteger(id)) expect(reply.id).toBe(id);
  // The reply travels as JSON: it must survive a round trip (a paged listing as the array it writes).
  const c = (reply as { connections?: unknown }).connections;
  const plain = c instanceof PagedList ? { ...reply, connections: c.toJSON() } : reply;
  expect(JSON.parse(JSON.stringify(reply))).toEqual(plain);
}

describe('fuzz: control requests into the handler', () => {
  it('every line: one reply, no exception; a refused change changes nothing', async () => {
    const h = await handlerWithConfig(11);
    const hooks = { changed: () => {}, log: () => {} };
    fc.assert(fc.property(request, (line) => {
      const before = h.stateText();
      const reply = replyTo(line, h, hooks);
      checkReply(line, reply);
      const refused = !reply.ok || ('results' in reply && reply.results.every((r) => !r.ok))
        || ('failures' in reply && reply.failures.length === reply.done);
      if (refused) expect(h.stateText()).toBe(before);
    }), budget(0xc0_0001, 3000));
  }, testTimeout());
});

describe('cases the control fuzzing found', () => {
  it('an id JSON cannot carry (1e400 is Infinity) is answered as 0, not as null', async () => {
    const h = await handlerWithConfig(13);
    const reply = replyTo('{"id":1e400,"op":"hello"}', h, { changed: () => {}, log: () => {} });
    expect(JSON.parse(JSON.stringify(reply))).toMatchObject({ id: 0, ok: false });
  });
});

describe('fuzz: control requests through a unix socket', () => {
  let dir: string, path: string, server: Server;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wasmvs-fuzz-ctl-'));
    path = join(dir, 'ctl.sock');
    server = await listenControl(path, await handlerWithConfig(12), { changed: () => {}, log: () => {} },
      { maxLineBytes: 64 * 1024, stallMs: 5000 });
  });
  afterAll(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Send `text`, collect reply lines until `want` arrived or the daemon closed (bounded wait). */
  async function exchange(text: Buffer, want: number): Promise<{ replies: string[]; closed: boolean }> {
    const s: Socket = await open(path);
    s.setEncoding('utf8');
    let buf = '';
    let closed = false;
    s.on('error', () => { /* refused */ });
    try {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 5000);
        const check = () => { if (closed || buf.split('\n').length - 1 >= want) { clearTimeout(t); resolve(); } };
        s.on('data', (d: string) => { buf += d; check(); });
        s.on('close', () => { closed = true; check(); });
        s.write(text);
        check();
      });
    } finally {
      s.destroy();
    }
    return { replies: buf.split('\n').slice(0, -1), closed };
  }

  it('a batch of lines (bytes, newlines and all): one JSON reply per line, or a clean close', async () => {
    // A line around the 64 KiB bound is described by its length (the counterexample stays readable).
    const batch = fc.array(fc.oneof(
      { weight: 8, arbitrary: request },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 48 }) },
      { weight: 1, arbitrary: fc.record({ longLine: fc.integer({ min: 60_000, max: 70_000 }) }) },
    ), { minLength: 1, maxLength: 6 });
    const bytes = (l: string | Uint8Array | { longLine: number }) =>
      typeof l === 'string' ? Buffer.from(l) : l instanceof Uint8Array ? Buffer.from(l) : Buffer.alloc(l.longLine, 0x7b);
    await fc.assert(fc.asyncProperty(batch, async (lines) => {
      const text = Buffer.concat(lines.flatMap((l) => [bytes(l), Buffer.from('\n')]));
      // What the daemon sees as lines: split on every newline byte, blank ones ignored.
      const sent = text.toString('utf8').split('\n').slice(0, -1);
      const want = sent.filter((l) => l.trim() !== '').length;
      const tooLong = sent.findIndex((l) => l.length > 64 * 1024);
      // Past the bound the refusal ends the exchange: wait for the close.
      const { replies, closed } = await exchange(text, tooLong < 0 ? want : Infinity);
      for (const r of replies) {
        const reply = JSON.parse(r) as Reply;
        expect(typeof reply.ok).toBe('boolean');
      }
      if (tooLong < 0) {
        expect(replies).toHaveLength(want);
      } else {
        // Lines before the long one may or may not be answered; the last reply is the refusal and the daemon closes.
        expect(closed).toBe(true);
        expect(replies[replies.length - 1]).toContain('request line too long');
      }
    }), { ...budget(0xc0_0002, 150), timeout: 10_000 });
  }, testTimeout());
});
