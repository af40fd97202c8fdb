// Verdicts held for their real server's rules (hosts/gateway/held.ts), on a
// burst laid out as the core lays it out: which verdicts wait, that the rest
// keep their order, that the held ones are answered as the rules then say
// (the `finish` pass, retarget's place), one message each, and the bounds.
// The queue here is a recorder of what would reach the addon; the namespace
// suite (gw-reconfig-load.test.ts) runs the same code against the kernel.
import { describe, expect, it } from 'vitest';
import { layout as L } from '../../../sdk/core/abi.gen.js';
import { HeldVerdicts, HELD_MAX, HELD_MS, verdictSlot, type VerdictSink } from '../../../hosts/gateway/held.js';
import { packedSpan } from '../../../hosts/gateway/records.js';

interface Sent { ids: number[]; flags: number[]; marks: number[]; payloads: string[]; batch: boolean | undefined }

class Recorder implements VerdictSink {
  sent: Sent[] = [];
  verdicts(records: Uint8Array, count: number, payloads?: Uint8Array, batch?: boolean): number {
    const dv = new DataView(records.buffer, records.byteOffset, records.byteLength);
    const at = (i: number, f: number) => dv.getUint32(i * L.GW_VER_SIZE + f, true);
    const s: Sent = { ids: [], flags: [], marks: [], payloads: [], batch };
    for (let i = 0; i < count; i++) {
      s.ids.push(at(i, L.GW_VER_ID));
      s.flags.push(at(i, L.GW_VER_FLAGS));
      s.marks.push(at(i, L.GW_VER_MARK));
      const off = at(i, L.GW_VER_OFF), len = at(i, L.GW_VER_LEN);
      s.payloads.push(at(i, L.GW_VER_FLAGS) & L.GW_VF_PAYLOAD ? Buffer.from(payloads!.subarray(off, off + len)).toString() : '');
    }
    this.sent.push(s);
    return count;
  }
}

const NAT = L.GW_VF_PAYLOAD | L.GW_VF_NAT_IN;
const dr = (slot: number) => (L.GW_DR_MARK_BASE + slot) >>> 0;

/** A packed burst: records (id, mark 0, the text as the packet), then the list; verdict i = [flags, mark, payload text]. */
function burst(verdicts: Array<[number, number, string]>) {
  const spans = verdicts.map(([, , t]) => packedSpan(t.length));
  const packets = 64, recBytes = spans.reduce((a, b) => a + b, 0), list = packets + recBytes;
  const buf = new ArrayBuffer(list + verdicts.length * L.GW_VER_SIZE);
  const mem = new DataView(buf), bytes = new Uint8Array(buf);
  let rec = 0;
  verdicts.forEach(([flags, mark, text], i) => {
    mem.setUint32(packets + rec + L.GW_REC_ID, 100 + i, true);
    mem.setUint32(packets + rec + L.GW_REC_LEN, text.length, true);
    bytes.set(Buffer.from(text), packets + rec + L.GW_REC_HEADER);
    const v = list + i * L.GW_VER_SIZE;
    mem.setUint32(v + L.GW_VER_ID, 100 + i, true);
    mem.setUint32(v + L.GW_VER_VERDICT, 1, true);
    mem.setUint32(v + L.GW_VER_FLAGS, flags, true);
    mem.setUint32(v + L.GW_VER_MARK, mark, true);
    mem.setUint32(v + L.GW_VER_OFF, flags & L.GW_VF_PAYLOAD ? rec + L.GW_REC_HEADER : 0, true);
    mem.setUint32(v + L.GW_VER_LEN, flags & L.GW_VF_PAYLOAD ? text.length : 0, true);
    rec += spans[i];
  });
  const ids = (n: number) => Array.from({ length: n }, (_, i) => mem.getUint32(list + i * L.GW_VER_SIZE + L.GW_VER_ID, true));
  return { mem, list, packets, ids };
}

describe('gateway: verdicts held for their real server\'s rules', () => {
  it('verdictSlot: a NAT rewrite towards a real server and a DR mark name a slot; replies, fast marks and plain accepts none', () => {
    expect(verdictSlot(NAT, 0x100007)).toBe(7);
    expect(verdictSlot(L.GW_VF_MARK, dr(9))).toBe(9);
    expect(verdictSlot(L.GW_VF_PAYLOAD, 0)).toBe(-1); // a reply's de-NAT, an ICMP error
    expect(verdictSlot(L.GW_VF_MARK, 0x57b00003)).toBe(-1); // a fast NAT mark (retarget's)
    expect(verdictSlot(0, 0)).toBe(-1);
  });

  it('only the verdicts towards a server without rules wait; the rest go in order; the held ones are answered by finish, one message each', () => {
    const q = new Recorder();
    const h = new HeldVerdicts<Recorder>();
    const b = burst([[NAT, 1, 'to-1'], [NAT, 2, 'to-2'], [L.GW_VF_PAYLOAD, 0, 'reply'], [L.GW_VF_MARK, dr(2), ''], [NAT, 1, 'to-1b']]);
    const left = h.take(q, b.mem, b.list, b.packets, 5, L.GW_STRIDE_PACKED, (slot) => slot === 1, 7, 1000);
    expect(left).toBe(3);
    expect(b.ids(3)).toEqual([100, 102, 104]);
    expect(h.size).toBe(2);
    expect(h.held).toBe(2);
    expect(h.holds(q)).toBe(true);
    expect(h.holds(new Recorder())).toBe(false);
    // Not before a round that began after them.
    expect(h.release(() => {}, 7, 1000)).toBe(0);
    const seen: number[] = [];
    const n = h.release((mem, list, packets, count) => {
      // As retarget: the NAT one becomes a mark verdict; the DR one is left as it is.
      for (let i = 0; i < count; i++) {
        const v = list + i * L.GW_VER_SIZE;
        seen.push(mem.getUint32(v + L.GW_VER_ID, true));
        if (mem.getUint32(v + L.GW_VER_FLAGS, true) & L.GW_VF_PAYLOAD) {
          const off = packets + mem.getUint32(v + L.GW_VER_OFF, true);
          expect(Buffer.from(new Uint8Array(mem.buffer, off, mem.getUint32(v + L.GW_VER_LEN, true))).toString()).toBe('to-2');
          mem.setUint32(v + L.GW_VER_FLAGS, L.GW_VF_MARK, true);
          mem.setUint32(v + L.GW_VER_MARK, 0x57b00002, true);
        }
      }
    }, 8, 1000);
    expect(n).toBe(2);
    expect(seen).toEqual([101, 103]);
    expect(q.sent).toEqual([{ ids: [101, 103], flags: [L.GW_VF_MARK, L.GW_VF_MARK], marks: [0x57b00002, dr(2)], payloads: ['', ''], batch: false }]);
    expect(h.size).toBe(0);
    expect(h.holds(q)).toBe(false);
  });

  it('a held payload verdict left as the core wrote it goes out with the bytes the core wrote', () => {
    const q = new Recorder();
    const h = new HeldVerdicts<Recorder>();
    const b = burst([[NAT, 3, 'rewritten-syn']]);
    expect(h.take(q, b.mem, b.list, b.packets, 1, L.GW_STRIDE_PACKED, () => false, 1, 0)).toBe(0);
    // The burst's memory is the core's: the next burst overwrites it.
    new Uint8Array(b.mem.buffer).fill(0);
    h.release(() => {});
    expect(q.sent[0]).toMatchObject({ ids: [100], flags: [NAT], payloads: ['rewritten-syn'], batch: false });
  });

  it('bounded: past HELD_MAX a verdict goes out as the core decided (counted); none waits past HELD_MS', () => {
    const q = new Recorder();
    const h = new HeldVerdicts<Recorder>();
    const many = burst(Array.from({ length: HELD_MAX + 3 }, () => [NAT, 5, 'x'] as [number, number, string]));
    expect(h.take(q, many.mem, many.list, many.packets, HELD_MAX + 3, L.GW_STRIDE_PACKED, () => false, 1, 0)).toBe(3);
    expect(h.overflow).toBe(3);
    expect(h.size).toBe(HELD_MAX);
    expect(h.overdue(HELD_MS)).toBe(false);
    expect(h.overdue(HELD_MS + 1)).toBe(true);
    // Upto 0: no round answers them, only the time bound.
    expect(h.release(() => {}, 0, HELD_MS + 1)).toBe(HELD_MAX);
    expect(q.sent.map((s) => s.ids.length)).toEqual([HELD_MAX]);
  });

  it('fixed-stride records are read at their stride', () => {
    const q = new Recorder();
    const h = new HeldVerdicts<Recorder>();
    const stride = 256;
    const buf = new ArrayBuffer(64 + 2 * stride + 2 * L.GW_VER_SIZE);
    const mem = new DataView(buf);
    const list = 64 + 2 * stride;
    for (let i = 0; i < 2; i++) {
      mem.setUint32(64 + i * stride + L.GW_REC_MARK, 0x57c00000 + i, true);
      mem.setUint32(list + i * L.GW_VER_SIZE + L.GW_VER_ID, 200 + i, true);
      mem.setUint32(list + i * L.GW_VER_SIZE + L.GW_VER_FLAGS, NAT, true);
      mem.setUint32(list + i * L.GW_VER_SIZE + L.GW_VER_MARK, 4, true);
      mem.setUint32(list + i * L.GW_VER_SIZE + L.GW_VER_OFF, i * stride + L.GW_REC_HEADER, true);
      mem.setUint32(list + i * L.GW_VER_SIZE + L.GW_VER_LEN, 1, true);
    }
    expect(h.take(q, mem, list, 64, 2, stride, () => false, 1, 0)).toBe(0);
    const marks: number[] = [];
    h.release((m, l, packets, n) => {
      // The record's own mark (the queue rule's INVALID mark) reaches finish with it.
      for (let i = 0, rec = 0; i < n; i++) {
        marks.push(m.getUint32(packets + rec + L.GW_REC_MARK, true));
        rec += packedSpan(m.getUint32(packets + rec + L.GW_REC_LEN, true));
      }
    });
    expect(marks).toEqual([0x57c00000, 0x57c00001]);
  });
});
