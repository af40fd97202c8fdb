// ipvsadm's listings, byte for byte (reference §5.6): the table with its
// --stats/--rate/--thresholds/--persistent-conn/--tun-info variants, -c,
// --timeout and --daemon. Pure: names come from an injected `Names`.
import type { ServiceEntry, DestEntry, ConnEntry, Timeouts, DaemonInfo } from './protocol.js';
import type { ListFormat } from './command.js';
import { NUMERIC, endpointName, type Names } from './names.js';
import { sortListing } from './sort.js';

export const IPVS_VERSION = '1.2.1';

const L = (s: string | number, w: number) => String(s).padEnd(w);
const R = (s: string | number, w: number) => String(s).padStart(w);
const FORWARD: Record<string, string> = { masq: 'Masq', local: 'Local', tunnel: 'Tunnel', route: 'Route' };

/** ipvsadm's print_largenum: 9 columns, K/M/G/T above 10^8, or exact with --exact. */
export function largeNum(n: number, exact: boolean): string {
  const s = String(n);
  if (exact) return s.padStart(s.length <= 8 ? 9 : s.length + 1);
  if (n < 1e8) return R(n, 9);
  if (n < 1e9) return R(Math.floor(n / 1e3), 8) + 'K';
  if (n < 1e11) return R(Math.floor(n / 1e6), 8) + 'M';
  if (n < 1e14) return R(Math.floor(n / 1e9), 8) + 'G';
  return R(Math.floor(n / 1e12), 8) + 'T';
}

function title(f: ListFormat): string {
  const P = 'Prot LocalAddress:Port'.padEnd(33);
  const D = '  -> RemoteAddress:Port\n';
  if (f.stats) return `${P} ${R('Conns', 8)} ${R('InPkts', 8)} ${R('OutPkts', 8)} ${R('InBytes', 8)} ${R('OutBytes', 8)}\n${D}`;
  if (f.rate) return `${P} ${R('CPS', 8)} ${R('InPPS', 8)} ${R('OutPPS', 8)} ${R('InBPS', 8)} ${R('OutBPS', 8)}\n${D}`;
  if (f.thresholds) return `${P} ${L('Uthreshold', 10)} ${L('Lthreshold', 10)} ${L('ActiveConn', 10)} ${L('InActConn', 10)}\n${D}`;
  if (f.persistentConn) return `${P} ${L('Weight', 9)} ${L('PersistConn', 11)} ${L('ActiveConn', 10)} ${L('InActConn', 10)}\n${D}`;
  if (f.tunInfo) {
    return 'Prot LocalAddress:Port Scheduler Flags\n'
      + '  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n';
  }
  return 'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n';
}

const PROTO_NAME: Record<string, string> = { tcp: 'TCP', udp: 'UDP', sctp: 'SCTP' };

export function serviceName(s: ServiceEntry, names: Names): string {
  if (s.fwmark) return s.af === 6 ? `FWM  ${s.fwmark >>> 0} IPv6` : `FWM  ${s.fwmark >>> 0}`;
  const proto = s.protocol ?? 'tcp';
  const name = `${L(PROTO_NAME[proto] ?? '?', 4)} ${endpointName(s.af, s.address ?? '', s.port, proto, names)}`;
  return s.af === 6 ? name : name.slice(0, 33);
}

function destName(s: ServiceEntry, d: DestEntry, names: Names): string {
  const n = endpointName(d.af, d.address, d.port, s.protocol ?? 'tcp', names);
  return d.af === 6 ? n : n.slice(0, 28);
}

function maskText(s: ServiceEntry): string {
  if (s.af === 6) return s.netmask !== 128 ? ` mask ${s.netmask}` : '';
  return s.netmask !== '255.255.255.255' ? ` mask ${s.netmask}` : '';
}

function serviceLine(s: ServiceEntry, f: ListFormat, names: Names): string {
  const name = serviceName(s, names);
  if (f.stats) {
    const t = s.stats;
    return L(name, 33) + [t.conns, t.inpkts, t.outpkts, t.inbytes, t.outbytes].map((n) => largeNum(n, f.exact)).join('');
  }
  if (f.rate) {
    const t = s.rates;
    return L(name, 33) + [t.cps, t.inpps, t.outpps, t.inbps, t.outbps].map((n) => largeNum(n, f.exact)).join('');
  }
  let line = `${name} ${s.scheduler}`;
  if (s.flags.length) line += ` (${s.flags.join(',')})`;
  if (s.persistent) {
    line += ` persistent ${s.persistent}${maskText(s)}`;
    if (s.pe) line += ` pe ${s.pe}`;
  }
  if (s.ops) line += ' ops';
  return line;
}

export function tunnelInfo(d: DestEntry): string {
  if (d.method !== 'tunnel') return 'n/a';
  const c = { nocsum: '-c', csum: '+c', remcsum: 'r+c' }[d.tunnel.csum] ?? '-c';
  if (d.tunnel.type === 'gue') return `gue:${d.tunnel.port}:${c}`;
  if (d.tunnel.type === 'gre') return `gre:${c}`;
  return 'ipip';
}

function destLine(s: ServiceEntry, d: DestEntry, f: ListFormat, names: Names): string {
  const n = `  -> ${L(destName(s, d, names), 28)}`;
  if (f.stats) {
    const t = d.stats;
    return n + [t.conns, t.inpkts, t.outpkts, t.inbytes, t.outbytes].map((v) => largeNum(v, f.exact)).join('');
  }
  if (f.rate) {
    const t = d.rates;
    return `${n} ${R(t.cps, 8)} ${R(t.inpps, 8)} ${R(t.outpps, 8)}${largeNum(t.inbps, f.exact)}${largeNum(t.outbps, f.exact)}`;
  }
  if (f.thresholds) return `${n} ${L(d.uThreshold, 10)} ${L(d.lThreshold, 10)} ${L(d.activeconns, 10)} ${L(d.inactconns, 10)}`;
  if (f.persistentConn) return `${n} ${L(d.weight, 9)} ${L(d.persistconns, 11)} ${L(d.activeconns, 10)} ${L(d.inactconns, 10)}`;
  const fwd = L(FORWARD[d.method] ?? '', 7);
  if (f.tunInfo) return `${n} ${fwd} ${L(tunnelInfo(d), 13)} ${L(d.weight, 6)} ${L(d.activeconns, 10)} ${L(d.inactconns, 10)}`;
  return `${n} ${fwd} ${L(d.weight, 6)} ${L(d.activeconns, 10)} ${L(d.inactconns, 10)}`;
}

function serviceBlock(s: ServiceEntry, f: ListFormat, names: Names): string {
  let out = serviceLine(s, f, names) + '\n';
  for (const d of s.dests) out += destLine(s, d, f, names) + '\n';
  return out;
}

/** `-L` of everything: version header, titles, services (sorted unless --nosort). */
export function formatTable(services: readonly ServiceEntry[], size: number, f: ListFormat, names: Names = NUMERIC): string {
  let out = `IP Virtual Server version ${IPVS_VERSION} (size=${size})\n` + title(f);
  for (const s of sortListing(services, f.nosort)) out += serviceBlock(s, f, names);
  return out;
}

/** `-L -t …`: one service, no version line. */
export function formatService(s: ServiceEntry, f: ListFormat, names: Names = NUMERIC): string {
  return title(f) + serviceBlock(sortListing([s], f.nosort)[0], f, names);
}

const CONN_PROTO: Record<string, string> = { tcp: 'TCP', udp: 'UDP', sctp: 'SCTP', ip: 'IP' };

/** `-L -c` (ipvsadm reads /proc/net/ip_vs_conn; the rows come from the daemon here). */
export function formatConnections(conns: readonly ConnEntry[], f: ListFormat, names: Names = NUMERIC): string {
  let out = 'IPVS connection entries\n';
  out += f.persistentConn
    ? `pro expire ${L('state', 11)} ${L('source', 18)} ${L('virtual', 18)} ${L('destination', 18)} ${L('pe name', 16)} pe_data\n`
    : `pro expire ${L('state', 11)} ${L('source', 18)} ${L('virtual', 18)} destination\n`;
  for (const c of conns) {
    const proto = CONN_PROTO[c.protocol] ?? String(c.protocol).toUpperCase();
    const af = (a: string): 4 | 6 => (a.includes(':') ? 6 : 4);
    const name = (e: { address: string; port: number }) => endpointName(af(e.address), e.address, e.port, c.protocol, names);
    const exp = Math.max(0, Math.floor(c.expires));
    const expire = `${String(Math.floor(exp / 60)).padStart(2, '0')}:${String(exp % 60).padStart(2, '0')}`;
    const head = `${L(proto, 3)} ${L(expire, 6)} ${L(c.state, 11)} ${L(name(c.client), 18)} ${L(name(c.virtual), 18)}`;
    out += f.persistentConn && c.peName
      ? `${head} ${L(name(c.dest), 16)} ${L(c.peName, 18)} ${c.peData ?? ''}\n`
      : `${head} ${name(c.dest)}\n`;
  }
  return out;
}

export function formatTimeouts(t: Timeouts): string {
  return `Timeout (tcp tcpfin udp): ${t.tcp} ${t.tcpfin} ${t.udp}\n`;
}

export function formatDaemons(ds: readonly DaemonInfo[]): string {
  return ds.map((d) => `${d.state} sync daemon (mcast=${d.mcastIfn}, syncid=${d.syncid})\n`).join('');
}
