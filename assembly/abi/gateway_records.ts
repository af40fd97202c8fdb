// Records of the gateway burst (gwBurst): the packet records the netfilter
// queue addon wrote into REGION_PACKETS (native/src/nfq_socket.h layout,
// little-endian) and the verdict records gwBurst writes into REGION_LIST in
// the layout the addon's verdicts() call reads.
import * as L from "./layout";
import { ioBase, rd8, rd32, wr32 } from "./io";

/** Address of the packet record at offset `rec` of REGION_PACKETS (bounds checked by the caller). */
@inline export function gwRecordAt(rec: u32): usize {
  return ioBase() + L.REGION_PACKETS + <usize>rec;
}

@inline export function gwRecId(rec: usize): u32 { return rd32(rec + L.GW_REC_ID); }
@inline export function gwRecMark(rec: usize): u32 { return rd32(rec + L.GW_REC_MARK); }
@inline export function gwRecLen(rec: usize): u32 { return rd32(rec + L.GW_REC_LEN); }
@inline export function gwRecFlags(rec: usize): u32 { return rd8(rec + L.GW_REC_FLAGS); }

/** Verdict record i: packet id, NF verdict, GW_VF_* flags, mark, payload [off, off+len) in REGION_PACKETS. */
export function writeGwVerdict(i: u32, id: u32, verdict: u32, flags: u32, mark: u32, off: u32, len: u32): void {
  const p = ioBase() + L.REGION_LIST + <usize>(i * L.GW_VER_SIZE);
  wr32(p + L.GW_VER_ID, id);
  wr32(p + L.GW_VER_VERDICT, verdict);
  wr32(p + L.GW_VER_FLAGS, flags);
  wr32(p + L.GW_VER_MARK, mark);
  wr32(p + L.GW_VER_OFF, off);
  wr32(p + L.GW_VER_LEN, len);
}

@inline function decision(i: u32): usize {
  return ioBase() + L.REGION_DECISIONS + <usize>(i * L.DECISION_SIZE);
}

/** DEC_METHOD of decision i (written by the connection path). */
export function decisionMethod(i: u32): u32 { return rd8(decision(i) + L.DEC_METHOD); }
/** DEC_CONN of decision i (0: none). */
export function decisionConn(i: u32): u32 { return rd32(decision(i) + L.DEC_CONN); }
/** DEC_DEST of decision i. */
export function decisionDest(i: u32): u32 { return rd32(decision(i) + L.DEC_DEST); }
