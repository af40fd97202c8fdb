// Director: IPVS's configuration operations and scheduling over one core.
import { Core, type ServiceRecord, type DestRecord, type DecisionRecord } from './core/core.js';
import { instantiateCore, type WasmSource, type CoreFlavor } from './core/load.js';
import { layout as L, status } from './core/abi.gen.js';
import { errorFromStatus, InvalidOperationError } from './errors.js';
import { formatAddr } from './address.js';
import { schedulerName, flagNames } from './schedulers.js';
import { serviceSpec, serviceKeySpec, destSpec, destKeySpec, flowSpec, METHOD_NAMES, TUN_TYPES, TUN_CSUMS, PROTOCOLS } from './spec.js';
import type {
  ServiceKey, ServiceOptions, DestOptions, ServiceInfo, DestInfo, FlowInput, Decision, BatchResult, Protocol,
} from './types.js';

export interface DirectorOptions {
  /** Seed for hashes and the twos PRNG; random when omitted. */
  seed?: number;
  /** Where the core comes from (path, URL, bytes or a compiled module); default the packaged build. */
  wasm?: WasmSource;
  /** Which packaged build to load; tests use 'debug'. */
  flavor?: CoreFlavor;
  /** Clock in seconds used when a call does not pass `now`; default a monotonic clock from creation. */
  clock?: () => number;
}

const PROTO_NAMES = new Map<number, Protocol>(Object.entries(PROTOCOLS).map(([k, v]) => [v, k as Protocol]));

function monotonicSeconds(): () => number {
  const t0 = typeof performance !== 'undefined' ? performance.now() : Date.now();
  return () => ((typeof performance !== 'undefined' ? performance.now() : Date.now()) - t0) / 1000;
}

export class Director {
  readonly core: Core;
  private readonly clock: () => number;
  /** Endpoint objects per dest id, reused by schedule() (cleared on any dest change). */
  private readonly endpoints = new Map<number, { address: string; port: number }>();

  private constructor(core: Core, clock: () => number) {
    this.core = core;
    this.clock = clock;
  }

  static async create(opts: DirectorOptions = {}): Promise<Director> {
    const flavor = opts.flavor ?? (typeof process !== 'undefined' && process.env?.WASMVS_CORE === 'debug' ? 'debug' : 'release');
    const x = await instantiateCore(opts.wasm, flavor);
    const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 52);
    return new Director(new Core(x, seed), opts.clock ?? monotonicSeconds());
  }

  /** Seconds as the core sees them (u32). */
  now(at?: number): number {
    const t = at ?? this.clock();
    if (!Number.isFinite(t) || t < 0) throw new InvalidOperationError(`bad time ${t}`);
    return Math.floor(t) >>> 0;
  }

  private check(st: number, op: 'service' | 'dest' | 'other'): number {
    if (st < 0) throw errorFromStatus(st, op);
    return st;
  }

  // --- services ---------------------------------------------------------------

  /** ipvsadm -A. Defaults: wlc, not persistent. Returns the service id. */
  addService(key: ServiceKey, opts: ServiceOptions = {}): number {
    this.core.writeServiceSpec(serviceSpec(key, opts));
    return this.check(this.core.x.svcAdd(), 'service');
  }

  /** ipvsadm -E: replaces every option (omitted ones go back to defaults). */
  editService(key: ServiceKey, opts: ServiceOptions = {}): number {
    this.core.writeServiceSpec(serviceSpec(key, opts));
    this.endpoints.clear();
    return this.check(this.core.x.svcEdit(), 'service');
  }

  /** The id of a service, or throws NoSuchServiceError. */
  serviceId(key: ServiceKey): number {
    const k = serviceKeySpec(key);
    this.core.writeServiceSpec({ ...k, sched: 0, flags: 0, timeout: 0, netmask: 0, mhPrime: 0 });
    return this.check(this.core.x.svcFind(), 'service');
  }

  /** ipvsadm -D (its destinations go too). */
  deleteService(key: ServiceKey): void {
    const id = this.serviceId(key);
    this.check(this.core.x.svcDelete(id), 'service');
    this.endpoints.clear();
  }

  /** ipvsadm -C. */
  clear(): void {
    this.check(this.core.x.svcClear(), 'other');
    this.endpoints.clear();
  }

  service(key: ServiceKey): ServiceInfo {
    const id = this.serviceId(key);
    this.check(this.core.x.svcGet(id), 'service');
    return this.serviceInfo(this.core.readServiceRecord(this.core.specAddr()));
  }

  /** Snapshot of every service, in id order. */
  services(): ServiceInfo[] {
    const out: ServiceInfo[] = [];
    let cursor = 0;
    do {
      const n = this.check(this.core.x.svcList(cursor), 'service');
      for (let i = 0; i < n; i++) out.push(this.serviceInfo(this.core.readServiceRecord(this.core.listAddr(i, L.SVC_RECORD_SIZE))));
      cursor = this.core.x.listCursor();
    } while (cursor !== 0);
    return out;
  }

  private serviceInfo(r: ServiceRecord): ServiceInfo {
    const sched = schedulerName(r.sched);
    const persistent = (r.flags & L.SVC_F_PERSISTENT) !== 0;
    return {
      id: r.id, af: r.af as 4 | 6, fwmark: r.fwmark, port: r.port,
      protocol: r.fwmark ? null : PROTO_NAMES.get(r.proto) ?? null,
      address: r.fwmark ? null : formatAddr(r.af, r.addr[0], r.addr[1], r.addr[2], r.addr[3]),
      scheduler: sched, flags: flagNames(sched, r.flags), persistent: persistent ? r.timeout : 0,
      netmask: r.af === 6 ? r.netmask : formatAddr(4, r.netmask), ops: (r.flags & L.SVC_F_ONEPACKET) !== 0,
      mhTableSize: r.mhPrime || 4093, destCount: r.ndests,
    };
  }

  // --- destinations -------------------------------------------------------------

  private svcForDest(key: ServiceKey): { id: number; af: number; port: number } {
    const k = serviceKeySpec(key);
    this.core.writeServiceSpec({ ...k, sched: 0, flags: 0, timeout: 0, netmask: 0, mhPrime: 0 });
    const id = this.check(this.core.x.svcFind(), 'dest');
    return { id, af: k.af, port: k.port };
  }

  /** ipvsadm -a. Defaults: weight 1, Route, port = the service's. Returns the dest id. */
  addDest(key: ServiceKey, d: DestOptions): number {
    const svc = this.svcForDest(key);
    this.core.writeDestSpec(destSpec(svc, d));
    this.endpoints.clear();
    return this.check(this.core.x.destAdd(svc.id), 'dest');
  }

  /** ipvsadm -e: replaces weight, method, thresholds and tunnel options. */
  editDest(key: ServiceKey, d: DestOptions): number {
    const svc = this.svcForDest(key);
    this.core.writeDestSpec(destSpec(svc, d));
    this.endpoints.clear();
    return this.check(this.core.x.destEdit(svc.id), 'dest');
  }

  /** ipvsadm -d. */
  deleteDest(key: ServiceKey, d: { address: string; port?: number }): void {
    const svc = this.svcForDest(key);
    const k = destKeySpec(svc.port, d);
    this.core.writeDestSpec({ ...k, method: 0, weight: 0, uThreshold: 0, lThreshold: 0, tunType: 0, tunFlags: 0, tunPort: 0 });
    this.endpoints.clear();
    this.check(this.core.x.destDelete(svc.id), 'dest');
  }

  /** Snapshot of a service's destinations in IPVS list order (newest first). */
  dests(key: ServiceKey): DestInfo[] {
    const svc = this.svcForDest(key);
    const out: DestInfo[] = [];
    let cursor = 0;
    do {
      const n = this.core.x.destList(svc.id, cursor);
      if (n < 0) throw errorFromStatus(n, 'service');
      for (let i = 0; i < n; i++) out.push(this.destInfo(this.core.readDestRecord(this.core.listAddr(i, L.DST_RECORD_SIZE))));
      cursor = this.core.x.listCursor();
    } while (cursor !== 0);
    return out;
  }

  /** One destination by id (also while it waits in the trash). */
  destById(id: number): DestInfo {
    this.check(this.core.x.destGet(id), 'dest');
    return this.destInfo(this.core.readDestRecord(this.core.specAddr()));
  }

  private destInfo(r: DestRecord): DestInfo {
    return {
      id: r.id, af: r.af as 4 | 6, address: formatAddr(r.af, r.addr[0], r.addr[1], r.addr[2], r.addr[3]), port: r.port,
      weight: r.weight, method: METHOD_NAMES[r.method] ?? 'route', uThreshold: r.uThreshold, lThreshold: r.lThreshold,
      tunnel: { type: TUN_TYPES[r.tunType] ?? 'ipip', port: r.tunPort, csum: TUN_CSUMS[r.tunFlags] ?? 'nocsum' },
      available: (r.flags & L.DEST_F_AVAILABLE) !== 0, overloaded: (r.flags & L.DEST_F_OVERLOAD) !== 0,
      activeconns: r.activeconns, inactconns: r.inactconns, persistconns: r.persistconns,
    };
  }

  /**
   * Set a destination's connection counters directly: for simulations and
   * scheduler studies that model load without real connections.
   */
  setDestConns(destId: number, activeconns: number, inactconns: number): void {
    this.check(this.core.x.destSetConns(destId, activeconns >>> 0, inactconns >>> 0), 'dest');
  }

  // --- scheduling ---------------------------------------------------------------

  private decision(r: DecisionRecord): Decision {
    let ep = this.endpoints.get(r.dest);
    if (ep === undefined) {
      ep = Object.freeze({ address: formatAddr(r.daf, r.daddr[0], r.daddr[1], r.daddr[2], r.daddr[3]), port: r.dport });
      this.endpoints.set(r.dest, ep);
    } else if (ep.port !== r.dport) {
      ep = Object.freeze({ address: ep.address, port: r.dport });
    }
    return { id: r.conn, dest: ep, destId: r.dest, method: METHOD_NAMES[r.method] ?? 'route' };
  }

  /** Schedule one new flow; null when no destination is available or no service matches. */
  schedule(flow: FlowInput): Decision | null {
    this.core.writeFlow(0, flowSpec(flow));
    this.core.x.schedule(1, this.now(flow.now));
    const r = this.core.readDecision(0);
    return r.status < 0 ? null : this.decision(r);
  }

  /** Schedule many flows in as few core calls as possible; one result per flow. */
  scheduleBatch(flows: readonly FlowInput[], now?: number): BatchResult[] {
    const out: BatchResult[] = [];
    const t = this.now(now);
    for (let start = 0; start < flows.length; start += this.core.maxBatch) {
      const chunk = flows.slice(start, start + this.core.maxBatch);
      chunk.forEach((f, i) => this.core.writeFlow(i, flowSpec(f)));
      this.core.x.schedule(chunk.length, t);
      for (let i = 0; i < chunk.length; i++) {
        const r = this.core.readDecision(i);
        if (r.status >= 0) out.push({ ok: true, ...this.decision(r) });
        else out.push({ ok: false, status: r.status, reason: reasonOf(r.status) });
      }
    }
    return out;
  }

  /** A named global counter (see core/abi.gen.ts `counters`). */
  counter(index: number): number {
    return this.core.x.counter(index);
  }
}

function reasonOf(st: number): 'no-destination' | 'not-ours' | 'port-mismatch' | 'invalid' {
  if (st === status.E_NO_DEST_AVAILABLE) return 'no-destination';
  if (st === status.E_NOT_OURS) return 'not-ours';
  if (st === status.E_PORT) return 'port-mismatch';
  return 'invalid';
}
