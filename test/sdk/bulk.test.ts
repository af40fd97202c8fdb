// Director.applyPacked (cfgBatch under it) against the one-call-per-command
// API: same failures, same errors, same resulting tables, across the core's
// BULK_MAX chunk boundaries and with records that fail in JS or in the core.
import { describe, it, expect } from 'vitest';
import { director } from '../helpers.js';
import { PackedWriter, packedToCmd, PACKED_WORDS, P_OP, P_VADDR, P_VPORT, P_SCHED, P_RADDR, P_RPORT, P_WEIGHT, P_U, P_L, PACKED_OPS } from '../../sdk/packed.js';
import { layout as L } from '../../sdk/core/abi.gen.js';
import { schedulerId } from '../../sdk/schedulers.js';
import type { Director } from '../../sdk/director.js';
import type { ServiceKey } from '../../sdk/types.js';

const VBASE = 0xc6120000, RBASE = 0xc6130000;

/** 1,500 services × 6 dests with failures sprinkled in: ≈ 10,500 records (three core chunks). */
function records(): PackedWriter {
  const w = new PackedWriter();
  const put = (op: number, s: number, d: number, weight = 1, u = 0, l = 0) => {
    const p = w.next();
    w.words[p + P_OP] = op | (L.PROTO_TCP << 8) | (L.METHOD_MASQ << 16);
    w.words[p + P_VADDR] = VBASE + s; w.words[p + P_VPORT] = 80; w.words[p + P_SCHED] = schedulerId('wrr')!;
    w.words[p + P_RADDR] = RBASE + d; w.words[p + P_RPORT] = 8080;
    w.words[p + P_WEIGHT] = weight; w.words[p + P_U] = u; w.words[p + P_L] = l;
  };
  for (let s = 0; s < 1500; s++) {
    put(PACKED_OPS['add-service'], s, 0);
    for (let d = 0; d < 6; d++) put(PACKED_OPS['add-server'], s, d, 1 + d);
    const i = w.count;
    if (s % 97 === 0) put(PACKED_OPS['add-service'], s, 0); // exists (core)
    if (s % 89 === 0) put(PACKED_OPS['add-server'], s, 0, 70000); // bad weight (JS)
    if (s % 83 === 0) put(PACKED_OPS['add-server'], s + 100000, 0); // no such service (core)
    if (s % 79 === 0) put(PACKED_OPS['add-server'], s, 9, 1, 5, 9); // l > u (JS)
    if (s % 73 === 0) put(PACKED_OPS['edit-server'], s, 3, 0);
    if (s % 71 === 0) put(PACKED_OPS['delete-server'], s, 4);
    if (s % 67 === 0 && s > 0) put(PACKED_OPS['delete-service'], s - 1, 0);
    if (s % 61 === 0) {
      // The core keeps the service a run of dest records names: a service
      // op between them must end that, even when a new service takes the
      // deleted one's id and memory at once.
      put(PACKED_OPS['delete-service'], s, 0);
      put(PACKED_OPS['add-service'], s + 200000, 0);
      put(PACKED_OPS['add-server'], s, 1); // no such service (core)
      put(PACKED_OPS['add-service'], s, 0);
      put(PACKED_OPS['add-server'], s, 2, 3);
      put(PACKED_OPS['add-server'], s + 200000, 7, 2); // another service, then back
      put(PACKED_OPS['delete-server'], s, 2);
    }
    if (i === w.count && s % 5 === 0) put(PACKED_OPS['edit-service'], s, 0);
  }
  return w;
}

function snapshot(d: Director): unknown {
  return d.services().map((s) => {
    const key: ServiceKey = { protocol: s.protocol!, address: s.address!, port: s.port };
    return [s.address, s.scheduler, d.dests(key).map((x) => [x.address, x.port, x.weight, x.method, x.uThreshold, x.lThreshold])];
  });
}

/** The reference: each record as its ConfigCmd through the per-command API (a batch of one each). */
function oneByOne(d: Director, words: Uint32Array, count: number, stop: boolean): { index: number; message: string }[] {
  const out: { index: number; message: string }[] = [];
  for (let i = 0; i < count; i++) {
    const c = packedToCmd(words, i);
    try {
      if (c.op === 'add-service') d.addService(c.svc, c.opts);
      else if (c.op === 'edit-service') d.editService(c.svc, c.opts);
      else if (c.op === 'delete-service') d.deleteService(c.svc);
      else if (c.op === 'delete-server') d.deleteDest(c.svc, c.dest!);
      else if (c.op === 'add-server') d.addDest(c.svc, c.dest!);
      else d.editDest(c.svc, c.dest!);
    } catch (e) {
      out.push({ index: i, message: (e as Error).message });
      if (stop) break;
    }
  }
  return out;
}

describe('Director.applyPacked', () => {
  it('matches one call per command across chunk boundaries', async () => {
    const w = records();
    expect(w.count).toBeGreaterThan(2 * L.BULK_MAX);
    const words = w.take();
    const count = words.length / PACKED_WORDS;
    const a = await director(1), b = await director(1);
    const r = a.applyPacked(words, count, false);
    const ref = oneByOne(b, words, count, false);
    expect(r.done).toBe(count);
    expect(r.failures.map((f) => ({ index: f.index, message: f.error.message }))).toEqual(ref);
    expect(ref.length).toBeGreaterThan(60);
    expect(snapshot(a)).toEqual(snapshot(b));
  });

  it('stopOnError stops at the first failure, whether JS or the core finds it', async () => {
    const words = records().take();
    for (const cut of [L.BULK_MAX - 1, L.BULK_MAX, L.BULK_MAX + 1, 5000]) {
      const count = cut + 1;
      const part = words.slice(0, count * PACKED_WORDS);
      // Make the last record fail in the core (a duplicate of record 0, an add-service).
      part.copyWithin((count - 1) * PACKED_WORDS, 0, PACKED_WORDS);
      const a = await director(1), b = await director(1);
      const r = a.applyPacked(part, count, true);
      const ref = oneByOne(b, part, count, true);
      expect(r.failures.map((f) => ({ index: f.index, message: f.error.message }))).toEqual(ref.slice(0, 1));
      expect(r.done).toBe(ref[0].index + 1);
    }
  });

  it('refuses a count larger than the records', async () => {
    const d = await director(1);
    expect(() => d.applyPacked(new Uint32Array(PACKED_WORDS), 2, false)).toThrow();
  });
});

describe('one pipeline: a command and its packed record', () => {
  // Each bad record alone, packed and as the command it stands for: the same
  // error from the same validator (checkRecord), never a second opinion.
  const bad: [string, (w: Uint32Array, p: number) => void][] = [
    ['weight 70000', (w, p) => { w[p + P_WEIGHT] = 70000; }],
    ['weight 70000 on a missing service', (w, p) => { w[p + P_WEIGHT] = 70000; w[p + P_VADDR] = VBASE + 999; }],
    ['u_threshold 2^31', (w, p) => { w[p + P_U] = 2 ** 31; w[p + P_L] = 0; }],
    ['l_threshold 2^31 over u', (w, p) => { w[p + P_U] = 5; w[p + P_L] = 2 ** 31; }],
    ['l > u', (w, p) => { w[p + P_U] = 5; w[p + P_L] = 6; }],
    ['missing service', (w, p) => { w[p + P_VADDR] = VBASE + 999; }],
    ['existing dest', () => {}],
  ];
  // Spoiled on the service record: packed and as commands, the same errors.
  const badService: [string, (w: Uint32Array, p: number) => void][] = [
    ['unknown scheduler id', (w, p) => { w[p + P_SCHED] = 250; }],
    ['port 0 without persistence', (w, p) => { w[p + P_VPORT] = 0; }],
    ['port 65536', (w, p) => { w[p + P_VPORT] = 65536; }],
  ];
  for (const [name, spoil] of badService) {
    it(`service: ${name}`, async () => {
      const w = new PackedWriter();
      for (const op of ['add-service', 'edit-service', 'add-service'] as const) {
        const s = w.next();
        w.words[s + P_OP] = PACKED_OPS[op] | (L.PROTO_TCP << 8);
        w.words[s + P_VADDR] = VBASE; w.words[s + P_VPORT] = 80; w.words[s + P_SCHED] = schedulerId('wlc')!;
        if (op === 'edit-service') spoil(w.words, s);
      }
      const words = w.take();
      const a = await director(1), b = await director(1);
      const packed = a.applyPacked(words, 3, false).failures.map((f) => ({ index: f.index, message: f.error.message }));
      expect(packed.map((f) => f.index)).toEqual([1, 2]);
      expect(packed).toEqual(oneByOne(b, words, 3, false));
    });
  }
  for (const [name, spoil] of bad) {
    it(name, async () => {
      const w = new PackedWriter();
      const s = w.next();
      w.words[s + P_OP] = PACKED_OPS['add-service'] | (L.PROTO_TCP << 8);
      w.words[s + P_VADDR] = VBASE; w.words[s + P_VPORT] = 80; w.words[s + P_SCHED] = schedulerId('wlc')!;
      for (let k = 0; k < 2; k++) {
        const p = w.next();
        w.words[p + P_OP] = PACKED_OPS['add-server'] | (L.PROTO_TCP << 8) | (L.METHOD_MASQ << 16);
        w.words[p + P_VADDR] = VBASE; w.words[p + P_VPORT] = 80;
        w.words[p + P_RADDR] = RBASE; w.words[p + P_RPORT] = 8080; w.words[p + P_WEIGHT] = 1;
        if (k === 1) spoil(w.words, p);
      }
      const words = w.take();
      const a = await director(1), b = await director(1);
      const packed = a.applyPacked(words, 3, false).failures.map((f) => ({ index: f.index, code: f.error.code, message: f.error.message }));
      const single = oneByOne(b, words, 3, false);
      expect(packed).toHaveLength(1);
      expect(packed.map(({ index, message }) => ({ index, message }))).toEqual(single);
      expect(snapshot(a)).toEqual(snapshot(b));
    });
  }
});
