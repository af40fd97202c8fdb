// Packet and verdict records exchanged with the addon; the layouts mirror
// native/src/nfq_socket.h (little-endian, fixed stride or packed).
export const REC = { ID: 0, MARK: 4, LEN: 8, ORIG_LEN: 12, HOOK: 16, FLAGS: 17, HW_PROTO: 18, HEADER: 20 } as const;
export const REC_F = { TRUNCATED: 1, CSUM_PARTIAL: 2, GSO: 4 } as const;
/** Stride 0: packed records, each REC.HEADER + its length rounded up to 4 + REC_ROOM bytes. */
export const STRIDE_PACKED = 0;
export const REC_ROOM = 64;
/** Bytes one packed record of a `len`-byte packet takes. */
export const packedSpan = (len: number): number => REC.HEADER + ((len + 3) & ~3) + REC_ROOM;
export const VER = { ID: 0, VERDICT: 4, FLAGS: 8, MARK: 12, PAYLOAD_OFF: 16, PAYLOAD_LEN: 20, STRIDE: 24 } as const;
export const VER_F = { MARK: 1, PAYLOAD: 2 } as const;
/** Netfilter verdicts (linux/netfilter.h). */
export const NF = { DROP: 0, ACCEPT: 1, STOLEN: 2, QUEUE: 3, REPEAT: 4 } as const;

export interface PacketView {
  id: number; mark: number; hook: number; flags: number; hwProto: number; origLen: number;
  /** The stored bytes (a view into the burst buffer, valid until the next read). */
  payload: Uint8Array;
}

/** Byte offsets of the first `n` records of a burst buffer, `stride` apart or packed. */
export function recordOffsets(buf: Uint8Array, stride: number, n: number): number[] {
  const out: number[] = [];
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let i = 0, at = 0; i < n; i++) {
    out.push(stride === STRIDE_PACKED ? at : i * stride);
    if (stride === STRIDE_PACKED) at += packedSpan(dv.getUint32(at + REC.LEN, true));
  }
  return out;
}

/** Reads record `i` of a burst buffer (fixed stride), or the record at byte `at` (packed: pass stride 0 and the offset). */
export function packetAt(buf: Uint8Array, stride: number, i: number, at = i * stride): PacketView {
  const dv = new DataView(buf.buffer, buf.byteOffset + at, buf.byteLength - at);
  const len = dv.getUint32(REC.LEN, true);
  return {
    id: dv.getUint32(REC.ID, true),
    mark: dv.getUint32(REC.MARK, true),
    hook: dv.getUint8(REC.HOOK),
    flags: dv.getUint8(REC.FLAGS),
    hwProto: dv.getUint16(REC.HW_PROTO, true),
    origLen: dv.getUint32(REC.ORIG_LEN, true),
    payload: buf.subarray(at + REC.HEADER, at + REC.HEADER + len),
  };
}

/** One verdict to write; `payload` is an [offset, length] into the payload buffer. */
export interface Verdict { id: number; verdict: number; mark?: number; payload?: readonly [number, number] }

/** Fills `out` (VER.STRIDE bytes per verdict) and returns the count written. */
export function writeVerdicts(out: Uint8Array, verdicts: readonly Verdict[]): number {
  if (verdicts.length * VER.STRIDE > out.byteLength) throw new RangeError('verdict buffer too small');
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  verdicts.forEach((v, i) => {
    const o = i * VER.STRIDE;
    const flags = (v.mark !== undefined ? VER_F.MARK : 0) | (v.payload ? VER_F.PAYLOAD : 0);
    dv.setUint32(o + VER.ID, v.id, true);
    dv.setUint32(o + VER.VERDICT, v.verdict, true);
    dv.setUint32(o + VER.FLAGS, flags, true);
    dv.setUint32(o + VER.MARK, v.mark ?? 0, true);
    dv.setUint32(o + VER.PAYLOAD_OFF, v.payload?.[0] ?? 0, true);
    dv.setUint32(o + VER.PAYLOAD_LEN, v.payload?.[1] ?? 0, true);
  });
  return verdicts.length;
}
