// The TS wrapper around the addon with a fake native class: burst draining,
// record decoding and verdict encoding (the layouts of nfq_socket.h).
import { describe, expect, it } from 'vitest';
import { Queue } from '../../../hosts/gateway/queue.js';
import { packetAt, writeVerdicts, REC, VER, NF, VER_F } from '../../../hosts/gateway/records.js';
import type { NativeQueue, NfQueueOptions, NfQueueStats } from '../../../native/addon.js';

function fakeClass(pending: number[][], sent: Array<{ recs: Uint8Array; n: number }>) {
  return class Fake implements NativeQueue {
    readonly fd = 42;
    constructor(readonly opts: NfQueueOptions) {}
    start(): void {}
    stop(): void {}
    close(): void {}
    stats(): NfQueueStats { return { packets: 0, enobufs: 0, nlErrors: 0, malformed: 0, verdictMsgs: 0, sends: 0 }; }
    read(buf: Uint8Array, stride: number, max: number): number {
      const dv = new DataView(buf.buffer, buf.byteOffset);
      let n = 0;
      while (n < max && pending.length) {
        const bytes = pending.shift()!;
        dv.setUint32(n * stride + REC.ID, 100 + n, true);
        dv.setUint32(n * stride + REC.MARK, 7, true);
        dv.setUint32(n * stride + REC.LEN, bytes.length, true);
        dv.setUint32(n * stride + REC.ORIG_LEN, bytes.length, true);
        dv.setUint8(n * stride + REC.HOOK, 1);
        dv.setUint16(n * stride + REC.HW_PROTO, 0x0800, true);
        buf.set(bytes, n * stride + REC.HEADER);
        n++;
      }
      return n;
    }
    verdicts(recs: Uint8Array, n: number): number {
      sent.push({ recs: recs.slice(0, n * VER.STRIDE), n });
      return n;
    }
  };
}

describe('hosts/gateway Queue: the wrapper around the addon', () => {
  it('drains full bursts, decodes records and passes the handler verdicts through', () => {
    const pending = Array.from({ length: 5 }, (_, i) => [0x45, i, i + 1]);
    const sent: Array<{ recs: Uint8Array; n: number }> = [];
    const q = new Queue({ queue: 1, burst: 2, stride: 64 }, (e) => { throw e; }, fakeClass(pending, sent));
    const seen: number[] = [];
    const total = q.drain((packets, stride, n, verdicts) => {
      const list = [];
      for (let i = 0; i < n; i++) {
        const p = packetAt(packets, stride, i);
        expect(p.mark).toBe(7);
        expect(p.hwProto).toBe(0x0800);
        seen.push(p.payload[1]);
        list.push({ id: p.id, verdict: NF.ACCEPT, mark: i === 0 ? 9 : undefined });
      }
      return { count: writeVerdicts(verdicts, list) };
    });
    expect(total).toBe(5);
    expect(seen).toEqual([0, 1, 2, 3, 4]);
    expect(sent.map((s) => s.n)).toEqual([2, 2, 1]);
    const dv = new DataView(sent[0].recs.buffer);
    expect(dv.getUint32(VER.ID, true)).toBe(100);
    expect(dv.getUint32(VER.FLAGS, true)).toBe(VER_F.MARK);
    expect(dv.getUint32(VER.MARK, true)).toBe(9);
    expect(dv.getUint32(VER.STRIDE + VER.FLAGS, true)).toBe(0);
  });

  it.each([[true, NF.ACCEPT], [false, NF.DROP]])('failOpen %s: a burst the handler throws on still gets verdict %i', (failOpen, verdict) => {
    const sent: Array<{ recs: Uint8Array; n: number }> = [];
    const q = new Queue({ queue: 1, burst: 4, stride: 64, failOpen }, () => {}, fakeClass([[0x45], [0x45], [0x45]], sent));
    expect(() => q.drain(() => { throw new Error('policy bug'); })).toThrow('policy bug');
    expect(sent).toHaveLength(1);
    expect(sent[0].n).toBe(3);
    const dv = new DataView(sent[0].recs.buffer);
    expect([0, 1, 2].map((i) => [dv.getUint32(i * VER.STRIDE + VER.ID, true), dv.getUint32(i * VER.STRIDE + VER.VERDICT, true)]))
      .toEqual([[100, verdict], [101, verdict], [102, verdict]]);
  });

  it('rejects bad burst and stride settings before binding', () => {
    const Fake = fakeClass([], []);
    expect(() => new Queue({ queue: 0, burst: 0 }, () => {}, Fake)).toThrow(RangeError);
    expect(() => new Queue({ queue: 0, stride: 66 }, () => {}, Fake)).toThrow(RangeError);
  });

  it('refuses a verdict list larger than the buffer', () => {
    expect(() => writeVerdicts(new Uint8Array(VER.STRIDE), [{ id: 1, verdict: 1 }, { id: 2, verdict: 1 }])).toThrow(RangeError);
  });
});
