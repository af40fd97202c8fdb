// A packed request that applies whole is journaled as the text it arrived in
// (no re-encoding on the way to the acknowledgement), but only when that text
// is the plain base64 the state file's reader accepts: Buffer decodes more
// (whitespace, URL-safe letters), and such a line would not replay.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { ControlHandler } from '../../daemon/handler.js';
import { replyTo, type ServerHooks } from '../../daemon/server-core.js';
import { encodePacked, decodePacked, packedLineWords, PACKED_LINE, PACKED_JOURNAL_MIN } from '../../ipvsadm/packed-wire.js';
import { PackedWriter, PACKED_OPS, P_OP, P_VADDR, P_VPORT, P_SCHED } from '../../sdk/packed.js';
import { layout as L } from '../../sdk/core/abi.gen.js';
import { schedulerId } from '../../sdk/schedulers.js';
import { director } from '../helpers.js';

function services(n: number, dup = -1): Uint32Array {
  const w = new PackedWriter();
  for (let i = 0; i < n; i++) {
    const p = w.next();
    w.words[p + P_OP] = PACKED_OPS['add-service'] | (L.PROTO_TCP << 8);
    w.words[p + P_VADDR] = 0xc6120000 + (i === dup ? 0 : i); w.words[p + P_VPORT] = 80; w.words[p + P_SCHED] = schedulerId('rr')!;
  }
  return w.take();
}

async function send(packed: string, count: number) {
  const h = new ControlHandler(await director(1), { size: 4096, mode: 'proxy', dataPath: 'none', abiVersion: 0x10000 });
  const journals: (string[] | null)[] = [];
  const hooks: ServerHooks = { persist: (j) => { journals.push(j); }, changed: () => {}, log: () => {} };
  const reply = replyTo(JSON.stringify({ id: 1, op: 'apply', packed, count }), h, hooks);
  return { reply, journal: journals[0] ?? [], h };
}

const replayed = (journal: readonly string[] | null) => journal!.map((l) => packedLineWords(l));

describe('compact wire form', () => {
  it('decodes to the words it encoded, for any words (repeats, jumps, wrap-around)', () => {
    const word = fc.oneof(fc.constantFrom(0, 1, 0x7f, 0x80, 0xffffffff, 0x80000000, 0xc6120000), fc.nat({ max: 0xffffffff }));
    fc.assert(fc.property(fc.array(fc.tuple(fc.array(word, { minLength: 9, maxLength: 9 }), fc.nat({ max: 511 })), { maxLength: 60 }), (recs) => {
      // Each record repeats the previous one's words where its bit is clear, as a -R's do.
      const words = new Uint32Array(recs.length * 9);
      recs.forEach(([w, keep], r) => { for (let k = 0; k < 9; k++) words[r * 9 + k] = r > 0 && (keep >> k) & 1 ? words[(r - 1) * 9 + k] : w[k]; });
      expect(decodePacked(encodePacked(words), recs.length)).toEqual(words);
      if (recs.length > 0) expect(decodePacked(encodePacked(words), recs.length - 1)).toBeNull();
    }), { numRuns: 300 });
  });
});

describe('packed journal', () => {
  const n = PACKED_JOURNAL_MIN + 5;
  const words = services(n);

  it('journals the request text itself when every record applied', async () => {
    const wire = encodePacked(words);
    const { reply, journal, h } = await send(wire, n);
    expect(reply).toMatchObject({ ok: true, done: n, failures: [] });
    expect(journal).toEqual([PACKED_LINE + wire]);
    expect(replayed(journal)).toEqual([words]);
    expect(h.director.services().length).toBe(n);
  });

  it('re-encodes text Buffer accepts but the state file would not (line breaks in the base64)', async () => {
    const wire = encodePacked(words);
    const bent = wire.slice(0, 100) + '\n' + wire.slice(100);
    expect(decodePacked(bent)).toEqual(words);
    const { reply, journal } = await send(bent, n);
    expect(reply).toMatchObject({ ok: true, done: n });
    expect(journal!.every((l) => !l.includes('\n'))).toBe(true);
    expect(replayed(journal)).toEqual([words]);
  });

  it('leaves failed records out (no verbatim text)', async () => {
    const withDup = services(n, 7);
    const { reply, journal } = await send(encodePacked(withDup), n);
    expect(reply).toMatchObject({ ok: true, done: n, failures: [{ index: 7 }] });
    const back = replayed(journal)[0]!;
    expect(back.length).toBe(withDup.length - 9);
    expect(back.subarray(7 * 9)).toEqual(withDup.subarray(8 * 9));
  });
});
