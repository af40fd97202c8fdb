// --json listings: a stable schema documented in docs/cli.md. Addresses and
// ports are always numeric; services and dests come in -L's order.
import type { ServiceEntry, DestEntry, ConnEntry, Timeouts, DaemonInfo } from './protocol.js';
import { IPVS_VERSION } from './format.js';
import { sortListing } from './sort.js';

export const JSON_SCHEMA_VERSION = 1;

function dest(d: DestEntry) {
  return {
    address: d.address, af: d.af, port: d.port, method: d.method, weight: d.weight,
    uThreshold: d.uThreshold, lThreshold: d.lThreshold,
    tunnel: d.method === 'tunnel' ? { type: d.tunnel.type, port: d.tunnel.port, csum: d.tunnel.csum } : null,
    activeconns: d.activeconns, inactconns: d.inactconns, persistconns: d.persistconns,
    available: d.available, overloaded: d.overloaded, stats: d.stats ?? null, rates: d.rates ?? null,
  };
}

function service(s: ServiceEntry) {
  return {
    protocol: s.fwmark ? null : s.protocol, af: s.af, address: s.fwmark ? null : s.address,
    port: s.fwmark ? 0 : s.port, fwmark: s.fwmark, scheduler: s.scheduler, flags: s.flags,
    persistent: s.persistent, netmask: s.persistent ? s.netmask : null, pe: s.pe ?? null, ops: s.ops,
    stats: s.stats ?? null, rates: s.rates ?? null, dests: s.dests.map(dest),
  };
}

const doc = (body: object) => JSON.stringify({ schema: JSON_SCHEMA_VERSION, ...body }, null, 2) + '\n';

export function jsonTable(services: readonly ServiceEntry[], size: number, nosort: boolean): string {
  return doc({ version: IPVS_VERSION, size, services: sortListing(services, nosort).map(service) });
}
export function jsonConnections(conns: readonly ConnEntry[]): string {
  return doc({
    connections: conns.map((c) => ({
      protocol: c.protocol, client: c.client, virtual: c.virtual, dest: c.dest, state: c.state,
      expires: c.expires, template: !!c.template,
    })),
  });
}
export function jsonTimeouts(t: Timeouts): string {
  return doc({ timeouts: { tcp: t.tcp, tcpfin: t.tcpfin, udp: t.udp } });
}
export function jsonDaemons(ds: readonly DaemonInfo[]): string {
  return doc({ daemons: ds });
}
