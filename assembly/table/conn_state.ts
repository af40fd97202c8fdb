// Per-packet state transitions (set_tcp_state / udp_state_transition) with
// the active/inactive moves through table/dests.ts.
import * as M from "./conn_mem";
import { setActive } from "./dests";
import { nextState, tcpEvent, isActiveState, DIR_OUTPUT, DIR_INPUT_ONLY, S_ESTABLISHED } from "./tcp_states";
import { assureControl, destOf } from "./conn";
import { classOf, classMove } from "./conn_class";
import { secureTcp, defenseOn } from "./conn_options";
import { PROTO_TCP, PROTO_UDP } from "../abi/layout";

/** Feed one segment's flags in direction dir (DIR_INPUT or DIR_OUTPUT) to entry i. */
export function transition(i: u32, dir: u32, tcpflags: u32): void {
  let f = M.flagsOf(i);
  if (f & M.F_TEMPLATE) return;
  const proto = M.protoOf(i);
  if (proto == PROTO_TCP) {
    tcpTransition(i, f, dir, tcpflags);
  } else if (proto == PROTO_UDP && dir == DIR_OUTPUT) {
    assureControl(i);
  }
}

function tcpTransition(i: u32, f: u32, dir: u32, tcpflags: u32): void {
  let off = dir;
  if (f & M.F_NOOUTPUT) {
    if (dir == DIR_OUTPUT) f &= ~M.F_NOOUTPUT;
    else off = DIR_INPUT_ONLY;
  }
  const state = M.stateOf(i);
  const ns = nextState(defenseOn(secureTcp, M.liveRecords()), off, tcpEvent(tcpflags), state);
  if (ns != state) {
    const d = destOf(i);
    if (d !== null) {
      if ((f & M.F_INACTIVE) == 0 && !isActiveState(ns)) {
        setActive(d, false);
        f |= M.F_INACTIVE;
      } else if ((f & M.F_INACTIVE) != 0 && isActiveState(ns)) {
        setActive(d, true);
        f &= ~M.F_INACTIVE;
      }
    }
    M.setFlags(i, f);
    const before = classOf(i);
    M.setState(i, ns);
    classMove(before, classOf(i));
    if (ns == S_ESTABLISHED) assureControl(i);
  } else {
    M.setFlags(i, f);
  }
}

/**
 * For simulations and table tests: put TCP entry i in state s, moving the
 * counters as a transition into s would (no template is assured). False for
 * templates, non-TCP entries and unknown states.
 */
export function forceState(i: u32, s: u32): bool {
  const f = M.flagsOf(i);
  if ((f & M.F_TEMPLATE) != 0 || M.protoOf(i) != PROTO_TCP || s > 10) return false;
  const d = destOf(i);
  let nf = f;
  if (d !== null) {
    if ((f & M.F_INACTIVE) == 0 && !isActiveState(s)) {
      setActive(d, false);
      nf |= M.F_INACTIVE;
    } else if ((f & M.F_INACTIVE) != 0 && isActiveState(s)) {
      setActive(d, true);
      nf &= ~M.F_INACTIVE;
    }
  }
  M.setFlags(i, nf);
  const before = classOf(i);
  M.setState(i, s);
  classMove(before, classOf(i));
  return true;
}
