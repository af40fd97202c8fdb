// The TCP state tables of ip_vs_proto_tcp.c (tcp_states and the secure_tcp
// table tcp_states_dos), the per-state timeouts and the `--set` rules.
// A table cell is the next state for (direction, event, current state).
import { Nums } from "../mem/vec";

export const S_NONE: u32 = 0;
export const S_ESTABLISHED: u32 = 1;
export const S_SYN_SENT: u32 = 2;
export const S_SYN_RECV: u32 = 3;
export const S_FIN_WAIT: u32 = 4;
export const S_TIME_WAIT: u32 = 5;
export const S_CLOSE: u32 = 6;
export const S_CLOSE_WAIT: u32 = 7;
export const S_LAST_ACK: u32 = 8;
export const S_LISTEN: u32 = 9;
export const S_SYNACK: u32 = 10;
export const S_COUNT: u32 = 11;

/** Directions: the row offsets of the kernel's table (INPUT 0, OUTPUT 4, INPUT_ONLY 8). */
export const DIR_INPUT: u32 = 0;
export const DIR_OUTPUT: u32 = 1;
export const DIR_INPUT_ONLY: u32 = 2;

/** Segment events in the kernel's tcp_state_idx order; EV_NONE = no flag at all. */
export const EV_SYN: i32 = 0;
export const EV_FIN: i32 = 1;
export const EV_ACK: i32 = 2;
export const EV_RST: i32 = 3;
export const EV_NONE: i32 = -1;

// Rows: [dir*4 + event], 11 columns NO ES SS SR FW TW CL CW LA LI SA.
const NO: u8 = 0, ES: u8 = 1, SS: u8 = 2, SR: u8 = 3, FW: u8 = 4, TW: u8 = 5;
const CL: u8 = 6, CW: u8 = 7, LA: u8 = 8, LI: u8 = 9, SA: u8 = 10;

const NORMAL = changetype<Nums<u8>>(memory.data<u8>([
  // INPUT
  SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR, // syn
  CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW, // fin
  ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES, // ack
  CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR, // rst
  // OUTPUT
  SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR, // syn
  TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW, // fin
  ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES, // ack
  CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL, // rst
  // INPUT-ONLY
  SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR, // syn
  CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW, // fin
  ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES, // ack
  CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL, // rst
]));

// tcp_states_dos: the differences listed in the reference §2.8.
const SECURE = changetype<Nums<u8>>(memory.data<u8>([
  // INPUT
  SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SA, // syn
  CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, SA, // fin
  ES, ES, SS, SR, FW, TW, CL, CW, CL, LI, SA, // ack
  CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL, // rst
  // OUTPUT
  SS, ES, SS, SA, SS, SS, SS, SS, SS, LI, SA, // syn
  TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW, // fin
  ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES, // ack
  CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL, // rst
  // INPUT-ONLY
  SA, ES, ES, SR, SA, SA, SA, SA, SA, SA, SA, // syn
  CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW, // fin
  ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES, // ack
  CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL, // rst
]));

/** Default timeouts per state, seconds (tcp_timeouts). */
const DEFAULT_TCP = changetype<Nums<u32>>(memory.data<u32>([2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120]));
export const DEFAULT_UDP_TIMEOUT: u32 = 300;

const tcpTimeouts = changetype<Nums<u32>>(memory.data(11 * 4, 4)); // S_COUNT entries
let udpTimeout: u32 = DEFAULT_UDP_TIMEOUT;

export function resetTimeouts(): void {
  for (let i = 0; i < <i32>S_COUNT; i++) unchecked((tcpTimeouts[i] = unchecked(DEFAULT_TCP[i])));
  udpTimeout = DEFAULT_UDP_TIMEOUT;
}
resetTimeouts();

/** The next state; `secure` selects tcp_states_dos. EV_NONE always gives CLOSE. */
export function nextState(secure: bool, dir: u32, ev: i32, state: u32): u32 {
  if (ev < 0 || state >= S_COUNT) return S_CLOSE;
  const i = <i32>((dir * 4 + <u32>ev) * S_COUNT + state);
  return secure ? <u32>unchecked(SECURE[i]) : <u32>unchecked(NORMAL[i]);
}

/** tcp_state_idx: RST first, then SYN (SYN+ACK too), FIN, ACK; else none. */
export function tcpEvent(flags: u32): i32 {
  if (flags & 0x04) return EV_RST;
  if (flags & 0x02) return EV_SYN;
  if (flags & 0x01) return EV_FIN;
  if (flags & 0x10) return EV_ACK;
  return EV_NONE;
}

/** ESTABLISHED, SYN_SENT, SYN_RECV and SYNACK count as active connections. */
@inline export function isActiveState(s: u32): bool {
  return s == S_ESTABLISHED || s == S_SYN_SENT || s == S_SYN_RECV || s == S_SYNACK;
}

@inline export function tcpTimeout(state: u32): u32 {
  return state < S_COUNT ? unchecked(tcpTimeouts[<i32>state]) : 2;
}

@inline export function udpTimeoutNow(): u32 {
  return udpTimeout;
}

/** ipvsadm --set: 0 leaves a value unchanged (ip_vs_set_timeout). */
export function setTimeouts(tcp: u32, tcpfin: u32, udp: u32): void {
  if (tcp != 0) tcpTimeouts[<i32>S_ESTABLISHED] = tcp;
  if (tcpfin != 0) tcpTimeouts[<i32>S_FIN_WAIT] = tcpfin;
  if (udp != 0) udpTimeout = udp;
}

/** 0 tcp (ESTABLISHED), 1 tcpfin (FIN_WAIT), 2 udp. */
export function getTimeout(which: u32): u32 {
  if (which == 0) return tcpTimeouts[<i32>S_ESTABLISHED];
  if (which == 1) return tcpTimeouts[<i32>S_FIN_WAIT];
  return udpTimeout;
}
