// Timer wheel of 4096 one-second slots over the records' wnext/wprev links.
// Invariant: a record sits in a slot that fires (at a time ≡ slot mod 4096,
// after `last`) no later than its `expires`. Re-arming to a LATER time only
// rewrites `expires` (the record is moved when its old slot fires), so the
// per-packet re-arm is a store; re-arming EARLIER moves it at once. A slot
// firing visits only the records in it: expired ones and lazily re-armed ones,
// never the whole table.
import { rec, R_WNEXT, R_WPREV, R_EXPIRES } from "./conn_mem";
import { alloc } from "../mem/alloc";

export const WHEEL_BITS: u32 = 12;
export const WHEEL_SIZE: u32 = 1 << WHEEL_BITS;
const WHEEL_MASK: u32 = WHEEL_SIZE - 1;
/** wprev of a slot's first record: this bit | slot. */
const HEAD: u32 = 0x80000000;

let slots: usize = 0;
/** Last second fully processed. */
let last: u32 = 0;

export function wheelInit(now: u32): void {
  if (slots == 0) {
    slots = alloc(<usize>WHEEL_SIZE * 4); // zeroed, from the core's allocator
  }
  last = now;
}

export function wheelLast(): u32 { return last; }
export function setWheelLast(t: u32): void { last = t; }

function linkAt(i: u32, slot: u32): void {
  const sp = slots + <usize>slot * 4;
  const head = load<u32>(sp);
  const p = rec(i);
  store<u32>(p + R_WNEXT, head);
  store<u32>(p + R_WPREV, HEAD | slot);
  if (head != 0) store<u32>(rec(head) + R_WPREV, i);
  store<u32>(sp, i);
}

/** Link a record that is in no slot, with its absolute expiry. */
export function wheelLink(i: u32, expires: u32): void {
  store<u32>(rec(i) + R_EXPIRES, expires);
  // Already due (or due this second): fire at the next processed second.
  const at = expires > last ? expires : last + 1;
  linkAt(i, at & WHEEL_MASK);
}

export function wheelUnlink(i: u32): void {
  const p = rec(i);
  const next = load<u32>(p + R_WNEXT);
  const prev = load<u32>(p + R_WPREV);
  if (prev & HEAD) store<u32>(slots + <usize>(prev & WHEEL_MASK) * 4, next);
  else store<u32>(rec(prev) + R_WNEXT, next);
  if (next != 0) store<u32>(rec(next) + R_WPREV, prev);
  store<u32>(p + R_WNEXT, 0);
  store<u32>(p + R_WPREV, 0);
}

/** Set a new absolute expiry for a linked record. */
export function wheelRearm(i: u32, expires: u32): void {
  const p = rec(i);
  if (expires >= load<u32>(p + R_EXPIRES)) {
    store<u32>(p + R_EXPIRES, expires);
    return;
  }
  wheelUnlink(i);
  wheelLink(i, expires);
}

/** Detach and return the list of slot (t mod size); records keep wnext links. */
export function wheelTake(t: u32): u32 {
  const sp = slots + <usize>(t & WHEEL_MASK) * 4;
  const head = load<u32>(sp);
  store<u32>(sp, 0);
  return head;
}

/** Put a visited, not-yet-due record back in the slot of its expiry. */
export function wheelRelink(i: u32): void {
  const e = load<u32>(rec(i) + R_EXPIRES);
  linkAt(i, (e > last ? e : last + 1) & WHEEL_MASK);
}

/** First record of the slot that fires at (t mod size), without detaching it. */
export function wheelSlotHead(t: u32): u32 {
  return load<u32>(slots + <usize>(t & WHEEL_MASK) * 4);
}
