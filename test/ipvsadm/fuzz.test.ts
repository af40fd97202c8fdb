// Random argv never crashes wasmvsadm, exits with one of ipvsadm's codes,
// and a rejected command never changes the configuration. Hostile control
// requests get error replies and leave the configuration alone.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { cli } from './harness.js';
import { replyTo } from '../../daemon/server-core.js';
import { encodePacked } from '../../ipvsadm/packed-wire.js';
import { PACKED_WORDS } from '../../sdk/packed.js';
import type { Reply } from '../../ipvsadm/protocol.js';

const WORDS = ['-A', '-E', '-D', '-C', '-R', '-S', '-a', '-e', '-d', '-L', '-l', '-Z', '--set', '-t', '-u', '--sctp-service',
  '-f', '-6', '-s', '-p', '-M', '-b', '-o', '-r', '-g', '-i', '-m', '-w', '-x', '-y', '-n', '-c', '--timeout', '--daemon',
  '--stats', '--rate', '--thresholds', '--persistent-conn', '--tun-info', '--exact', '--sort', '--nosort', '--tun-type',
  '--tun-port', '--tun-nocsum', '--tun-csum', '--tun-remcsum', '--pe', '--syncid', '--json', '--atomic', '-Ln', '-At',
  '198.18.0.1:80', '198.18.0.1', '198.18.1.1:8080', '[2001:db8::1]:80', '2001:db8::2', '1', '0', '80', '65536', 'rr', 'wlc',
  'sh', 'sh-port', 'flag-1', 'gue', 'gre', 'ipip', '255.255.255.0', '-', '--', '--socket', 'x', '', ' ', '-9', '4294967296'];

const argv = fc.array(fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...WORDS) }, { weight: 1, arbitrary: fc.string({ maxLength: 12 }) }), { maxLength: 10 });

describe('fuzzing', () => {
  it('random argv: known exit codes, state unchanged unless exit 0', async () => {
    const c = await cli(3);
    await c.run('-A -t 198.18.0.1:80 -s rr');
    await c.run('-a -t 198.18.0.1:80 -r 198.18.1.1 -m');
    await fc.assert(fc.asyncProperty(argv, async (words) => {
      const before = c.handler.stateText();
      const r = await c.run(words);
      expect([0, 1, 2, 255]).toContain(r.code);
      if (r.code !== 0) {
        expect(r.err).not.toBe('');
        expect(c.handler.stateText()).toBe(before);
      }
    }), { numRuns: 400 });
  });

  it('hostile requests: an error reply, no exception, no change', async () => {
    const c = await cli(4);
    await c.run('-A -t 198.18.0.1:80 -s rr');
    const hooks = { changed: () => {}, log: () => {} };
    const cmdArb = fc.record({
      op: fc.constantFrom('add-service', 'edit-service', 'delete-service', 'add-server', 'edit-server', 'delete-server', 'zero', 'set', 'nope'),
      svc: fc.oneof(fc.anything(), fc.record({ protocol: fc.anything(), address: fc.anything(), port: fc.anything() }), fc.record({ fwmark: fc.anything(), af: fc.anything() })),
      opts: fc.oneof(fc.anything(), fc.record({ scheduler: fc.anything(), persistent: fc.anything(), netmask: fc.anything(), flags: fc.anything() })),
      dest: fc.oneof(fc.anything(), fc.record({ address: fc.anything(), port: fc.anything(), weight: fc.anything(), method: fc.anything(), tunnel: fc.anything() })),
      tcp: fc.anything(),
    }, { requiredKeys: ['op'] });
    const reqArb = fc.oneof(
      fc.string(),
      fc.json(),
      fc.record({ id: fc.anything(), op: fc.anything() }).map((o) => JSON.stringify(o)),
      fc.record({ id: fc.integer(), op: fc.constant('apply'), cmds: fc.array(cmdArb, { maxLength: 3 }), atomic: fc.boolean() }).map((o) => JSON.stringify(o)),
      fc.record({ id: fc.integer(), op: fc.constant('list'), svc: fc.anything() }).map((o) => JSON.stringify(o)),
    );
    await fc.assert(fc.property(reqArb, (line) => {
      const before = c.handler.stateText();
      const reply = replyTo(line, c.handler, hooks);
      expect(typeof reply.ok).toBe('boolean');
      const failed = !reply.ok || ('results' in reply && reply.results.every((r) => !r.ok));
      if (failed) expect(c.handler.stateText()).toBe(before);
    }), { numRuns: 1500 });
  });
});

describe('hostile packed requests', () => {
  it('an error reply or per-record failures, never an exception, no change when all fail', async () => {
    const c = await cli(5);
    await c.run('-A -t 198.18.0.1:80 -s rr');
    const hooks = { changed: () => {}, log: () => {} };
    const record = fc.array(fc.oneof(fc.nat({ max: 0xffffffff }), fc.nat({ max: 140 }), fc.constantFrom(0x601, 0x604, 0x30604, 0x1106, 80, 0xc6120001, 0xc6130001)), { minLength: PACKED_WORDS, maxLength: PACKED_WORDS });
    const reqArb = fc.oneof(
      fc.tuple(fc.array(record, { maxLength: 6 }), fc.integer({ min: -1, max: 8 }), fc.boolean()).map(([recs, extra, atomic]) => {
        const words = Uint32Array.from(recs.flat());
        return JSON.stringify({ id: 1, op: 'apply', packed: encodePacked(words), count: extra < 0 ? recs.length : extra, atomic });
      }),
      fc.record({ id: fc.integer(), op: fc.constant('apply'), packed: fc.anything(), count: fc.anything() }).map((o) => JSON.stringify(o)),
      fc.string().map((s) => JSON.stringify({ id: 2, op: 'apply', packed: s, count: 1 })),
    );
    await fc.assert(fc.property(reqArb, (line) => {
      const before = c.handler.stateText();
      const reply = replyTo(line, c.handler, hooks) as Reply & { done?: number; failures?: unknown[] };
      expect(typeof reply.ok).toBe('boolean');
      if (!reply.ok || (reply.failures && reply.failures.length === reply.done)) expect(c.handler.stateText()).toBe(before);
    }), { numRuns: 1500 });
  });
});
