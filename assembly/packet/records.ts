// Record access for the packet path: the decision record a rewrite reads
// (its target address and port go to the NAT target).
import * as L from "../abi/layout";
import { ioBase, rd8, rd16, rd32 } from "../abi/io";
import { target } from "./nat";

/** Loads DEC_DADDR/DEC_DPORT of decision `slot` into the NAT target; returns DEC_DAF. */
export function readDecisionTarget(slot: u32): u32 {
  const p = ioBase() + L.REGION_DECISIONS + <usize>(slot * L.DECISION_SIZE);
  target.w0 = rd32(p + L.DEC_DADDR);
  target.w1 = rd32(p + L.DEC_DADDR + 4);
  target.w2 = rd32(p + L.DEC_DADDR + 8);
  target.w3 = rd32(p + L.DEC_DADDR + 12);
  target.port = rd16(p + L.DEC_DPORT);
  return rd8(p + L.DEC_DAF);
}
