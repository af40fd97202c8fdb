// One configuration command applied to a Director, and the options that
// re-create a service or destination exactly as a listing shows it. Pure.
import type { Director } from './director.js';
import { WasmvsError, SchedulerNotFoundError } from './errors.js';
import type { ServiceKey, ServiceInfo, DestInfo, ServiceOptions, DestOptions } from './types.js';

/** One configuration change as data: what ipvsadm's -A/-E/-D/-a/-e/-d/-C/-Z/--set/--start-daemon say. */
export type ConfigCmd =
  | { op: 'add-service' | 'edit-service'; svc: ServiceKey; opts: ServiceOptions; pe?: string }
  | { op: 'delete-service'; svc: ServiceKey }
  | { op: 'flush' }
  | { op: 'add-server' | 'edit-server'; svc: ServiceKey; dest: DestOptions }
  | { op: 'delete-server'; svc: ServiceKey; dest: { address: string; port: number } }
  | { op: 'zero'; svc?: ServiceKey }
  | { op: 'set'; tcp: number; tcpfin: number; udp: number }
  | { op: 'start-daemon'; state: 'master' | 'backup'; syncid?: number }
  | { op: 'stop-daemon'; state: 'master' | 'backup'; syncid?: number };

/** Commands whose effect a 'preview' request (wasmvsadm --dry-run) shows. */
export const PREVIEW_OPS: ReadonlySet<ConfigCmd['op']> = new Set(['add-server', 'edit-server', 'delete-server', 'edit-service', 'delete-service']);


class NoSyncDaemon extends WasmvsError {
  constructor() { super('ENOPROTOOPT', 'Protocol not available'); }
}

export function keyOf(s: ServiceInfo): ServiceKey {
  return s.fwmark ? { fwmark: s.fwmark, af: s.af } : { protocol: s.protocol!, address: s.address!, port: s.port };
}

export function optionsOf(s: ServiceInfo): ServiceOptions {
  const o: ServiceOptions = { scheduler: s.scheduler as ServiceOptions['scheduler'], flags: s.flags, ops: s.ops };
  if (s.persistent) { o.persistent = s.persistent; o.netmask = s.netmask; }
  if (s.scheduler === 'mh') o.mhTableSize = s.mhTableSize;
  return o;
}

export function destOptionsOf(d: DestInfo): DestOptions {
  const o: DestOptions = {
    address: d.address, port: d.port, weight: d.weight, method: d.method, uThreshold: d.uThreshold, lThreshold: d.lThreshold,
  };
  if (d.method === 'tunnel') {
    o.tunnel = d.tunnel.type === 'gue' ? { ...d.tunnel } : { type: d.tunnel.type, csum: d.tunnel.csum };
  }
  return o;
}

export function applyCmd(d: Director, c: ConfigCmd): void {
  switch (c.op) {
    case 'add-service':
    case 'edit-service':
      // wasmvs has no persistence engines (IPVS's is `sip`): the kernel's "not found".
      if (c.pe !== undefined) throw new SchedulerNotFoundError();
      if (c.op === 'add-service') d.addService(c.svc, c.opts); else d.editService(c.svc, c.opts);
      return;
    case 'delete-service': d.deleteService(c.svc); return;
    case 'flush': d.clear(); return;
    case 'add-server':
    case 'edit-server':
      // IPVS's ERANGE for l_threshold > u_threshold is the Director's check (bulk.ts checkRecord).
      if (c.op === 'add-server') d.addDest(c.svc, c.dest); else d.editDest(c.svc, c.dest);
      return;
    case 'delete-server': d.deleteDest(c.svc, c.dest); return;
    case 'zero': d.zero(c.svc); return;
    case 'set': d.setTimeouts({ tcp: c.tcp, tcpfin: c.tcpfin, udp: c.udp }); return;
    case 'start-daemon':
    case 'stop-daemon':
      // No connection synchronisation in wasmvs: what a kernel without the sync code says.
      throw new NoSyncDaemon();
    default:
      throw new WasmvsError('EBADREQUEST', `wasmvsd: unknown command ${JSON.stringify((c as { op: unknown }).op)}`);
  }
}

/** Copy `from`'s services, destinations (same list order) and timeouts into `to`, which is cleared first. */
export function copyConfig(from: Director, to: Director): void {
  to.clear();
  for (const s of from.services()) {
    const key = keyOf(s);
    to.addService(key, optionsOf(s));
    for (const dest of from.dests(key).reverse()) to.addDest(key, destOptionsOf(dest));
  }
  to.setTimeouts(from.timeouts());
}
