// The only code that touches the WASM instance: record writers/readers over
// the I/O regions. Views are re-derived whenever memory has grown.
import { layout as L, version } from './abi.gen.js';
import type { CoreExports } from './exports.js';
import { errorFromStatus, OutOfRangeError } from '../errors.js';

export interface Words { af: number; w: readonly number[] }

export interface ServiceSpec {
  af: number; proto: number; port: number; fwmark: number; addr: readonly number[];
  sched: number; flags: number; timeout: number; netmask: number; mhPrime: number;
}
export interface ServiceRecord extends ServiceSpec { id: number; ndests: number }

export interface DestSpec {
  af: number; method: number; port: number; addr: readonly number[]; weight: number;
  uThreshold: number; lThreshold: number; tunType: number; tunFlags: number; tunPort: number;
}
export interface DestRecord extends DestSpec {
  id: number; flags: number; activeconns: number; inactconns: number; persistconns: number; lastWeight: number;
}

export interface FlowSpec {
  af: number; proto: number; tcpflags: number; fwmark: number;
  /** Always four words (IPv4 in the first): writeFlow copies all four. */
  caddr: readonly [number, number, number, number]; vaddr: readonly [number, number, number, number]; cport: number; vport: number; len: number;
}
export interface DecisionRecord {
  status: number; conn: number; dest: number; method: number; daf: number; dport: number; daddr: number[];
}

/** Traffic a host forwarded itself, for countTraffic: each value an integer in 0..2^32-1, omitted = 0. */
export interface TrafficCounts { conns?: number; inpkts?: number; inbytes?: number; outpkts?: number; outbytes?: number }

/**
 * What a host may use of a Director's core (`coreOf(director)` from
 * `wasmvs/core`; docs/core.md is the contract). The regions, records and
 * exports are those of docs/abi.md; offsets in `layout` are from `base`.
 */
export interface HostCore {
  /**
   * The core's WebAssembly exports. A host calls the data-path exports on
   * records it wrote into the I/O regions: gwBurst/gwConfig/gwOptions/
   * gwDestTunnel (packet bursts), connLookupBatch/connGet/connEvent (its own
   * view of the connection table), schedule (flow records). Configuration
   * (services, destinations, options) goes through the Director's methods,
   * which keep their own caches in step; a host must not call svc*, dest*,
   * cfgBatch, init or setOption itself.
   */
  readonly x: CoreExports;
  /** Byte offset of the I/O regions in `x.memory` (REGION_PACKETS, REGION_LIST, REGION_FLOWS … are from here). */
  readonly base: number;
  /** Records per batch call (flows, decisions, lookups, packets). */
  readonly maxBatch: number;
  /**
   * Memory as u32 words and as a DataView, current: a core call can grow the
   * memory, which detaches every earlier view, so take them again after each call.
   */
  words(): Uint32Array;
  view(): DataView;
  /** u32 index in words() of flow record i and of decision record i (records written or read as words). */
  flowWord(i: number): number;
  decisionWord(i: number): number;
  /** Write flow record i of REGION_FLOWS (i < maxBatch). */
  writeFlow(i: number, f: FlowSpec): void;
  /** Read decision record i of REGION_DECISIONS, as the last schedule call left it. */
  readDecision(i: number): DecisionRecord;
  /**
   * Count traffic the host forwarded itself (the proxy's sockets, the
   * gateway's kernel-carried fast flows) for a live destination, its service
   * and the total, as the connection table counts the packets it sees: what
   * `-L --stats`, `--rate` and the totals report. Throws OutOfRangeError for a
   * value outside 0..2^32-1 and NoSuchDestError for an unknown destination.
   */
  countTraffic(destId: number, t: TrafficCounts): void;
}

export class Core implements HostCore {
  readonly x: CoreExports;
  readonly base: number;
  readonly maxBatch: number;
  /** u32 index in words() of flow record 0 and of decision record 0. */
  readonly flow0: number;
  readonly dec0: number;
  /**
   * The exports of the per-call path, held in fields: a field of Core is a
   * load at a fixed offset, and every Core has the same shape, so a call site
   * that sees many directors (each with its own export object, see
   * load.ts directExports) still loads them monomorphically.
   */
  readonly scheduleFn: (n: number, now: number) => number;
  readonly destConnEndFn: (id: number, active: number) => number;
  private buf: ArrayBuffer;
  private dv: DataView;
  private u32: Uint32Array;

  constructor(x: CoreExports, seed: number) {
    this.x = x;
    if ((x.abiVersion() >>> 16) !== (version.ABI_VERSION >>> 16)) {
      throw new Error(`wasmvs core ABI ${x.abiVersion().toString(16)} does not match SDK ABI ${version.ABI_VERSION.toString(16)}`);
    }
    const lo = seed >>> 0;
    const hi = Math.floor(seed / 2 ** 32) >>> 0;
    x.init(lo, hi);
    this.base = x.getIoBase();
    this.maxBatch = x.maxBatch();
    this.flow0 = (this.base + L.REGION_FLOWS) >>> 2;
    this.dec0 = (this.base + L.REGION_DECISIONS) >>> 2;
    this.scheduleFn = x.schedule;
    this.destConnEndFn = x.destConnEnd;
    this.buf = x.memory.buffer;
    this.dv = new DataView(this.buf);
    this.u32 = new Uint32Array(this.buf);
    if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) throw new Error('wasmvs needs a little-endian platform');
    // writeFlow/readDecision move whole words: they rely on this packing of the records.
    if (L.FLOW_FWMARK !== 4 || L.FLOW_CADDR !== 8 || L.FLOW_VADDR !== 24 || L.FLOW_CPORT !== 40 || L.FLOW_VPORT !== 42
      || L.FLOW_LEN !== 44 || L.DEC_CONN !== 4 || L.DEC_DEST !== 8 || L.DEC_METHOD !== 12 || L.DEC_DAF !== 13
      || L.DEC_DPORT !== 14 || L.DEC_DADDR !== 16) throw new Error('wasmvs SDK: flow/decision record layout changed; update core.ts');
  }

  /** Current DataView (memory may have grown during the last call). */
  view(): DataView {
    this.words();
    return this.dv;
  }

  private writeAddr(dv: DataView, p: number, w: readonly number[]): void {
    for (let i = 0; i < 4; i++) dv.setUint32(p + 4 * i, (w[i] ?? 0) >>> 0, true);
  }
  private readAddr(dv: DataView, p: number): number[] {
    return [dv.getUint32(p, true), dv.getUint32(p + 4, true), dv.getUint32(p + 8, true), dv.getUint32(p + 12, true)];
  }

  writeServiceSpec(s: ServiceSpec): void {
    const dv = this.view();
    const p = this.base + L.REGION_SPEC;
    new Uint8Array(dv.buffer, p, L.SVC_SPEC_SIZE).fill(0);
    dv.setUint8(p + L.SVC_AF, s.af);
    dv.setUint8(p + L.SVC_PROTO, s.proto);
    dv.setUint16(p + L.SVC_PORT, s.port, true);
    dv.setUint32(p + L.SVC_FWMARK, s.fwmark >>> 0, true);
    this.writeAddr(dv, p + L.SVC_ADDR, s.addr);
    dv.setUint32(p + L.SVC_SCHED, s.sched, true);
    dv.setUint32(p + L.SVC_FLAGS, s.flags, true);
    dv.setUint32(p + L.SVC_TIMEOUT, s.timeout >>> 0, true);
    dv.setUint32(p + L.SVC_NETMASK, s.netmask >>> 0, true);
    dv.setUint32(p + L.SVC_MH_PRIME, s.mhPrime, true);
  }

  readServiceRecord(p: number): ServiceRecord {
    const dv = this.view();
    return {
      af: dv.getUint8(p + L.SVC_AF), proto: dv.getUint8(p + L.SVC_PROTO), port: dv.getUint16(p + L.SVC_PORT, true),
      fwmark: dv.getUint32(p + L.SVC_FWMARK, true), addr: this.readAddr(dv, p + L.SVC_ADDR),
      sched: dv.getUint32(p + L.SVC_SCHED, true), flags: dv.getUint32(p + L.SVC_FLAGS, true),
      timeout: dv.getUint32(p + L.SVC_TIMEOUT, true), netmask: dv.getUint32(p + L.SVC_NETMASK, true),
      mhPrime: dv.getUint32(p + L.SVC_MH_PRIME, true), id: dv.getUint32(p + L.SVC_ID, true),
      ndests: dv.getUint32(p + L.SVC_NDESTS, true),
    };
  }

  writeDestSpec(d: DestSpec): void {
    const dv = this.view();
    const p = this.base + L.REGION_SPEC;
    new Uint8Array(dv.buffer, p, L.DST_SPEC_SIZE).fill(0);
    dv.setUint8(p + L.DST_AF, d.af);
    dv.setUint8(p + L.DST_METHOD, d.method);
    dv.setUint16(p + L.DST_PORT, d.port, true);
    this.writeAddr(dv, p + L.DST_ADDR, d.addr);
    dv.setInt32(p + L.DST_WEIGHT, d.weight, true);
    dv.setUint32(p + L.DST_UTHRESH, d.uThreshold >>> 0, true);
    dv.setUint32(p + L.DST_LTHRESH, d.lThreshold >>> 0, true);
    dv.setUint8(p + L.DST_TUN_TYPE, d.tunType);
    dv.setUint8(p + L.DST_TUN_FLAGS, d.tunFlags);
    dv.setUint16(p + L.DST_TUN_PORT, d.tunPort, true);
  }

  readDestRecord(p: number): DestRecord {
    const dv = this.view();
    return {
      af: dv.getUint8(p + L.DST_AF), method: dv.getUint8(p + L.DST_METHOD), port: dv.getUint16(p + L.DST_PORT, true),
      addr: this.readAddr(dv, p + L.DST_ADDR), weight: dv.getInt32(p + L.DST_WEIGHT, true),
      uThreshold: dv.getUint32(p + L.DST_UTHRESH, true), lThreshold: dv.getUint32(p + L.DST_LTHRESH, true),
      tunType: dv.getUint8(p + L.DST_TUN_TYPE), tunFlags: dv.getUint8(p + L.DST_TUN_FLAGS),
      tunPort: dv.getUint16(p + L.DST_TUN_PORT, true), id: dv.getUint32(p + L.DST_ID, true),
      flags: dv.getUint32(p + L.DST_FLAGS, true), activeconns: dv.getUint32(p + L.DST_ACTIVE, true),
      inactconns: dv.getUint32(p + L.DST_INACTIVE, true), persistconns: dv.getUint32(p + L.DST_PERSIST, true),
      lastWeight: dv.getInt32(p + L.DST_LAST_WEIGHT, true),
    };
  }

  countTraffic(destId: number, t: TrafficCounts): void {
    const st = this.x.statsFeed(destId >>> 0, u32Of(t.conns, 'conns'), u32Of(t.inpkts, 'inpkts'), u32Of(t.inbytes, 'inbytes'),
      u32Of(t.outpkts, 'outpkts'), u32Of(t.outbytes, 'outbytes'));
    if (st < 0) throw errorFromStatus(st, 'dest');
  }

  specAddr(): number { return this.base + L.REGION_SPEC; }
  listAddr(i: number, stride: number): number { return this.base + L.REGION_LIST + i * stride; }

  /** Write flow record i of the flow region. */
  /**
   * Flow record i, written as words (the record is word-aligned; wasm memory
   * and every platform Node runs on are little-endian, checked at load).
   * Byte 3 (FLOW_DIR) is kept: the packet path writes it after this.
   */
  writeFlow(i: number, f: FlowSpec): void {
    this.view();
    const u = this.u32;
    const w = (this.base + L.REGION_FLOWS + i * L.FLOW_SIZE) >>> 2;
    const c = f.caddr;
    const v = f.vaddr;
    u[w] = (u[w] & 0xff000000) | (f.af & 0xff) | ((f.proto & 0xff) << 8) | ((f.tcpflags & 0xff) << 16);
    u[w + 1] = f.fwmark;
    // Addresses are always four words (parseAddr); IPv4 uses the first.
    u[w + 2] = c[0]; u[w + 3] = c[1]; u[w + 4] = c[2]; u[w + 5] = c[3];
    u[w + 6] = v[0]; u[w + 7] = v[1]; u[w + 8] = v[2]; u[w + 9] = v[3];
    u[w + 10] = (f.cport & 0xffff) | ((f.vport & 0xffff) << 16);
    u[w + 11] = f.len;
  }

  /** u32 index of flow record i in words(). */
  flowWord(i: number): number {
    return (this.base + L.REGION_FLOWS + i * L.FLOW_SIZE) >>> 2;
  }

  /** u32 index of decision record i in words() (status, conn, dest, method|daf<<8|dport<<16, daddr). */
  decisionWord(i: number): number {
    return (this.base + L.REGION_DECISIONS + i * L.DECISION_SIZE) >>> 2;
  }

  readDecision(i: number): DecisionRecord {
    this.view();
    const u = this.u32;
    const w = (this.base + L.REGION_DECISIONS + i * L.DECISION_SIZE) >>> 2;
    const m = u[w + 3];
    return {
      status: u[w] | 0, conn: u[w + 1], dest: u[w + 2],
      method: m & 0xff, daf: (m >>> 8) & 0xff, dport: m >>> 16,
      daddr: [u[w + 4], u[w + 5], u[w + 6], u[w + 7]],
    };
  }

  /** Raw u32 view of memory (current: memory may have grown during the last call). */
  words(): Uint32Array {
    // Growing wasm memory detaches the old buffer, and a view of a detached
    // buffer has length 0. The optimizing compiler reads a typed array's
    // length inline; the memory.buffer getter costs ~20 ns and even the
    // buffer's byteLength getter is a builtin call.
    if (this.u32.length === 0) {
      this.buf = this.x.memory.buffer;
      this.dv = new DataView(this.buf);
      this.u32 = new Uint32Array(this.buf);
    }
    return this.u32;
  }
}

function u32Of(v: number | undefined, name: string): number {
  const n = v ?? 0;
  if (!Number.isInteger(n) || n < 0 || n > 0xFFFFFFFF) throw new OutOfRangeError(`${name} must be an integer in 0..2^32-1, got ${n}`);
  return n >>> 0;
}
