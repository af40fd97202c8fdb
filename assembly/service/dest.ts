// A real server of one service. Counters and the OVERLOAD rule follow
// ip_vs_bind_dest / ip_vs_unbind_dest: the kernel counts active PLUS inactive
// connections against the thresholds.
import { DEST_F_AVAILABLE, DEST_F_OVERLOAD, DEST_F_DOWN } from "../abi/layout";
import { Stats, freeStats } from "../stats/stats";
import { alloc, free } from "../mem/alloc";

/** Internal flag (not IP_VS_DEST_F_*): see Dest.dropped. */
const DEST_F_DROPPED: u32 = 0x80000000;
/** Internal flag (not IP_VS_DEST_F_*): see Dest.fast. */
const DEST_F_FAST: u32 = 0x40000000;
/** The flag bits a listing shows (IP_VS_DEST_F_*); the rest are the core's own. */
export const DEST_F_LISTED: u32 = ~(DEST_F_DROPPED | DEST_F_FAST);

/** A real server record in linear memory (unmanaged; newDest/freeDest): 96 bytes. */
@unmanaged export class Dest {
  // 96-byte blocks start at 0 or 32 modulo 64, so each 32-byte quarter lies in
  // one cache line. Bytes 0..31: what a pick reads (flags, weight) and the
  // decision record copies (id, address, port, af, method); 32..63: what
  // binding a connection and the load schedulers touch; then the rest. Small
  // fields are stored packed (bytes, halves) behind u32 accessors.
  flags: u32 = DEST_F_AVAILABLE;
  weight: i32 = 1;
  id: u32 = 0;
  a0: u32 = 0;
  a1: u32 = 0;
  a2: u32 = 0;
  a3: u32 = 0;
  private port16: u16 = 0;
  private af8: u8 = 4;
  private method8: u8 = 3;
  svcId: u32 = 0;
  activeconns: u32 = 0;
  inactconns: u32 = 0;
  persistconns: u32 = 0;
  /** Connections and templates that still point here (keeps a deleted dest in the trash). */
  refcnt: u32 = 0;
  uThreshold: u32 = 0;
  /** Slot in a scheduler's load heap; -1 when not in one. */
  heapPos: i32 = -1;
  lThreshold: u32 = 0;
  /** List order key: smaller is nearer the head. New dests take a fresh minimum. */
  order: i64 = 0;
  /** Latest non-zero weight (mh builds its table from it). */
  lastWeight: i32 = 1;
  /** lblc/lblcr cache entries pointing here (ip_vs_dest_hold in the kernel's caches). */
  cacheRefs: u32 = 0;
  /** TUN outer source (IPv4, host order) and route MTU towards this server; 0 = the gwConfig default. */
  tunSrc: u32 = 0;
  tunMtu: u32 = 0;
  /** Counters and rates; kept in the trash and on revival; 0 until the first counted event (table/account.ts). */
  stats: Stats = changetype<Stats>(0);
  private tunPort16: u16 = 0;
  private tunType8: u8 = 0;
  private tunFlags8: u8 = 0;

  /** Its id was dropped by the trash sweep while caches still held it: freed by the last putDest.
   * A flag bit no host sees (a dropped dest has no id). */
  @inline get dropped(): bool { return (this.flags & DEST_F_DROPPED) != 0; }
  @inline set dropped(v: bool) { this.flags = v ? this.flags | DEST_F_DROPPED : this.flags & ~DEST_F_DROPPED; }
  /**
   * On the gateway's fast path (gwFastDest): its kernel DNATs a flow with ct mark fastBase + (id &
   * GW_DR_SLOT_MASK) to this NAT real server, so a packet that opens a flow to it gets that mark
   * instead of the rewrite. Cleared in the trash.
   */
  @inline get fast(): bool { return (this.flags & DEST_F_FAST) != 0; }
  @inline set fast(v: bool) { this.flags = v ? this.flags | DEST_F_FAST : this.flags & ~DEST_F_FAST; }
  /** 4 or 6. */
  @inline get af(): u32 { return this.af8; }
  @inline set af(v: u32) { this.af8 = <u8>v; }
  /** Forwarding method (METHOD_*). */
  @inline get method(): u32 { return this.method8; }
  @inline set method(v: u32) { this.method8 = <u8>v; }
  /** Port (0..65535; 0 = the packet's virtual port). */
  @inline get port(): u32 { return this.port16; }
  @inline set port(v: u32) { this.port16 = <u16>v; }
  @inline get tunType(): u32 { return this.tunType8; }
  @inline set tunType(v: u32) { this.tunType8 = <u8>v; }
  @inline get tunFlags(): u32 { return this.tunFlags8; }
  @inline set tunFlags(v: u32) { this.tunFlags8 = <u8>v; }
  @inline get tunPort(): u32 { return this.tunPort16; }
  @inline set tunPort(v: u32) { this.tunPort16 = <u16>v; }

  @inline get available(): bool { return (this.flags & DEST_F_AVAILABLE) != 0; }
  /**
   * OVERLOAD, or DOWN (health check, wasmvs only): every scheduler skips such
   * a dest through this one getter, and the admin weight is left untouched.
   */
  @inline get overloaded(): bool { return (this.flags & (DEST_F_OVERLOAD | DEST_F_DOWN)) != 0; }

  /** active×256 + inactive (ip_vs_dest_conn_overhead). */
  @inline overhead(): u32 {
    return (this.activeconns << 8) + this.inactconns;
  }

  sameAddr(af: u32, a0: u32, a1: u32, a2: u32, a3: u32, port: u32): bool {
    return this.af == af && this.a0 == a0 && this.a1 == a1 && this.a2 == a2 && this.a3 == a3 && this.port == port;
  }

  /** After a connection was bound (counter already incremented). */
  checkOverloadOnBind(): void {
    if (this.uThreshold != 0 && this.activeconns + this.inactconns >= this.uThreshold) {
      this.flags |= DEST_F_OVERLOAD;
    }
  }

  /** After a connection was unbound (counter already decremented). */
  checkOverloadOnUnbind(): void {
    const n = this.activeconns + this.inactconns;
    if (this.lThreshold != 0) {
      if (n < this.lThreshold) this.flags &= ~DEST_F_OVERLOAD;
    } else if (this.uThreshold != 0) {
      if (<u64>n * 4 < <u64>this.uThreshold * 3) this.flags &= ~DEST_F_OVERLOAD;
    } else {
      this.flags &= ~DEST_F_OVERLOAD;
    }
  }
}

/** A dest record with the defaults of a fresh `new Dest()`, or null without memory. */
export function newDest(): Dest | null {
  if (offsetof<Dest>() > 96) ERROR("Dest outgrew its 96-byte block (the memory target: one service with one dest <= 256 B)");
  if (offsetof<Dest>("svcId") != 32) ERROR("Dest: the pick and decision fields must fill bytes 0..31 exactly");
  const p = alloc(offsetof<Dest>());
  if (p == 0) return null;
  const d = changetype<Dest>(p);
  d.af = 4;
  d.weight = 1;
  d.lastWeight = 1;
  d.method = 3;
  d.flags = DEST_F_AVAILABLE;
  d.heapPos = -1;
  return d;
}

/** A cache entry now points at d. */
@inline export function holdDest(d: Dest): void {
  d.cacheRefs++;
}

/** A cache entry stopped pointing at d; the last one frees a dropped dest. */
export function putDest(d: Dest): void {
  if (--d.cacheRefs == 0 && d.dropped) freeDest(d);
}

export function freeDest(d: Dest): void {
  if (changetype<usize>(d.stats) != 0) freeStats(d.stats);
  free(changetype<usize>(d), offsetof<Dest>());
}
