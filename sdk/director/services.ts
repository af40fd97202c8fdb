// Director's services and destinations (ipvsadm -A/-E/-D/-C, -a/-e/-d,
// listings, and the destination state hosts set). Director is one class built
// in layers, one concern a file: DirectorServices (here) ← DirectorConns
// (conns.ts) ← DirectorStats (stats.ts) ← Director (../director.ts: creation,
// the clock and scheduling). The chain is only how one class gets all their
// methods; each layer keeps its own ES-private reference to the core.
import type { Core, ServiceRecord, DestRecord } from '../core/core.js';
import { layout as L } from '../core/abi.gen.js';
import { errorFromStatus } from '../errors.js';
import { formatAddr } from '../address.js';
import { schedulerName, flagNames } from '../schedulers.js';
import { serviceSpec, serviceLookupSpec, destSpec, destKeySpec, METHOD_NAMES, TUN_TYPES, TUN_CSUMS, PROTOCOLS } from '../spec.js';
import { statsSnapshot } from '../stats.js';
import { applyOne, applyPacked, type PackedOutcome } from '../bulk.js';
import type { EndpointCache } from './scheduling.js';
import type { ServiceKey, ServiceOptions, DestOptions, ServiceInfo, DestInfo, Protocol, ServiceConfig, DestConfig } from '../types.js';

const PROTO_NAMES = new Map<number, Protocol>(Object.entries(PROTOCOLS).map(([k, v]) => [v, k as Protocol]));

/** A core status as a result, or the matching error ('service' | 'dest' | 'other' picks the message). */
export function check(st: number, op: 'service' | 'dest' | 'other'): number {
  if (st < 0) throw errorFromStatus(st, op);
  return st;
}

export abstract class DirectorServices {
  readonly #core: Core;
  /** Director's Endpoint cache (scheduling.ts), cleared on every destination change. */
  readonly #endpoints: EndpointCache;

  protected constructor(core: Core, endpoints: EndpointCache) {
    this.#core = core;
    this.#endpoints = endpoints;
  }

  // Configuration commands are batches of one through the pipeline of -R
  // (bulk.ts): encoded as a core record, checked once, applied by cfgBatch.

  /** ipvsadm -A. Defaults: wlc, not persistent. Returns the service id. */
  addService(key: ServiceKey, opts: ServiceOptions = {}): number {
    return applyOne(this.#core, L.BULK_ADD_SERVICE, serviceSpec(key, opts), null);
  }

  /** ipvsadm -E: replaces every option (omitted ones go back to defaults). */
  editService(key: ServiceKey, opts: ServiceOptions = {}): number {
    const spec = serviceSpec(key, opts);
    this.#endpoints.clear();
    return applyOne(this.#core, L.BULK_EDIT_SERVICE, spec, null);
  }

  /** The id of a service, or throws NoSuchServiceError. */
  serviceId(key: ServiceKey): number {
    this.#core.writeServiceSpec(serviceLookupSpec(key));
    return check(this.#core.x.svcFind(), 'service');
  }

  /** ipvsadm -D (its destinations go too). */
  deleteService(key: ServiceKey): void {
    const spec = serviceLookupSpec(key);
    this.#endpoints.clear();
    applyOne(this.#core, L.BULK_DELETE_SERVICE, spec, null);
  }

  /** ipvsadm -C. */
  clear(): void {
    check(this.#core.x.svcClear(), 'other');
    this.#endpoints.clear();
  }

  /** How many services there are (as connectionCount() counts entries). */
  serviceCount(): number {
    return this.#core.x.svcCount();
  }

  service(key: ServiceKey): ServiceInfo {
    const core = this.#core;
    check(core.x.svcGet(this.serviceId(key)), 'service');
    return serviceInfo(core, core.readServiceRecord(core.specAddr()));
  }

  /** Snapshot of every service, in id order. */
  services(): ServiceInfo[] {
    const core = this.#core;
    const out: ServiceInfo[] = [];
    let cursor = 0;
    do {
      const n = check(core.x.svcList(cursor), 'service');
      for (let i = 0; i < n; i++) out.push(serviceInfo(core, core.readServiceRecord(core.listAddr(i, L.SVC_RECORD_SIZE))));
      cursor = core.x.listCursor();
    } while (cursor !== 0);
    return out;
  }

  /**
   * Every service's configuration without its destinations or counters, in the listing's order: for
   * hosts that follow the services on every change (the proxy's listeners), at tens of thousands of
   * services, where services() would gather every counter and rate only to drop them.
   */
  serviceConfigs(): Omit<ServiceConfig, 'dests'>[] {
    const core = this.#core;
    const out: Omit<ServiceConfig, 'dests'>[] = [];
    let cursor = 0;
    do {
      const n = check(core.x.svcList(cursor), 'service');
      for (let i = 0; i < n; i++) out.push(serviceFields(core.readServiceRecord(core.listAddr(i, L.SVC_RECORD_SIZE))));
      cursor = core.x.listCursor();
    } while (cursor !== 0);
    return out;
  }

  /**
   * Every service with its destinations, configuration only (what `ipvsadm -S`
   * saves, plus ids and destination state; no counters or rates): one pass
   * over the core, in id order. For hosts that mirror the whole configuration
   * on every change, at tens of thousands of services: no statistics are
   * gathered and no service is looked up again by its key.
   */
  configuration(): ServiceConfig[] {
    const core = this.#core;
    const out: ServiceConfig[] = [];
    let cursor = 0;
    do {
      const n = check(core.x.svcList(cursor), 'service');
      for (let i = 0; i < n; i++) out.push({ ...serviceFields(core.readServiceRecord(core.listAddr(i, L.SVC_RECORD_SIZE))), dests: [] });
      cursor = core.x.listCursor();
    } while (cursor !== 0);
    for (const s of out) {
      cursor = 0;
      do {
        const n = check(core.x.destList(s.id, cursor), 'service');
        for (let i = 0; i < n; i++) s.dests.push(destFields(core.readDestRecord(core.listAddr(i, L.DST_RECORD_SIZE))));
        cursor = core.x.listCursor();
      } while (cursor !== 0);
    }
    return out;
  }

  /** ipvsadm -a. Defaults: weight 1, Route, port = the service's. Returns the dest id. */
  addDest(key: ServiceKey, d: DestOptions): number {
    const svc = serviceLookupSpec(key);
    const spec = destSpec(svc, d);
    this.#endpoints.clear();
    return applyOne(this.#core, L.BULK_ADD_DEST, svc, spec);
  }

  /** ipvsadm -e: replaces weight, method, thresholds and tunnel options. */
  editDest(key: ServiceKey, d: DestOptions): number {
    const svc = serviceLookupSpec(key);
    const spec = destSpec(svc, d);
    this.#endpoints.clear();
    return applyOne(this.#core, L.BULK_EDIT_DEST, svc, spec);
  }

  /** ipvsadm -d. */
  deleteDest(key: ServiceKey, d: { address: string; port?: number }): void {
    const svc = serviceLookupSpec(key);
    const k = destKeySpec(svc.port, d);
    this.#endpoints.clear();
    applyOne(this.#core, L.BULK_DELETE_DEST, svc, { af: k.af, addr: k.addr, port: k.port, method: 0, weight: 0, uThreshold: 0, lThreshold: 0, tunType: 0, tunFlags: 0, tunPort: 0 });
  }

  /**
   * Many -A/-E/-D/-a/-e/-d at once, as packed records (packed.ts; wasmvsadm -R):
   * the same records, checks and core call as one command, BULK_MAX per call. See bulk.ts.
   */
  applyPacked(words: Uint32Array, count: number, stopOnError = false): PackedOutcome {
    this.#endpoints.clear();
    return applyPacked(this.#core, words, count, stopOnError);
  }

  /** Snapshot of a service's destinations in IPVS list order (newest first). */
  dests(key: ServiceKey): DestInfo[] {
    const core = this.#core;
    // An unknown service is "No such service" here (ipvsadm's listing), not -a's "Service not defined".
    core.writeServiceSpec(serviceLookupSpec(key));
    const id = check(core.x.svcFind(), 'service');
    const out: DestInfo[] = [];
    let cursor = 0;
    do {
      const n = check(core.x.destList(id, cursor), 'service');
      for (let i = 0; i < n; i++) out.push(destInfo(core, core.readDestRecord(core.listAddr(i, L.DST_RECORD_SIZE))));
      cursor = core.x.listCursor();
    } while (cursor !== 0);
    return out;
  }

  /** One destination by id (also while it waits in the trash). */
  destById(id: number): DestInfo {
    check(this.#core.x.destGet(id), 'dest');
    return destInfo(this.#core, this.#core.readDestRecord(this.#core.specAddr()));
  }

  /**
   * Set a destination's connection counters directly: for simulations and
   * scheduler studies that model load without real connections. Refused
   * (InvalidOperationError) while connections the table tracks reference the
   * destination, since they own its counters; `Director.create({ connections:
   * false })` gives bare picks where this is always allowed.
   */
  setDestConns(destId: number, activeconns: number, inactconns: number): void {
    check(this.#core.x.destSetConns(destId, activeconns >>> 0, inactconns >>> 0), 'dest');
  }

  /**
   * With `connections: 'count'`: one of the connections the core counted on
   * the destination ended (`active`: it was in activeconns, e.g. after
   * setDestConns); the OVERLOAD rule of an unbind applies. Returns false
   * when that counter was already 0 (nothing changed). Refused
   * (InvalidOperationError) while connections the table tracks reference the
   * destination, since they own its counters.
   */
  endDestConn(destId: number, active = false): boolean {
    return check(this.#core.destConnEndFn(destId >>> 0, active ? 1 : 0), 'dest') === 1;
  }

  /**
   * Health from a checker (wasmvs, not IPVS): a down destination is skipped by
   * every scheduler like an OVERLOADed one; its weight is never changed.
   * Returns true when the state changed.
   */
  setDestHealth(destId: number, up: boolean): boolean {
    return check(this.#core.x.destSetHealth(destId >>> 0, up ? 1 : 0), 'dest') === 1;
  }

  /**
   * The lookup table of a dh, sh or mh service as dest ids (0 = empty slot):
   * 256 buckets for dh/sh, M slots for mh; [] for schedulers without a table.
   */
  schedTable(key: ServiceKey): number[] {
    const core = this.#core;
    const id = this.serviceId(key);
    const out: number[] = [];
    let cursor = 0;
    do {
      const n = check(core.x.schedTable(id, cursor), 'service');
      const dv = core.view();
      for (let i = 0; i < n; i++) out.push(dv.getUint32(core.listAddr(i, 4), true));
      cursor = core.x.listCursor();
    } while (cursor !== 0);
    return out;
  }
}

function serviceInfo(core: Core, r: ServiceRecord): ServiceInfo {
  return { ...serviceFields(r), ...statsSnapshot(core, 'service', r.id) };
}

function serviceFields(r: ServiceRecord): Omit<ServiceConfig, 'dests'> {
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

function destInfo(core: Core, r: DestRecord): DestInfo {
  return { ...destFields(r), ...statsSnapshot(core, 'dest', r.id) };
}

function destFields(r: DestRecord): DestConfig {
  return {
    id: r.id, af: r.af as 4 | 6, address: formatAddr(r.af, r.addr[0], r.addr[1], r.addr[2], r.addr[3]), port: r.port,
    weight: r.weight, method: METHOD_NAMES[r.method] ?? 'route', uThreshold: r.uThreshold, lThreshold: r.lThreshold,
    tunnel: { type: TUN_TYPES[r.tunType] ?? 'ipip', port: r.tunPort, csum: TUN_CSUMS[r.tunFlags] ?? 'nocsum' },
    available: (r.flags & L.DEST_F_AVAILABLE) !== 0, overloaded: (r.flags & L.DEST_F_OVERLOAD) !== 0,
    activeconns: r.activeconns, inactconns: r.inactconns, persistconns: r.persistconns,
  };
}
