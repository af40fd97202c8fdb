// The addon's netlink parser on crafted bytes (no kernel, no root): a
// well-formed packet message becomes a record; a message from any sender but
// the kernel is dropped and counted; every length that does not fit (the
// datagram, the message, an attribute, a fixed-size attribute's payload) is
// caught before anything is read past it and counted as malformed.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { ADDON, inCI } from '../hosts/gateway/prereq.js';

const built = existsSync(ADDON);
if (!built && !inCI) console.warn(`\n*** SKIPPING addon parser suite: addon not built (${ADDON}); npm run build:native ***\n`);
const suite = describe.skipIf(!built && !inCI);

interface Parsed { count: number; packets: number; malformed: number; foreign: number; nlErrors: number; used: number }
type Parse = (dgram: Uint8Array, senderPid: number, out: Uint8Array, stride: number, max: number) => Parsed;

// Attribute types (linux/netfilter/nfnetlink_queue.h) and the record layout (nfq_socket.h).
const A = { PACKET_HDR: 1, MARK: 3, PAYLOAD: 10, CAP_LEN: 13, SKB_INFO: 14 } as const;
const PACKET = (3 << 8) | 0, NLMSG_ERROR = 2;
const REC = { ID: 0, MARK: 4, LEN: 8, ORIG_LEN: 12, HOOK: 16, FLAGS: 17, HW: 18, HEADER: 20 };
const STRIDE = 128;
const REC_ROOM = 64;

const be32 = (v: number) => Uint8Array.of(v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
/** One attribute: nla_len covers header + payload; padding to 4 follows. `len` overrides nla_len. */
function attr(type: number, payload: Uint8Array, len = 4 + payload.length): Uint8Array {
  const b = new Uint8Array(4 + payload.length + ((4 - (payload.length % 4)) % 4));
  new DataView(b.buffer).setUint16(0, len, true);
  new DataView(b.buffer).setUint16(2, type, true);
  b.set(payload, 4);
  return b;
}
const cat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
};
/** nlmsghdr (host order) + body; `len` overrides nlmsg_len. */
function msg(type: number, body: Uint8Array, len = 16 + body.length): Uint8Array {
  const b = new Uint8Array(16 + body.length + ((4 - (body.length % 4)) % 4));
  const dv = new DataView(b.buffer);
  dv.setUint32(0, len, true);
  dv.setUint16(4, type, true);
  dv.setUint32(8, 1, true);
  b.set(body, 16);
  return b;
}
const nfgen = Uint8Array.of(0, 0, 0, 5);
const pktHdr = (id: number) => cat(be32(id), Uint8Array.of(0x08, 0x00, 0)); // id, hw_protocol 0x0800, hook 0
const payload = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7) & 255);
const goodPacket = (id: number, n = 40) => msg(PACKET, cat(nfgen, attr(A.PACKET_HDR, pktHdr(id)), attr(A.MARK, be32(0x57a00001)),
  attr(A.CAP_LEN, be32(n)), attr(A.SKB_INFO, be32(1)), attr(A.PAYLOAD, payload(n))));

suite('addon netlink parser', () => {
  if (!built) throw new Error(`addon not built in CI: ${ADDON}`);
  const parseDatagram = (createRequire(import.meta.url)(ADDON) as { parseDatagramForTest: Parse }).parseDatagramForTest;
  const out = new Uint8Array(STRIDE * 4);
  const parse = (d: Uint8Array, pid = 0) => { out.fill(0xee); return parseDatagram(d, pid, out, STRIDE, 4); };
  const rec = (i = 0) => new DataView(out.buffer, i * STRIDE, STRIDE);

  it('a packet message from the kernel becomes one record; a payload shorter than the stride is copied whole', () => {
    expect(parse(goodPacket(77))).toEqual({ count: 1, packets: 1, malformed: 0, foreign: 0, nlErrors: 0, used: STRIDE });
    expect(rec().getUint32(REC.ID, true)).toBe(77);
    expect(rec().getUint32(REC.MARK, true)).toBe(0x57a00001);
    expect(rec().getUint32(REC.LEN, true)).toBe(40);
    expect(rec().getUint32(REC.ORIG_LEN, true)).toBe(40);
    expect(rec().getUint8(REC.FLAGS)).toBe(2); // CSUM_PARTIAL from SKB_INFO
    expect(rec().getUint16(REC.HW, true)).toBe(0x0800);
    expect([...out.subarray(REC.HEADER, REC.HEADER + 40)]).toEqual([...payload(40)]);
    expect(out[REC.HEADER + 40]).toBe(0xee); // nothing written past the payload
  });

  it('a payload longer than the record is cut to the stride and flagged truncated', () => {
    expect(parse(goodPacket(1, 300)).count).toBe(1);
    expect(rec().getUint32(REC.LEN, true)).toBe(STRIDE - REC.HEADER);
    expect(rec().getUint8(REC.FLAGS) & 1).toBe(1);
    expect(out[STRIDE]).toBe(0xee);
  });

  it('two messages in one datagram: both parsed; the record limit is kept', () => {
    expect(parse(cat(goodPacket(1), goodPacket(2)))).toMatchObject({ count: 2, packets: 2 });
    expect(rec(1).getUint32(REC.ID, true)).toBe(2);
    expect(parseDatagram(cat(goodPacket(1), goodPacket(2)), 0, out, STRIDE, 1)).toMatchObject({ count: 1, malformed: 1 });
  });

  it('a message from another socket (sender port id not 0) is dropped whole and counted', () => {
    expect(parse(goodPacket(9), 4242)).toEqual({ count: 0, packets: 0, malformed: 0, foreign: 1, nlErrors: 0, used: 0 });
    expect(out[0]).toBe(0xee);
  });

  const malformed: Array<[string, Uint8Array]> = [
    ['message shorter than its nfgenmsg', msg(PACKET, Uint8Array.of(0, 0), 18)],
    ['no packet header', msg(PACKET, cat(nfgen, attr(A.PAYLOAD, payload(8))))],
    ['packet header shorter than nfqnl_msg_packet_hdr', msg(PACKET, cat(nfgen, attr(A.PACKET_HDR, be32(5))))],
    ['mark of 2 bytes', msg(PACKET, cat(nfgen, attr(A.PACKET_HDR, pktHdr(1)), attr(A.MARK, Uint8Array.of(1, 2))))],
    ['mark of 8 bytes', msg(PACKET, cat(nfgen, attr(A.PACKET_HDR, pktHdr(1)), attr(A.MARK, cat(be32(1), be32(2)))))],
    ['cap_len of 0 bytes', msg(PACKET, cat(nfgen, attr(A.PACKET_HDR, pktHdr(1)), attr(A.CAP_LEN, new Uint8Array(0))))],
    ['skb_info of 3 bytes', msg(PACKET, cat(nfgen, attr(A.PACKET_HDR, pktHdr(1)), attr(A.SKB_INFO, Uint8Array.of(0, 0, 1))))],
    ['payload attribute longer than the message', msg(PACKET, cat(nfgen, attr(A.PACKET_HDR, pktHdr(1)), attr(A.PAYLOAD, payload(8), 4000)))],
    ['attribute length under its header, after a good packet header', msg(PACKET, cat(nfgen, attr(A.PACKET_HDR, pktHdr(1)), attr(A.PAYLOAD, payload(8), 2)))],
    ['stray bytes after the last attribute', msg(PACKET, cat(nfgen, attr(A.PACKET_HDR, pktHdr(1)), Uint8Array.of(9, 0)))],
    ['payload attribute reaching into the message padding', msg(PACKET, cat(nfgen, attr(A.PACKET_HDR, pktHdr(1)), attr(A.PAYLOAD, payload(3), 8)), 16 + 4 + 12 + 7)],
    ['error message shorter than nlmsgerr', msg(NLMSG_ERROR, Uint8Array.of(0xff, 0xff), 18)],
  ];
  it.each(malformed)('%s: no record, counted malformed, nothing written', (_, bytes) => {
    expect(parse(bytes)).toEqual({ count: 0, packets: 0, malformed: 1, foreign: 0, nlErrors: 0, used: 0 });
    expect(out.every((b) => b === 0xee)).toBe(true);
  });

  it('a message longer than the datagram, or a header cut short, ends the datagram without a read past it', () => {
    const whole = goodPacket(3);
    expect(parse(whole.subarray(0, whole.length - 8))).toEqual({ count: 0, packets: 0, malformed: 0, foreign: 0, nlErrors: 0, used: 0 });
    expect(parse(whole.subarray(0, 10)).count).toBe(0);
    expect(parse(msg(PACKET, cat(nfgen, attr(A.PACKET_HDR, pktHdr(1))), 8)).count).toBe(0); // nlmsg_len under the header
    // A bad message does not hide the good one after it.
    expect(parse(cat(msg(PACKET, cat(nfgen, attr(A.MARK, Uint8Array.of(1)))), goodPacket(4)))).toMatchObject({ count: 1, malformed: 1 });
  });

  // Packed records (stride 0): each record is its payload rounded up to 4 plus REC_ROOM bytes, the next follows.
  const span = (n: number) => REC.HEADER + ((n + 3) & ~3) + REC_ROOM;
  it('packed records: a 65,531-byte payload (the most NFQUEUE copies) is stored whole, the next record follows it', () => {
    const big = new Uint8Array(span(65531) + span(40) + 8).fill(0xee);
    const r = parseDatagram(cat(goodPacket(5, 65531), goodPacket(6, 40)), 0, big, 0, 8);
    expect(r).toMatchObject({ count: 2, packets: 2, malformed: 0, used: span(65531) + span(40) });
    const dv = new DataView(big.buffer);
    expect(dv.getUint32(REC.LEN, true)).toBe(65531);
    expect(dv.getUint8(REC.FLAGS) & 1).toBe(0);
    expect(big.subarray(REC.HEADER, REC.HEADER + 65531)).toEqual(payload(65531));
    expect(dv.getUint32(span(65531) + REC.ID, true)).toBe(6);
    expect(dv.getUint32(span(65531) + REC.LEN, true)).toBe(40);
    expect(big[span(65531) + span(40)]).toBe(0xee);
    // Without room for the whole payload the record is cut to what fits and flagged truncated.
    const small = new Uint8Array(span(1000)).fill(0xee);
    expect(parseDatagram(goodPacket(7, 2000), 0, small, 0, 8)).toMatchObject({ count: 1, used: span(1000) });
    expect(new DataView(small.buffer).getUint32(REC.LEN, true)).toBe(1000);
    expect(new DataView(small.buffer).getUint32(REC.ORIG_LEN, true)).toBe(2000);
    expect(small[REC.FLAGS] & 1).toBe(1);
    // No room even for a header: no record, nothing written.
    const none = new Uint8Array(REC.HEADER + REC_ROOM - 4).fill(0xee);
    expect(parseDatagram(goodPacket(8, 40), 0, none, 0, 8)).toMatchObject({ count: 0, used: 0 });
    expect(none.every((b) => b === 0xee)).toBe(true);
  });

  it('an error message with a whole nlmsgerr is counted as an error', () => {
    expect(parse(msg(NLMSG_ERROR, cat(Uint8Array.of(0xfe, 0xff, 0xff, 0xff), new Uint8Array(16))))).toMatchObject({ count: 0, nlErrors: 1, malformed: 0 });
  });
});
