// ipvsadm -S (reference §5.8): rules that -R reads back. The daemon's state
// file uses the same printer with `state: true`, which keeps what -S drops
// (thresholds, timeouts) and IPVS list order, so a restart restores exactly.
import type { ServiceEntry, DestEntry, Timeouts } from './protocol.js';
import { NUMERIC, endpointName, type Names } from './names.js';
import { sortListing } from './sort.js';

const PROTO_OPT: Record<string, string> = { tcp: '-t', udp: '-u', sctp: '--sctp-service' };
const METHOD_OPT: Record<string, string> = { masq: '-m', tunnel: '-i', route: '-g', local: '-g' };
export const DEFAULT_TIMEOUTS: Timeouts = { tcp: 900, tcpfin: 120, udp: 300 };

export function ruleService(s: Pick<ServiceEntry, 'fwmark' | 'af' | 'protocol' | 'address' | 'port'>, names: Names): string {
  if (s.fwmark) return s.af === 6 ? `-f ${s.fwmark >>> 0} -6` : `-f ${s.fwmark >>> 0}`;
  const proto = s.protocol ?? 'tcp';
  return `${PROTO_OPT[proto] ?? '--xxx-service'} ${endpointName(s.af, s.address ?? '', s.port, proto, names)}`;
}

/** What the printer reads of a service and its dests: the configuration, no counters (Director.configuration() has it). */
export type SavedDest = Omit<DestEntry, 'stats' | 'rates'>;
export type SavedService = Omit<ServiceEntry, 'stats' | 'rates' | 'dests'> & { dests: readonly SavedDest[] };

export function serviceRule(s: SavedService, svc: string, verb = '-A'): string {
  let line = `${verb} ${svc} -s ${s.scheduler}`;
  if (s.persistent) {
    line += ` -p ${s.persistent}`;
    if (s.af === 6 ? s.netmask !== 128 : s.netmask !== '255.255.255.255') line += ` -M ${s.netmask}`;
  }
  if (s.pe) line += ` --pe ${s.pe}`;
  if (s.ops) line += ' -o';
  if (s.flags.length) line += ` -b ${s.flags.join(',')}`;
  return line;
}

export function destRule(s: Pick<ServiceEntry, 'protocol'>, d: SavedDest, svc: string, names: Names, state: boolean, verb = '-a'): string {
  const dname = endpointName(d.af, d.address, d.port, s.protocol ?? 'tcp', names);
  let line = `${verb} ${svc} -r ${dname} ${METHOD_OPT[d.method] ?? '-g'} -w ${d.weight}`;
  if (d.method === 'tunnel') {
    const t = d.tunnel;
    if (t.type === 'gue') line += ` --tun-type gue --tun-port ${t.port} --tun-${t.csum}`;
    else if (t.type === 'gre') line += ` --tun-type gre --tun-${t.csum}`;
    else line += ' --tun-type ipip';
  }
  if (state && d.uThreshold) line += ` -x ${d.uThreshold}`;
  if (state && d.lThreshold) line += ` -y ${d.lThreshold}`;
  return line;
}

export interface SaveOptions {
  names?: Names;
  /** State-file form: kernel order with dests oldest first, thresholds and timeouts kept. */
  state?: boolean;
  timeouts?: Timeouts;
}

export function saveRules(services: readonly SavedService[], o: SaveOptions = {}): string {
  const names = o.names ?? NUMERIC;
  const lines: string[] = [];
  const t = o.timeouts;
  if (o.state && t && (t.tcp !== DEFAULT_TIMEOUTS.tcp || t.tcpfin !== DEFAULT_TIMEOUTS.tcpfin || t.udp !== DEFAULT_TIMEOUTS.udp)) {
    lines.push(`--set ${t.tcp} ${t.tcpfin} ${t.udp}`);
  }
  // -a makes the new dest the list head, so replaying oldest first rebuilds IPVS list order.
  // (sortListing reads only the addresses, ports and fwmarks of what it sorts.)
  const list: readonly SavedService[] = o.state ? services.map((s) => ({ ...s, dests: s.dests.slice().reverse() }))
    : sortListing(services as readonly ServiceEntry[], false);
  for (const s of list) {
    const svc = ruleService(s, names);
    lines.push(serviceRule(s, svc));
    for (const d of s.dests) lines.push(destRule(s, d, svc, names, !!o.state));
  }
  return lines.map((l) => l + '\n').join('');
}
