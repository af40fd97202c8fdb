// Eviction classes for the connection limit, cheapest first. Live counts per
// class are kept exactly (every state, ASSURED or n_control change moves the
// entry), so the evictor knows whether a cheaper victim exists anywhere
// without scanning for it.
import * as M from "./conn_mem";
import { S_ESTABLISHED, S_SYN_RECV, S_SYNACK, S_SYN_SENT, S_NONE } from "./tcp_states";
import { PROTO_TCP } from "../abi/layout";
import { Nums } from "../mem/vec";

/** Half-open TCP (NONE, SYN_SENT, SYN_RECV, SYNACK) and unassured idle templates. */
export const CLASS_HALF_OPEN: i32 = 0;
/** Closing TCP states, UDP/SCTP entries, assured templates that control nothing. */
export const CLASS_IDLE: i32 = 1;
/** ESTABLISHED TCP. */
export const CLASS_ESTABLISHED: i32 = 2;
/** Templates that still control connections: never evicted. */
export const CLASS_PINNED: i32 = 3;

const counts = changetype<Nums<i32>>(memory.data(4 * 4, 4));

export function classOf(i: u32): i32 {
  const f = M.flagsOf(i);
  if (f & M.F_TEMPLATE) {
    if (M.u32At(i, M.R_CONTROL) != 0) return CLASS_PINNED;
    return (f & M.F_ASSURED) != 0 ? CLASS_IDLE : CLASS_HALF_OPEN;
  }
  if (M.protoOf(i) != PROTO_TCP) return CLASS_IDLE;
  const s = M.stateOf(i);
  if (s == S_ESTABLISHED) return CLASS_ESTABLISHED;
  if (s == S_SYN_RECV || s == S_SYNACK || s == S_SYN_SENT || s == S_NONE) return CLASS_HALF_OPEN;
  return CLASS_IDLE;
}

@inline export function classAdd(c: i32, n: i32): void {
  unchecked((counts[c] += n));
}

@inline export function classMove(from: i32, to: i32): void {
  if (from != to) {
    unchecked((counts[from] -= 1));
    unchecked((counts[to] += 1));
  }
}

export function classCount(c: i32): i32 {
  return unchecked(counts[c]);
}
