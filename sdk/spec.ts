// SDK inputs encoded as core specs, with ipvsadm's defaults: addresses and
// names parsed, types checked (what cannot be encoded fails here, with
// ipvsadm's message). Ranges and combinations are checked once, on the
// encoded record, by bulk.ts checkRecord. Nothing here touches the core.
import { layout as L } from './core/abi.gen.js';
import type { ServiceSpec, DestSpec, FlowSpec } from './core/core.js';
import { parseAddr, parseNetmask4, isValidPort } from './address.js';
import { invalid, InvalidOperationError } from './errors.js';
import { schedulerId, flagBit, flagScheduler } from './schedulers.js';
import type { ServiceKey, ServiceOptions, DestOptions, Method, Protocol, FlowInput } from './types.js';

export const PROTOCOLS: Record<Protocol, number> = { tcp: L.PROTO_TCP, udp: L.PROTO_UDP, sctp: L.PROTO_SCTP };
export const METHODS: Record<Method, number> = {
  masq: L.METHOD_MASQ, local: L.METHOD_LOCAL, tunnel: L.METHOD_TUNNEL, route: L.METHOD_ROUTE,
};
export const METHOD_NAMES: Method[] = ['masq', 'local', 'tunnel', 'route'];
export const TUN_TYPES = ['ipip', 'gue', 'gre'] as const;
export const TUN_CSUMS = ['nocsum', 'csum', 'remcsum'] as const;
export const DEFAULT_PERSISTENT_TIMEOUT = 360;
/** The scheduler id an unknown name gets (bulk.ts checkRecord: ENOSCHED, as IPVS says). */
const UNKNOWN_SCHED = 0xffffffff;
const U32 = 0xffffffff;

const own = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

/** The key part of a service spec (af, protocol, address words, port, fwmark). */
export function serviceKeySpec(key: ServiceKey): Pick<ServiceSpec, 'af' | 'proto' | 'port' | 'fwmark' | 'addr'> {
  if (key === null || typeof key !== 'object') throw invalid.vaddr();
  if (own(key, 'fwmark')) {
    const k = key as { fwmark: number; af?: 4 | 6 };
    if (!Number.isInteger(k.fwmark) || k.fwmark < 1 || k.fwmark > 0xffffffff) throw invalid.fwmark(k.fwmark);
    const af = k.af ?? 4;
    if (af !== 4 && af !== 6) throw invalid.vaddr();
    return { af, proto: 0, port: 0, fwmark: k.fwmark, addr: [0, 0, 0, 0] };
  }
  const k = key as { protocol: Protocol; address: string; port: number };
  if (!own(PROTOCOLS, String(k.protocol))) throw invalid.protocol(k.protocol);
  const a = parseAddr(k.address);
  if (!a || !isValidPort(k.port)) throw invalid.vaddr();
  return { af: a.af, proto: PROTOCOLS[k.protocol], port: k.port, fwmark: 0, addr: a.w };
}

/** A spec that only names a service (lookups by key); options zeroed. */
export function serviceLookupSpec(key: ServiceKey): ServiceSpec {
  const k = serviceKeySpec(key);
  return { af: k.af, proto: k.proto, port: k.port, fwmark: k.fwmark, addr: k.addr, sched: 0, flags: 0, timeout: 0, netmask: 0, mhPrime: 0 };
}

/** Full spec for -A/-E: every option replaced, ipvsadm defaults for the rest (ranges: checkRecord). */
export function serviceSpec(key: ServiceKey, opts: ServiceOptions = {}): ServiceSpec {
  const k = serviceKeySpec(key);
  if (opts === null || typeof opts !== 'object') throw new InvalidOperationError('service options must be an object');
  const schedName = opts.scheduler ?? 'wlc';
  // ipvsadm passes any -s name to the kernel, which answers ENOENT (checkRecord).
  const sched = (typeof schedName === 'string' ? schedulerId(schedName) : undefined) ?? UNKNOWN_SCHED;
  let flags = 0;
  let timeout = 0;
  const p = opts.persistent;
  if (p !== undefined && p !== false) {
    timeout = p === true ? DEFAULT_PERSISTENT_TIMEOUT : p;
    if (!checkInt(timeout, 0, U32)) throw invalid.timeout(p);
    flags |= L.SVC_F_PERSISTENT;
  }
  let netmask = k.af === 6 ? 128 : 0xffffffff;
  if (opts.netmask !== undefined) {
    if (k.af === 6) {
      const n = opts.netmask;
      if (!checkInt(n, 0, U32)) throw invalid.netmask6();
      netmask = n as number;
    } else {
      const m = typeof opts.netmask === 'string' ? parseNetmask4(opts.netmask) : null;
      if (m === null) throw invalid.netmask();
      netmask = m;
    }
  }
  const flagList = opts.flags ?? [];
  if (!Array.isArray(flagList)) throw invalid.schedFlag(String(flagList));
  for (const f of flagList) {
    const bit = flagBit(f);
    if (bit === undefined) throw invalid.schedFlag(f);
    const owner = flagScheduler(f as never);
    if (owner !== null && owner !== schedName) throw invalid.schedFlagIncompatible(f);
    flags |= bit;
  }
  if (opts.ops) flags |= L.SVC_F_ONEPACKET;
  let mhPrime = 0;
  if (opts.mhTableSize !== undefined) {
    if (!checkInt(opts.mhTableSize, 1, U32)) throw invalid.mhTableSize(opts.mhTableSize);
    mhPrime = opts.mhTableSize;
  }
  // Fields written out: an object spread here costs microseconds on Node 20.
  return { af: k.af, proto: k.proto, port: k.port, fwmark: k.fwmark, addr: k.addr, sched, flags, timeout, netmask, mhPrime };
}

function checkInt(v: unknown, lo: number, hi: number): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
}

/** The address part of a dest, for -e/-d lookups. */
export function destKeySpec(svcPort: number, d: Pick<DestOptions, 'address' | 'port'>): Pick<DestSpec, 'af' | 'addr' | 'port'> {
  if (d === null || typeof d !== 'object') throw invalid.raddr();
  const a = parseAddr(d.address);
  const port = d.port ?? svcPort;
  if (!a || !isValidPort(port)) throw invalid.raddr();
  return { af: a.af, addr: a.w, port };
}

/** Full spec for -a/-e (defaults: weight 1, Route, ipip/nocsum tunnel; ranges: checkRecord). */
export function destSpec(svc: { af: number; port: number }, d: DestOptions): DestSpec {
  const k = destKeySpec(svc.port, d);
  const weight = d.weight ?? 1;
  if (!checkInt(weight, 0, U32)) throw invalid.weight();
  const u = d.uThreshold ?? 0;
  if (!checkInt(u, 0, U32)) throw invalid.uThreshold();
  const l = d.lThreshold ?? 0;
  if (!checkInt(l, 0, U32)) throw invalid.lThreshold();
  const methodName = d.method ?? 'route';
  if (!own(METHODS, String(methodName))) throw invalid.method(methodName);
  const method = METHODS[methodName];
  let tunType = 0, tunFlags = 0, tunPort = 0;
  if (d.tunnel !== undefined) {
    if (method !== L.METHOD_TUNNEL) throw invalid.tunnelOptions();
    const t = d.tunnel;
    tunType = TUN_TYPES.indexOf((t.type ?? 'ipip') as never);
    if (tunType < 0) throw invalid.tunType();
    tunFlags = TUN_CSUMS.indexOf((t.csum ?? 'nocsum') as never);
    if (tunFlags < 0) throw invalid.tunType();
    if (t.port !== undefined && (!checkInt(t.port, 1, 65535) || tunType !== 1)) throw invalid.tunPort();
    if (tunType === 1 && t.port === undefined) throw invalid.tunPort();
    if (tunType === 0 && tunFlags !== 0) throw invalid.tunnelOptions();
    if (tunType === 2 && tunFlags === 2) throw invalid.tunnelOptions();
    tunPort = t.port ?? 0;
  }
  return { af: k.af, addr: k.addr, port: k.port, method, weight, uThreshold: u, lThreshold: l, tunType, tunFlags, tunPort };
}

// The flow checkFlow last accepted, in record form: module state rather than
// an object per call, read right after by flowSpec or writeFlowWords.
let fAf = 4;
let fProto = 0;
let fFlags = 0;
let fMark = 0;
let fCport = 0;
let fVport = 0;
let fC: readonly number[] = [0, 0, 0, 0];
let fV: readonly number[] = [0, 0, 0, 0];

/** The checks of a FlowInput (one place for flowSpec and writeFlowWords); results in the f* variables. */
function checkFlow(f: FlowInput): void {
  if (f === null || typeof f !== 'object') throw invalid.vaddr();
  // A chain of compares: cheaper per call than a lookup through hasOwnProperty.
  const p = f.protocol;
  const proto = p === 'tcp' ? L.PROTO_TCP : p === 'udp' ? L.PROTO_UDP : p === 'sctp' ? L.PROTO_SCTP : -1;
  if (proto < 0) throw invalid.protocol(f.protocol);
  const ce = f.client;
  const ve = f.virtual;
  const c = ce && parseAddr(ce.address);
  const v = ve && parseAddr(ve.address);
  const vport = v ? ve.port : undefined;
  if (!v || !isValidPort(vport)) throw invalid.vaddr();
  const cport = c ? ce.port : undefined;
  if (!c || !isValidPort(cport) || c.af !== v.af) throw invalid.caddr();
  const mark = f.fwmark ?? 0;
  if (!checkInt(mark, 0, 0xffffffff)) throw invalid.fwmark(mark);
  const flags = f.tcpFlags;
  if (flags !== undefined && !checkInt(flags, 0, 255)) throw invalid.tcpFlags(flags);
  // scheduleBatch uses one time for the batch, but a flow's own `now` must still be a time.
  const now = f.now;
  if (now !== undefined && !(typeof now === 'number' && Number.isFinite(now) && now >= 0)) {
    throw new InvalidOperationError(`bad time ${String(now)}`);
  }
  fAf = v.af; fProto = proto; fFlags = flags === undefined ? 0x02 : flags; fMark = mark;
  fCport = cport; fVport = vport; fC = c.w; fV = v.w;
}

/** The FlowSpec of f, validated. */
export function flowSpec(f: FlowInput): FlowSpec {
  checkFlow(f);
  return { af: fAf, proto: fProto, tcpflags: fFlags, fwmark: fMark, caddr: fC as FlowSpec['caddr'], vaddr: fV as FlowSpec['vaddr'], cport: fCport, vport: fVport, len: 0 };
}

/**
 * f, validated as flowSpec does, written as the core's flow record at u32
 * index `w` of `u` (the layout Core.writeFlow writes; FLOW_DIR, read by the
 * packet export only, is 0): the per-call path of Director.schedule.
 */
export function writeFlowWords(f: FlowInput, u: Uint32Array, w: number): void {
  checkFlow(f);
  const c = fC;
  const v = fV;
  u[w] = fAf | (fProto << 8) | (fFlags << 16);
  u[w + 1] = fMark;
  u[w + 2] = c[0]; u[w + 3] = c[1]; u[w + 4] = c[2]; u[w + 5] = c[3];
  u[w + 6] = v[0]; u[w + 7] = v[1]; u[w + 8] = v[2]; u[w + 9] = v[3];
  u[w + 10] = fCport | (fVport << 16);
  u[w + 11] = 0;
}
