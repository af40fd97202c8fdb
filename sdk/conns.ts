// The connection-table part of the SDK: listing, socket events, packets,
// timeouts and options over one Core. Director delegates to these.
import type { Core } from './core/core.js';
import { layout as L, status } from './core/abi.gen.js';
import { errorFromStatus, InvalidOperationError, WasmvsError } from './errors.js';
import { formatAddr, parseAddr, isValidPort } from './address.js';
import { METHOD_NAMES, PROTOCOLS } from './spec.js';
import { invalid } from './errors.js';
import type { Endpoint, Method, Protocol } from './types.js';

export type ConnState =
  | 'NONE' | 'ESTABLISHED' | 'SYN_SENT' | 'SYN_RECV' | 'FIN_WAIT' | 'TIME_WAIT' | 'CLOSE' | 'CLOSE_WAIT'
  | 'LAST_ACK' | 'LISTEN' | 'SYNACK' | 'UDP' | 'ASSURED';

const TCP_STATES: ConnState[] = [
  'NONE', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT', 'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'SYNACK',
];

export interface ConnInfo {
  id: number;
  protocol: Protocol | 'ip';
  client: Endpoint;
  /** The VIP and port; for fwmark templates the mark as an IPv4 value, port 0. */
  virtual: Endpoint;
  dest: Endpoint;
  destId: number;
  state: ConnState;
  /** Seconds until the entry expires. */
  expires: number;
  template: boolean;
  method: Method;
  /** Templates: how many connections they control. */
  controlled: number;
  /** Connection counted in inactconns (false: activeconns). */
  inactive: boolean;
}

export type ConnEventName = 'established' | 'client-fin' | 'server-fin' | 'reset' | 'close';
const EVENTS: Record<ConnEventName, number> = {
  established: L.CONN_EV_ESTABLISHED, 'client-fin': L.CONN_EV_CLIENT_FIN, 'server-fin': L.CONN_EV_SERVER_FIN,
  reset: L.CONN_EV_RESET, close: L.CONN_EV_CLOSE,
};

export interface Timeouts { tcp: number; tcpfin: number; udp: number }

export interface ConnOptions {
  /** conn_reuse_mode bitmap 0..3, default 1. */
  connReuseMode?: number;
  expireNodestConn?: boolean;
  expireQuiescentTemplate?: boolean;
  /** sloppy_tcp: any TCP packet but a RST may create a connection (several directors behind ECMP). */
  sloppyTcp?: boolean;
  /** Most live entries (connections + templates); 0 = no limit (default). */
  connLimit?: number;
  /** secure_tcp 0..3 (0 off, 1/2 at 3/4 of connLimit, 3 always). */
  secureTcp?: number;
  /** drop_entry 0..3, same modes. */
  dropEntry?: number;
  /**
   * The core's memory budget in bytes (rounded down to 64 KiB pages; 0 = wasm's own 4 GiB).
   * Beyond it configuration calls fail with ENOMEM and new connections are refused and
   * counted; secure_tcp/drop_entry modes 1 and 2 switch on at 3/4 of it.
   */
  memoryLimit?: number;
}

const OPTION_IDS: Record<keyof ConnOptions, number> = {
  connReuseMode: L.OPT_CONN_REUSE_MODE, expireNodestConn: L.OPT_EXPIRE_NODEST_CONN,
  expireQuiescentTemplate: L.OPT_EXPIRE_QUIESCENT_TEMPLATE, connLimit: L.OPT_CONN_LIMIT,
  secureTcp: L.OPT_SECURE_TCP, dropEntry: L.OPT_DROP_ENTRY, memoryLimit: L.OPT_MEM_LIMIT_PAGES, sloppyTcp: L.OPT_SLOPPY_TCP,
};

/** TCP flag names a packet may carry. */
export interface TcpFlags { syn?: boolean; ack?: boolean; fin?: boolean; rst?: boolean }

export interface PacketInput {
  protocol: Protocol;
  /** 'in': client → VIP. 'out': a reply; `client` is its destination, `virtual` its source (real server for NAT). */
  direction: 'in' | 'out';
  client: Endpoint;
  virtual: Endpoint;
  flags?: TcpFlags | number;
  /** IP packet length in bytes (statistics). */
  length?: number;
  fwmark?: number;
}

export type PacketResult =
  | { ok: true; id: number; destId: number; method: Method; address: Endpoint }
  | { ok: false; status: number; verdict: 'pass' | 'drop' | 'unreachable' | 'full' | 'invalid' };

export function tcpFlagBits(f: TcpFlags | number | undefined, dflt: number): number {
  if (f === undefined) return dflt;
  if (typeof f === 'number') return f & 0xff;
  return (f.fin ? 0x01 : 0) | (f.syn ? 0x02 : 0) | (f.rst ? 0x04 : 0) | (f.ack ? 0x10 : 0);
}

function stateName(proto: number, code: number): ConnState {
  if (code === L.CONN_S_UDP) return 'UDP';
  if (code === L.CONN_S_ASSURED) return 'ASSURED';
  return TCP_STATES[code] ?? 'NONE';
}

function protoName(p: number): Protocol | 'ip' {
  return p === L.PROTO_TCP ? 'tcp' : p === L.PROTO_UDP ? 'udp' : p === L.PROTO_SCTP ? 'sctp' : 'ip';
}

function readConn(core: Core, p: number): ConnInfo {
  const dv = core.view();
  const a = (o: number) => [0, 4, 8, 12].map((k) => dv.getUint32(p + o + k, true));
  const af = dv.getUint8(p + L.CONN_AF);
  const daf = dv.getUint8(p + L.CONN_DAF);
  const flags = dv.getUint32(p + L.CONN_FLAGS, true);
  const proto = dv.getUint8(p + L.CONN_PROTO);
  const c = a(L.CONN_CADDR), v = a(L.CONN_VADDR), d = a(L.CONN_DADDR);
  const template = (flags & L.CONN_F_TEMPLATE) !== 0;
  return {
    id: dv.getUint32(p + L.CONN_ID, true), protocol: protoName(proto),
    client: { address: formatAddr(af, c[0], c[1], c[2], c[3]), port: dv.getUint16(p + L.CONN_CPORT, true) },
    virtual: { address: formatAddr(af, v[0], v[1], v[2], v[3]), port: dv.getUint16(p + L.CONN_VPORT, true) },
    dest: { address: formatAddr(daf, d[0], d[1], d[2], d[3]), port: dv.getUint16(p + L.CONN_DPORT, true) },
    destId: dv.getUint32(p + L.CONN_DEST, true), state: stateName(proto, dv.getUint8(p + L.CONN_STATE)),
    expires: dv.getUint32(p + L.CONN_EXPIRES, true), template, method: METHOD_NAMES[flags & 7] ?? 'route',
    controlled: dv.getUint32(p + L.CONN_NCONTROL, true), inactive: (flags & L.CONN_F_INACTIVE) !== 0,
  };
}

/** Every live entry (connections and templates), in table order. */
export function listConns(core: Core, now: number): ConnInfo[] {
  const out: ConnInfo[] = [];
  for (const page of connPages(core, now)) for (const c of page) out.push(c);
  return out;
}

/**
 * The connection table a page at a time (one core call each), for hosts that
 * stream a listing and let other work run between pages. Like the kernel's
 * /proc/net/ip_vs_conn, the walk is not a snapshot: entries created or freed
 * between pages may be missed or, if a record is reused, seen twice.
 */
export function* connPages(core: Core, now: number): Generator<ConnInfo[]> {
  let cursor = 0;
  do {
    const n = core.x.connList(cursor, now);
    if (n < 0) throw errorFromStatus(n, 'other');
    const page: ConnInfo[] = [];
    for (let i = 0; i < n; i++) page.push(readConn(core, core.listAddr(i, L.CONN_RECORD_SIZE)));
    cursor = core.x.listCursor();
    yield page;
  } while (cursor !== 0);
}

export class NoSuchConnectionError extends WasmvsError {
  constructor() { super('ENOCONN', 'No such connection'); }
}

export function getConn(core: Core, id: number, now: number): ConnInfo | null {
  const st = core.x.connGet(id >>> 0, now);
  if (st === status.E_NOCONN) return null;
  if (st < 0) throw errorFromStatus(st, 'other');
  return readConn(core, core.specAddr());
}

/** Feed a socket event; returns the entry's state afterwards. */
export function connEvent(core: Core, id: number, event: ConnEventName, now: number): ConnState {
  const ev = Object.prototype.hasOwnProperty.call(EVENTS, event) ? EVENTS[event] : undefined;
  if (ev === undefined) throw new InvalidOperationError(`unknown connection event ${String(event)}`);
  const st = core.x.connEvent(id >>> 0, ev, now);
  if (st === status.E_NOCONN) throw new NoSuchConnectionError();
  if (st < 0) throw errorFromStatus(st, 'other');
  return TCP_STATES[st] ?? 'NONE';
}

export function setTimeouts(core: Core, t: Partial<Timeouts>): void {
  const v = (x: number | undefined) => {
    if (x === undefined) return 0;
    if (!Number.isInteger(x) || x < 0) throw invalid.timeout(x);
    return x;
  };
  const st = core.x.setTimeouts(v(t.tcp), v(t.tcpfin), v(t.udp));
  if (st < 0) throw invalid.timeout(`${t.tcp} ${t.tcpfin} ${t.udp}`);
}

export function getTimeouts(core: Core): Timeouts {
  return { tcp: core.x.getTimeout(0), tcpfin: core.x.getTimeout(1), udp: core.x.getTimeout(2) };
}

export function setConnOptions(core: Core, o: ConnOptions): void {
  for (const [k, id] of Object.entries(OPTION_IDS) as [keyof ConnOptions, number][]) {
    const raw = o[k];
    if (raw === undefined) continue;
    let v = typeof raw === 'boolean' ? (raw ? 1 : 0) : raw;
    if (k === 'memoryLimit') {
      if (!Number.isInteger(v) || v < 0 || v > 2 ** 32) throw new InvalidOperationError(`bad ${k} ${String(raw)}`);
      v = Math.floor(v / 65536);
      if (raw !== 0 && v === 0) throw new InvalidOperationError(`bad ${k} ${String(raw)} (less than one 64 KiB page)`);
    }
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new InvalidOperationError(`bad ${k} ${String(raw)}`);
    const st = core.x.setOption(id, v);
    if (st < 0) throw new InvalidOperationError(`bad ${k} ${String(raw)}`);
  }
}

export function getConnOptions(core: Core): Required<ConnOptions> {
  const g = (id: number) => core.x.getOption(id);
  return {
    connReuseMode: g(L.OPT_CONN_REUSE_MODE), expireNodestConn: g(L.OPT_EXPIRE_NODEST_CONN) === 1,
    expireQuiescentTemplate: g(L.OPT_EXPIRE_QUIESCENT_TEMPLATE) === 1, connLimit: g(L.OPT_CONN_LIMIT),
    secureTcp: g(L.OPT_SECURE_TCP), dropEntry: g(L.OPT_DROP_ENTRY), memoryLimit: g(L.OPT_MEM_LIMIT_PAGES) * 65536,
    sloppyTcp: g(L.OPT_SLOPPY_TCP) === 1,
  };
}

function verdictOf(st: number): 'pass' | 'drop' | 'unreachable' | 'full' | 'invalid' {
  if (st === status.E_NOT_OURS || st === status.E_NOCONN || st === status.E_PORT) return 'pass';
  if (st === status.E_DROP) return 'drop';
  if (st === status.E_NO_DEST_AVAILABLE) return 'unreachable';
  if (st === status.E_CONN_LIMIT || st === status.E_NOMEM) return 'full';
  return 'invalid';
}

function packetSpec(p: PacketInput) {
  if (p === null || typeof p !== 'object') throw invalid.vaddr();
  if (!Object.prototype.hasOwnProperty.call(PROTOCOLS, String(p.protocol))) throw invalid.protocol(p.protocol);
  if (p.direction !== 'in' && p.direction !== 'out') throw new InvalidOperationError(`bad direction ${String(p.direction)}`);
  const c = p.client && parseAddr(p.client.address);
  const v = p.virtual && parseAddr(p.virtual.address);
  if (!v || !isValidPort(p.virtual.port)) throw invalid.vaddr();
  if (!c || !isValidPort(p.client.port) || c.af !== v.af) throw invalid.raddr();
  const len = p.length ?? 0;
  if (!Number.isInteger(len) || len < 0 || len > 0xffffffff) throw new InvalidOperationError(`bad length ${len}`);
  return {
    af: v.af, proto: PROTOCOLS[p.protocol], tcpflags: tcpFlagBits(p.flags, 0), fwmark: p.fwmark ?? 0,
    caddr: c.w, vaddr: v.w, cport: p.client.port, vport: p.virtual.port, len,
    dir: p.direction === 'out' ? L.FLOW_DIR_OUT : L.FLOW_DIR_IN,
  };
}

/** A burst of packets through the connection table; one result per packet. */
export function packets(core: Core, list: readonly PacketInput[], now: number): PacketResult[] {
  const out: PacketResult[] = [];
  for (let start = 0; start < list.length; start += core.maxBatch) {
    const chunk = list.slice(start, start + core.maxBatch);
    chunk.forEach((p, i) => {
      const s = packetSpec(p);
      core.writeFlow(i, s);
      core.view().setUint8(core.base + L.REGION_FLOWS + i * L.FLOW_SIZE + L.FLOW_DIR, s.dir);
    });
    const n = core.x.packetBatch(chunk.length, now);
    if (n < 0) throw errorFromStatus(n, 'other');
    for (let i = 0; i < chunk.length; i++) {
      const r = core.readDecision(i);
      if (r.status < 0) out.push({ ok: false, status: r.status, verdict: verdictOf(r.status) });
      else out.push({
        ok: true, id: r.conn, destId: r.dest, method: METHOD_NAMES[r.method] ?? 'route',
        address: { address: formatAddr(r.daf, r.daddr[0], r.daddr[1], r.daddr[2], r.daddr[3]), port: r.dport },
      });
    }
  }
  return out;
}
