// The addon's ctnetlink parser (native/src/ct_socket.cc) on crafted
// conntrack messages, no kernel involved: a full IPv4 entry becomes one
// record with every field where ctfeed.ts reads it, and so does an IPv6 one
// (its addresses as the core's four words each); entries of other marks,
// entries without an original tuple, an IPv6 address attribute shorter than
// 16 bytes and attributes that lie about their length give no record and no crash.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { ADDON, inCI } from '../hosts/gateway/prereq.js';
import { CT } from '../../hosts/gateway/ctfeed.js';
import { FAST_MARK_BASE, FAST_MARK_MASK } from '../../hosts/gateway/fastpath.js';

const built = existsSync(ADDON);
if (!built && !inCI) console.warn(`\n*** SKIPPING conntrack parser suite: addon not built (${ADDON}); npm run build:native ***\n`);
const suite = describe.skipIf(!built && !inCI);

type ParseCt = (bytes: Uint8Array, mark: number, mask: number) => Uint8Array;
import { A, CT_DELETE, CT_NEW, NESTED, NLM_F_CREATE, NLM_F_EXCL, attr, be32, be64, cat, ip, msg, nest, tuple, words6 } from './ct-msg.js';

const entry = (o: { type?: number; flags?: number; mark?: number; v6?: boolean; short6?: boolean; noOrig?: boolean } = {}) => msg(o.type ?? CT_NEW, o.flags ?? 0,
  ...(o.noOrig ? [] : [tuple(A.TUPLE_ORIG, '198.18.40.2', '198.18.42.1', 40000, 8080, o.v6, o.short6)]),
  tuple(A.TUPLE_REPLY, '198.18.41.3', '198.18.40.2', 8080, 40000, o.v6),
  attr(A.STATUS, be32(0x18e)), attr(A.TIMEOUT, be32(117)), attr(A.MARK, be32(o.mark ?? FAST_MARK_BASE + 5)),
  nest(A.COUNTERS_ORIG, attr(1, be64(11)), attr(2, be64(4242))), nest(A.COUNTERS_REPLY, attr(1, be64(9)), attr(2, be64(9000))),
  attr(A.ID, be32(77)),
  nest(A.PROTOINFO, nest(1, attr(1, Uint8Array.of(7)), attr(4, Uint8Array.of(0x04, 0x04)), attr(5, Uint8Array.of(0x00, 0x04)))));

suite('ctnetlink parser (ct_socket.cc) on crafted messages', () => {
  const parse = () => (createRequire(import.meta.url)(ADDON) as { parseCtForTest: ParseCt }).parseCtForTest;

  it('a full IPv4 entry: one record, every field in place; the message kind from type and flags', () => {
    const out = parse()(entry({ flags: NLM_F_CREATE | NLM_F_EXCL }), FAST_MARK_BASE, FAST_MARK_MASK);
    expect(out.length).toBe(CT.SIZE);
    const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
    expect({
      kind: v.getUint8(CT.KIND), proto: v.getUint8(CT.PROTO), state: v.getUint8(CT.STATE), close: v.getUint8(CT.CLOSE),
      mark: v.getUint32(CT.MARK, true), id: v.getUint32(CT.ID, true), status: v.getUint32(12, true), timeout: v.getUint32(16, true),
      osrc: v.getUint32(CT.OSRC, true), odst: v.getUint32(CT.ODST, true), osport: v.getUint16(CT.OSPORT, true), odport: v.getUint16(CT.ODPORT, true),
      rsrc: v.getUint32(CT.RSRC, true), rsport: v.getUint16(CT.RSPORT, true),
      op: v.getFloat64(CT.OPKTS, true), ob: v.getFloat64(CT.OBYTES, true), rp: v.getFloat64(CT.RPKTS, true), rb: v.getFloat64(CT.RBYTES, true),
    }).toEqual({
      kind: CT.KIND_NEW, proto: 6, state: 7, close: 1, mark: FAST_MARK_BASE + 5, id: 77, status: 0x18e, timeout: 117,
      osrc: ip('198.18.40.2'), odst: ip('198.18.42.1'), osport: 40000, odport: 8080, rsrc: ip('198.18.41.3'), rsport: 8080,
      op: 11, ob: 4242, rp: 9, rb: 9000,
    });
    expect(parse()(entry(), FAST_MARK_BASE, FAST_MARK_MASK)[CT.KIND]).toBe(CT.KIND_UPDATE);
    expect(parse()(entry({ type: CT_DELETE }), FAST_MARK_BASE, FAST_MARK_MASK)[CT.KIND]).toBe(CT.KIND_DESTROY);
    // Two messages in one datagram: two records.
    expect(parse()(cat(entry(), entry({ type: CT_DELETE })), FAST_MARK_BASE, FAST_MARK_MASK).length).toBe(2 * CT.SIZE);
    expect(out[CT.FAMILY]).toBe(4);
    for (const at of [CT.OSRC6, CT.ODST6, CT.RSRC6, CT.RDST6]) expect([...out.subarray(at, at + 16)]).toEqual(new Array(16).fill(0));
  });

  it('a full IPv6 entry: one record, family 6, the addresses as four words each, the rest as for IPv4', () => {
    const out = parse()(entry({ v6: true }), FAST_MARK_BASE, FAST_MARK_MASK);
    expect(out.length).toBe(CT.SIZE);
    const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
    const w = (at: number) => [0, 4, 8, 12].map((k) => v.getUint32(at + k, true));
    expect({
      family: v.getUint8(CT.FAMILY), kind: v.getUint8(CT.KIND), proto: v.getUint8(CT.PROTO), state: v.getUint8(CT.STATE), mark: v.getUint32(CT.MARK, true),
      osrc: v.getUint32(CT.OSRC, true), odst: v.getUint32(CT.ODST, true), osport: v.getUint16(CT.OSPORT, true), odport: v.getUint16(CT.ODPORT, true),
      osrc6: w(CT.OSRC6), odst6: w(CT.ODST6), rsrc6: w(CT.RSRC6), rdst6: w(CT.RDST6), rsport: v.getUint16(CT.RSPORT, true),
      op: v.getFloat64(CT.OPKTS, true), rb: v.getFloat64(CT.RBYTES, true),
    }).toEqual({
      family: 6, kind: CT.KIND_UPDATE, proto: 6, state: 7, mark: FAST_MARK_BASE + 5, osrc: 0, odst: 0, osport: 40000, odport: 8080,
      osrc6: words6('2001:2:0:40::2'), odst6: words6('2001:2:0:42::1'), rsrc6: words6('2001:2:0:41::3'), rdst6: words6('2001:2:0:40::2'), rsport: 8080,
      op: 11, rb: 9000,
    });
    expect(words6('2001:2:0:42::1')).toEqual([0x20010002, 0x00000042, 0, 1]);
  });

  it('other marks, IPv6, no original tuple, lying lengths: no record, no crash', () => {
    expect(parse()(entry({ mark: 0x57a00005 }), FAST_MARK_BASE, FAST_MARK_MASK).length).toBe(0);
    expect(parse()(entry({ mark: 0 }), FAST_MARK_BASE, FAST_MARK_MASK).length).toBe(0);
    expect(parse()(entry({ v6: true, short6: true }), FAST_MARK_BASE, FAST_MARK_MASK).length).toBe(0);
    expect(parse()(entry({ v6: true, mark: 0 }), FAST_MARK_BASE, FAST_MARK_MASK).length).toBe(0);
    expect(parse()(entry({ noOrig: true }), FAST_MARK_BASE, FAST_MARK_MASK).length).toBe(0);
    // An attribute claiming more bytes than the message holds; a message cut anywhere.
    const bad = msg(CT_NEW, 0, attr(A.TUPLE_ORIG | NESTED, new Uint8Array(8), 400));
    expect(parse()(bad, FAST_MARK_BASE, FAST_MARK_MASK).length).toBe(0);
    const whole = entry();
    for (let cut = 0; cut < whole.length; cut += 3) {
      const b = whole.slice(0, cut);
      expect(parse()(b, FAST_MARK_BASE, FAST_MARK_MASK).length).toBeLessThanOrEqual(CT.SIZE);
    }
    // Zero-length numbers: read as 0, never past the attribute.
    const empty = msg(CT_NEW, 0, nest(A.TUPLE_ORIG, nest(1, attr(1, be32(1)), attr(2, be32(2))), nest(2, attr(1, new Uint8Array(0)))),
      attr(A.MARK, be32(FAST_MARK_BASE)), nest(A.PROTOINFO, nest(1, attr(1, new Uint8Array(0)))));
    const r = parse()(empty, FAST_MARK_BASE, FAST_MARK_MASK);
    expect(r.length).toBe(CT.SIZE);
    expect([r[CT.PROTO], r[CT.STATE]]).toEqual([0, 0]);
  });
});
