// ipvsadm's "command entry": the service, destination, daemon and timeout
// fields that options fill in as they appear, with ipvsadm's defaults.
import { OPT, type OptName } from './options.js';
import { CliError } from './messages.js';
import { stringToNumber, atoi, parseHostPort, parseNetmask, parseFwmark, type Proto, type Resolver } from './values.js';
import { parseAddr } from '../sdk/address.js';
import type { Method } from '../sdk/types.js';

export interface Entry {
  svc: {
    af: 4 | 6; proto: Proto; addr: string | null; port: number; fwmark: number;
    netmask: string | number; persistent: number; ops: boolean; scheduler: string; pe?: string; flags?: string[];
  };
  dest: {
    af: 4 | 6; addr: string; port: number; method: Method; weight: number; u: number; l: number;
    tunType: number; tunPort: number; tunCsum: number;
  };
  daemon: {
    state?: 'master' | 'backup'; syncid?: number; mcastIfn?: string; group?: string;
    port?: number; ttl?: number; maxlen?: number;
  };
  timeouts?: { tcp: number; tcpfin: number; udp: number };
  schedFlagsArg?: string;
}

export const DEFAULT_PERSISTENT = 360;
const MAX_TIMEOUT = 86400 * 31;
const INT_MAX = 2147483647;

export function newEntry(): Entry {
  return {
    svc: { af: 4, proto: 'tcp', addr: null, port: 0, fwmark: 0, netmask: '255.255.255.255', persistent: 0, ops: false, scheduler: '' },
    dest: { af: 4, addr: '', port: 0, method: 'route', weight: 1, u: 0, l: 0, tunType: 0, tunPort: 0, tunCsum: 0 },
    daemon: {},
  };
}

/** Which matrix column each option key sets (keys not listed set none). */
const COLUMN: Record<string, OptName> = {
  tcp: 'service-address', udp: 'service-address', sctp: 'service-address', fwmark: 'service-address',
  masq: 'forwarding-method', tunnel: 'forwarding-method', route: 'forwarding-method',
  scheduler: 'scheduler', persistent: 'persistent', netmask: 'netmask', 'real-server': 'real-server',
  weight: 'weight', 'u-threshold': 'u-threshold', 'l-threshold': 'l-threshold', numeric: 'numeric',
  connection: 'connection', 'mcast-interface': 'mcast-interface', syncid: 'syncid', timeout: 'timeout',
  daemon: 'daemon', stats: 'stats', rate: 'rate', thresholds: 'thresholds', 'persistent-conn': 'persistent-conn',
  nosort: 'nosort', exact: 'exact', ops: 'ops', pe: 'pe', 'sched-flags': 'sched-flags', 'mcast-group': 'mcast-group',
  'mcast-port': 'mcast-port', 'mcast-ttl': 'mcast-ttl', 'sync-maxlen': 'sync-maxlen', 'tun-info': 'tun-info',
  'tun-type': 'tun-type', 'tun-port': 'tun-port', 'tun-nocsum': 'tun-nocsum', 'tun-csum': 'tun-csum',
  'tun-remcsum': 'tun-remcsum', json: 'json', atomic: 'atomic',
};

function num(text: string, min: number, max: number, message: string): number {
  const n = stringToNumber(text, min, max);
  if (n === -1) throw CliError.local(message);
  return n;
}

/** Apply one option as ipvsadm's parse_options loop does (duplicate check first). */
export function applyOption(ce: Entry, options: Set<number>, key: string, value: string | undefined, r: Resolver): void {
  const col = COLUMN[key];
  if (col !== undefined) {
    if (options.has(OPT[col])) throw CliError.local(`multiple '${col}' options specified`);
    options.add(OPT[col]);
  }
  const v = value ?? '';
  const s = ce.svc, d = ce.dest;
  switch (key) {
    case 'tcp': case 'udp': case 'sctp': {
      s.proto = key;
      const hp = parseHostPort(v, key, r);
      if (!hp) throw CliError.local('illegal virtual server address[:port] specified');
      s.af = hp.af; s.addr = hp.addr; s.fwmark = 0;
      if (hp.af === 6) s.netmask = 128;
      if (hp.port !== undefined) s.port = hp.port;
      return;
    }
    case 'fwmark': {
      s.af = 4; s.proto = 'tcp';
      s.fwmark = parseFwmark(v);
      if (s.fwmark === -1) throw CliError.local(`invalid fwmark value \`${v}' specified`);
      return;
    }
    case 'ipv6':
      if (!s.fwmark) throw CliError.local('-6 used before -f\n');
      s.af = 6; s.netmask = 128;
      return;
    case 'scheduler': s.scheduler = v.slice(0, 15); return;
    case 'persistent':
      s.persistent = value === undefined ? DEFAULT_PERSISTENT : stringToNumber(v, 1, MAX_TIMEOUT);
      if (s.persistent === -1) throw CliError.local(`invalid timeout value \`${v}' specified`);
      return;
    case 'netmask': return applyNetmask(ce, v, r);
    case 'real-server': {
      const hp = parseHostPort(v, s.proto, r);
      if (!hp) throw CliError.local('illegal real server address[:port] specified');
      d.af = hp.af; d.addr = hp.addr;
      d.port = hp.port ?? s.port;
      return;
    }
    case 'masq': case 'tunnel': case 'route': d.method = key; return;
    case 'weight': d.weight = num(v, 0, 65535, 'illegal weight specified'); return;
    case 'u-threshold': d.u = num(v, 0, INT_MAX, 'illegal u_threshold specified'); return;
    case 'l-threshold': d.l = num(v, 0, INT_MAX, 'illegal l_threshold specified'); return;
    case 'ops': s.ops = true; return;
    case 'pe': s.pe = v.slice(0, 16); return;
    case 'sched-flags': ce.schedFlagsArg = v.slice(0, 127); return;
    default: return applyDaemonOrTunnel(ce, key, v);
  }
}

function applyNetmask(ce: Entry, v: string, r: Resolver): void {
  if (ce.svc.af !== 6) {
    const m = parseNetmask(v, r);
    if (m === undefined || !contiguous(m)) throw CliError.local('illegal virtual server persistent mask specified');
    ce.svc.netmask = m;
    return;
  }
  const n = atoi(v);
  if (n < 1 || n > 128) throw CliError.local('illegal ipv6 netmask specified');
  ce.svc.netmask = n;
}

/** IPVS masks the client address with it; wasmvs accepts only prefix masks (as the SDK does). */
function contiguous(mask: string): boolean {
  const a = parseAddr(mask);
  if (!a) return false;
  const inv = ~a.w[0] >>> 0;
  return (inv & (inv + 1)) === 0;
}

function applyDaemonOrTunnel(ce: Entry, key: string, v: string): void {
  const dm = ce.daemon, d = ce.dest;
  switch (key) {
    case 'mcast-interface': dm.mcastIfn = v.slice(0, 15); return;
    case 'syncid': dm.syncid = num(v, 0, 255, 'illegal syncid specified'); return;
    case 'mcast-group': {
      const a = parseAddr(v);
      if (v.includes(':')) {
        if (!a || a.af !== 6 || (a.w[0] >>> 24) !== 0xff) throw CliError.local(`invalid IPv6 mcast-group \`${v}'`);
      } else if (!a || a.af !== 4 || (a.w[0] >>> 28) !== 0xe) {
        throw CliError.local(`invalid IPv4 mcast-group \`${v}'`);
      }
      dm.group = v;
      return;
    }
    case 'mcast-port': dm.port = num(v, 1, 65535, 'illegal mcast-port specified'); return;
    case 'mcast-ttl': dm.ttl = num(v, 1, 255, 'illegal mcast-ttl specified'); return;
    case 'sync-maxlen': dm.maxlen = num(v, 1, 65535 - 20 - 8, 'illegal sync-maxlen specified'); return;
    case 'tun-type': {
      const t = ['ipip', 'gue', 'gre'].indexOf(v);
      if (t < 0) throw CliError.local('illegal tunnel type specified');
      d.tunType = t;
      return;
    }
    case 'tun-port': d.tunPort = num(v, 1, 65535, 'illegal tunnel port specified'); return;
    case 'tun-nocsum': return;
    case 'tun-csum': d.tunCsum |= 1; return;
    case 'tun-remcsum': d.tunCsum |= 2; return;
    default: return;
  }
}
