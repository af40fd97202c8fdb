// The locality cache of lblc and lblcr (ip_vs_lblc.c, ip_vs_lblcr.c): 1024
// buckets keyed by hash_32(folded destination address, 10), chained entries
// {address, lastuse, payload}, and the garbage collector the kernel runs from
// a 60 s timer. Entries live in a pool of parallel arrays threaded by a free
// list: a pick allocates nothing while the pool has room, and tick() doubles
// the pool ahead of need so the pick path practically never grows it.
// The payload is lblc's one dest per entry or lblcr's dest set (lblc_set.ts),
// chosen by `replicated`. Entries hold their dests (holdDest/putDest) as the
// kernel's caches do, so a dest deleted long ago is still readable here.
// The cache is the whole state block of lblc and lblcr (unmanaged; every
// array comes from the one allocator).
import { hash32, foldAddr } from "../mem/hash";
import { Dest, holdDest, putDest } from "../service/dest";
import { Ptrs, Nums, allocArray, freeArray } from "../mem/vec";
import { alloc, free } from "../mem/alloc";
import { DestSetPool } from "./lblc_set";

export const LBLC_TAB_BITS: u32 = 10;
export const LBLC_TAB_SIZE: i32 = 1 << LBLC_TAB_BITS;
const TAB_MASK: i32 = LBLC_TAB_SIZE - 1;
/** Entries above which the periodic check evicts (IP_VS_LBLC_TAB_SIZE * 16). */
export const LBLC_MAX_SIZE: i32 = LBLC_TAB_SIZE * 16;
export const CHECK_EXPIRE_INTERVAL: u32 = 60;
/** Idle time after which an entry may go when the table is over max size. */
export const ENTRY_TIMEOUT: u32 = 6 * 60;
/** lblc_expiration / lblcr_expiration default: 24 h. */
export const DEFAULT_EXPIRATION: u32 = 24 * 60 * 60;
/** Every 30th timer run is a full sweep (when no partial sweep ran). */
export const COUNT_FOR_FULL_EXPIRATION: i32 = 30;
export const NIL: i32 = -1;
const INITIAL_POOL: i32 = 16;

/** now is at or after t + span (the kernel's !time_before(now, t + span)), wrap-safe. */
@inline export function reached(now: u32, t: u32, span: u32): bool {
  return <i32>(now - (t + span)) >= 0;
}

/** a is strictly after b (the kernel's time_after), wrap-safe. */
@inline export function timeAfter(a: u32, b: u32): bool {
  return <i32>(b - a) < 0;
}

@unmanaged export class LocalityCache {
  buckets: Nums<i32> = changetype<Nums<i32>>(0);
  next: Nums<i32> = changetype<Nums<i32>>(0);
  /** Four address words per entry (IPv4 uses the first). */
  addr: Nums<u32> = changetype<Nums<u32>>(0);
  lastuse: Nums<u32> = changetype<Nums<u32>>(0);
  /** lblc's payload: the dest of each entry. */
  dest: Ptrs<Dest | null> = changetype<Ptrs<Dest | null>>(0);
  /** lblcr's payload: head element, size and last change of each entry's set. */
  setHead: Nums<i32> = changetype<Nums<i32>>(0);
  setSize: Nums<i32> = changetype<Nums<i32>>(0);
  lastmod: Nums<u32> = changetype<Nums<u32>>(0);
  sets: DestSetPool = changetype<DestSetPool>(0);
  replicated: bool = false;
  cap: i32 = 0;
  freeHead: i32 = NIL;
  /** Live entries (the kernel's tbl->entries). */
  entries: i32 = 0;
  expiration: u32 = DEFAULT_EXPIRATION;
  rover: i32 = 0;
  counter: i32 = 1;
  /** The 60 s timer: armed at the first `now` seen, next run at timerAt. */
  armed: bool = false;
  timerAt: u32 = 0;

  /** A fresh block is zeroed: set the non-zero starting state. False without memory. */
  setup(replicated: bool): bool {
    const b = allocArray<Nums<i32>>(LBLC_TAB_SIZE, 4);
    if (changetype<usize>(b) == 0) return false;
    if (replicated) {
      const p = alloc(offsetof<DestSetPool>());
      if (p == 0) {
        freeArray(b, LBLC_TAB_SIZE, 4);
        return false;
      }
      this.sets = changetype<DestSetPool>(p);
      this.sets.freeHead = NIL;
    }
    memory.fill(changetype<usize>(b), 0xFF, <usize>LBLC_TAB_SIZE << 2); // NIL = -1
    this.buckets = b;
    this.replicated = replicated;
    this.freeHead = NIL;
    this.expiration = DEFAULT_EXPIRATION;
    this.counter = 1;
    return true;
  }

  /** Give back every array (flush() ran first). */
  dispose(): void {
    const cap = this.cap;
    freeArray(this.buckets, LBLC_TAB_SIZE, 4);
    if (cap != 0) {
      freeArray(this.next, cap, 4);
      freeArray(this.addr, cap << 2, 4);
      freeArray(this.lastuse, cap, 4);
      if (this.replicated) {
        freeArray(this.setHead, cap, 4);
        freeArray(this.setSize, cap, 4);
        freeArray(this.lastmod, cap, 4);
      } else {
        freeArray(this.dest, cap, 4);
      }
    }
    if (this.replicated) {
      this.sets.dispose();
      free(changetype<usize>(this.sets), offsetof<DestSetPool>());
    }
    this.cap = 0;
  }

  /** Point entry e at d (lblc), holding d and releasing the dest it held. */
  setDest(e: i32, d: Dest): void {
    const old = unchecked(this.dest[e]);
    holdDest(d);
    unchecked((this.dest[e] = d));
    if (old !== null) putDest(old);
  }

  /** Drop the payload of entry e before it returns to the free list. */
  private release(e: i32): void {
    if (!this.replicated) {
      const d = unchecked(this.dest[e]);
      if (d !== null) {
        unchecked((this.dest[e] = null));
        putDest(d);
      }
      return;
    }
    let x = unchecked(this.setHead[e]);
    while (x != NIL) x = this.sets.free(x);
    unchecked((this.setHead[e] = NIL));
    unchecked((this.setSize[e] = 0));
  }

  /** Double the pool (or create it); rare, and normally done from tick().
   * False when memory cannot grow (nothing changed). */
  private grow(): bool {
    const old = this.cap;
    const cap = old == 0 ? INITIAL_POOL : old << 1;
    const next = allocArray<Nums<i32>>(cap, 4);
    const addr = allocArray<Nums<u32>>(cap << 2, 4);
    const lastuse = allocArray<Nums<u32>>(cap, 4);
    // lblc: dest pointers; lblcr: set heads, sizes and lastmod.
    const p0 = alloc(<usize>cap << 2);
    const p1 = this.replicated ? alloc(<usize>cap << 2) : 1;
    const p2 = this.replicated ? alloc(<usize>cap << 2) : 1;
    if (changetype<usize>(next) == 0 || changetype<usize>(addr) == 0 || changetype<usize>(lastuse) == 0 || p0 == 0 || p1 == 0 || p2 == 0) {
      freeArray(next, cap, 4);
      freeArray(addr, cap << 2, 4);
      freeArray(lastuse, cap, 4);
      free(p0, <usize>cap << 2);
      if (this.replicated) {
        free(p1, <usize>cap << 2);
        free(p2, <usize>cap << 2);
      }
      return false;
    }
    memory.copy(changetype<usize>(next), changetype<usize>(this.next), <usize>old << 2);
    memory.copy(changetype<usize>(addr), changetype<usize>(this.addr), <usize>old << 4);
    memory.copy(changetype<usize>(lastuse), changetype<usize>(this.lastuse), <usize>old << 2);
    // New slots go on the free list, lowest index first.
    for (let i = cap - 1; i >= old; i--) {
      unchecked((next[i] = this.freeHead));
      this.freeHead = i;
    }
    if (old != 0) {
      freeArray(this.next, old, 4);
      freeArray(this.addr, old << 2, 4);
      freeArray(this.lastuse, old, 4);
    }
    this.next = next;
    this.addr = addr;
    this.lastuse = lastuse;
    if (this.replicated) {
      memory.copy(p0, changetype<usize>(this.setHead), <usize>old << 2);
      memory.copy(p1, changetype<usize>(this.setSize), <usize>old << 2);
      memory.copy(p2, changetype<usize>(this.lastmod), <usize>old << 2);
      // New entries start with an empty set.
      memory.fill(p0 + (<usize>old << 2), 0xFF, <usize>(cap - old) << 2);
      if (old != 0) {
        freeArray(this.setHead, old, 4);
        freeArray(this.setSize, old, 4);
        freeArray(this.lastmod, old, 4);
      }
      this.setHead = changetype<Nums<i32>>(p0);
      this.setSize = changetype<Nums<i32>>(p1);
      this.lastmod = changetype<Nums<u32>>(p2);
    } else {
      memory.copy(p0, changetype<usize>(this.dest), <usize>old << 2);
      if (old != 0) freeArray(this.dest, old, 4);
      this.dest = changetype<Ptrs<Dest | null>>(p0);
    }
    this.cap = cap;
    return true;
  }

  /** Grow while less than a quarter of the pool is free (off the pick path). */
  reserve(): void {
    while ((this.cap - this.entries) * 4 < this.cap || this.cap == 0) {
      if (!this.grow()) break;
    }
    if (this.replicated) this.sets.reserve();
  }

  @inline bucketOf(af: u32, a0: u32, a1: u32, a2: u32, a3: u32): i32 {
    return <i32>hash32(foldAddr(af, a0, a1, a2, a3), LBLC_TAB_BITS);
  }

  /** The entry for this destination address, or NIL. */
  find(af: u32, a0: u32, a1: u32, a2: u32, a3: u32): i32 {
    const addr = this.addr;
    let e = unchecked(this.buckets[this.bucketOf(af, a0, a1, a2, a3)]);
    while (e != NIL) {
      const p = e << 2;
      if (unchecked(addr[p]) == a0) {
        if (af != 6) return e;
        if (unchecked(addr[p + 1]) == a1 && unchecked(addr[p + 2]) == a2 && unchecked(addr[p + 3]) == a3) return e;
      }
      e = unchecked(this.next[e]);
    }
    return NIL;
  }

  /** A new entry at the head of its bucket with lastuse = now; its payload is the
   * caller's to fill. NIL when the pool is full and memory cannot grow. */
  insert(af: u32, a0: u32, a1: u32, a2: u32, a3: u32, now: u32): i32 {
    if (this.freeHead == NIL && !this.grow()) return NIL;
    const e = this.freeHead;
    this.freeHead = unchecked(this.next[e]);
    const p = e << 2;
    const addr = this.addr;
    unchecked((addr[p] = a0));
    unchecked((addr[p + 1] = a1));
    unchecked((addr[p + 2] = a2));
    unchecked((addr[p + 3] = a3));
    unchecked((this.lastuse[e] = now));
    const b = this.bucketOf(af, a0, a1, a2, a3);
    unchecked((this.next[e] = this.buckets[b]));
    unchecked((this.buckets[b] = e));
    this.entries++;
    return e;
  }

  private free(e: i32): void {
    this.release(e);
    unchecked((this.next[e] = this.freeHead));
    this.freeHead = e;
    this.entries--;
  }

  /** Remove the entries of bucket j idle for `idle` seconds or more at `now`; returns how many. */
  private sweepBucket(j: i32, now: u32, idle: u32): i32 {
    let prev = NIL;
    let e = unchecked(this.buckets[j]);
    let n = 0;
    while (e != NIL) {
      const nx = unchecked(this.next[e]);
      if (reached(now, unchecked(this.lastuse[e]), idle)) {
        if (prev == NIL) unchecked((this.buckets[j] = nx));
        else unchecked((this.next[prev] = nx));
        this.free(e);
        n++;
      } else {
        prev = e;
      }
      e = nx;
    }
    return n;
  }

  /** Every entry goes (the scheduler is unbound or the service deleted). */
  flush(): void {
    for (let j = 0; j < LBLC_TAB_SIZE; j++) {
      let e = unchecked(this.buckets[j]);
      while (e != NIL) {
        const nx = unchecked(this.next[e]);
        this.free(e);
        e = nx;
      }
      unchecked((this.buckets[j] = NIL));
    }
    this.rover = 0;
    this.counter = 1;
    this.armed = false;
  }

  /** Arm the 60 s timer at the first time seen (the kernel arms it at init). */
  @inline touch(now: u32): void {
    if (!this.armed) {
      this.armed = true;
      this.timerAt = now + CHECK_EXPIRE_INTERVAL;
    }
  }

  /** Full check: every bucket from rover + 1 round to rover, entries idle >= expiration go. */
  private fullCheck(now: u32): void {
    let j = this.rover;
    for (let i = 0; i < LBLC_TAB_SIZE; i++) {
      j = (j + 1) & TAB_MASK;
      this.sweepBucket(j, now, this.expiration);
    }
    this.rover = j;
  }

  /** Over max size: entries idle >= 6 min go, bucket by bucket from the rover, until the goal is met. */
  private partialCheck(now: u32): void {
    let goal = (this.entries - LBLC_MAX_SIZE) * 4 / 3;
    if (goal > LBLC_MAX_SIZE / 2) goal = LBLC_MAX_SIZE / 2;
    let j = this.rover;
    for (let i = 0; i < LBLC_TAB_SIZE; i++) {
      j = (j + 1) & TAB_MASK;
      goal -= this.sweepBucket(j, now, ENTRY_TIMEOUT);
      if (goal <= 0) break;
    }
    this.rover = j;
  }

  /** One run of the kernel's periodic timer (ip_vs_lblc_check_expire) at time t. */
  private checkExpire(t: u32): void {
    if (this.counter % COUNT_FOR_FULL_EXPIRATION == 0) {
      this.fullCheck(t);
      this.counter = 1;
    } else if (this.entries <= LBLC_MAX_SIZE) {
      this.counter++;
    } else {
      this.partialCheck(t);
    }
  }

  /**
   * Replay every timer run due by `now`, each at its own time (t0 + 60 k).
   * Nothing else changes the table between replayed runs, so runs that can
   * only move the counter are skipped in one step; a long gap costs at most
   * one full sweep per 30 runs until the table is empty, then O(1).
   */
  tick(now: u32): void {
    this.touch(now);
    while (reached(now, this.timerAt, 0)) {
      const due = (now - this.timerAt) / CHECK_EXPIRE_INTERVAL + 1;
      if (this.entries == 0) {
        // Full checks of an empty table change nothing: only the counter cycles 1..30.
        this.counter = <i32>((<u32>(this.counter - 1) + due % 30) % 30) + 1;
        this.timerAt += due * CHECK_EXPIRE_INTERVAL;
      } else if (this.counter % COUNT_FOR_FULL_EXPIRATION != 0 && this.entries <= LBLC_MAX_SIZE) {
        const toFull = <u32>(COUNT_FOR_FULL_EXPIRATION - this.counter);
        const k = due < toFull ? due : toFull;
        this.counter += <i32>k;
        this.timerAt += k * CHECK_EXPIRE_INTERVAL;
      } else {
        this.checkExpire(this.timerAt);
        this.timerAt += CHECK_EXPIRE_INTERVAL;
      }
    }
    this.reserve();
  }
}
