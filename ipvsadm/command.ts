// A validated ipvsadm command line as a typed value: a listing, -S, -R, or
// a configuration change (ConfigCmd) for the daemon.
import { OPT, type CmdName } from './options.js';
import type { Entry } from './entry.js';
import type { ConfigCmd } from './protocol.js';
import type { ServiceKey, ServiceOptions, DestOptions, SchedFlag, SchedulerName } from '../sdk/types.js';

export interface ListFormat {
  numeric: boolean; stats: boolean; rate: boolean; thresholds: boolean; persistentConn: boolean;
  nosort: boolean; exact: boolean; tunInfo: boolean;
}
export type ListWhat = 'all' | 'service' | 'connections' | 'timeout' | 'daemon';

export type Parsed =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'list'; what: ListWhat; svc?: ServiceKey; format: ListFormat; json: boolean }
  | { kind: 'save'; numeric: boolean }
  | { kind: 'restore'; atomic: boolean }
  | { kind: 'apply'; cmd: ConfigCmd };

export function serviceKey(ce: Entry): ServiceKey {
  const s = ce.svc;
  if (s.fwmark) return s.af === 6 ? { fwmark: s.fwmark, af: 6 } : { fwmark: s.fwmark };
  return { protocol: s.proto, address: s.addr ?? '0.0.0.0', port: s.port };
}

function serviceOptions(ce: Entry): ServiceOptions {
  const s = ce.svc;
  const o: ServiceOptions = { scheduler: s.scheduler as SchedulerName };
  if (s.persistent) {
    o.persistent = s.persistent;
    const defaultMask = s.af === 6 ? 128 : '255.255.255.255';
    if (s.netmask !== defaultMask) o.netmask = s.netmask;
  }
  if (s.flags && s.flags.length) o.flags = s.flags as SchedFlag[];
  if (s.ops) o.ops = true;
  return o;
}

function destOptions(ce: Entry): DestOptions {
  const d = ce.dest;
  const o: DestOptions = { address: d.addr, port: d.port, weight: d.weight, method: d.method };
  if (d.u) o.uThreshold = d.u;
  if (d.l) o.lThreshold = d.l;
  if (d.method === 'tunnel') {
    const type = (['ipip', 'gue', 'gre'] as const)[d.tunType];
    const csum = d.tunCsum & 2 ? 'remcsum' : d.tunCsum & 1 ? 'csum' : 'nocsum';
    o.tunnel = type === 'gue' ? { type, port: d.tunPort, csum } : { type, csum };
  }
  return o;
}

function configCmd(cmd: CmdName, ce: Entry): ConfigCmd {
  switch (cmd) {
    case 'add-service': case 'edit-service': {
      const c: ConfigCmd = { op: cmd, svc: serviceKey(ce), opts: serviceOptions(ce) };
      if (ce.svc.pe) c.pe = ce.svc.pe;
      return c;
    }
    case 'delete-service': return { op: cmd, svc: serviceKey(ce) };
    case 'flush': return { op: 'flush' };
    case 'add-server': case 'edit-server': return { op: cmd, svc: serviceKey(ce), dest: destOptions(ce) };
    case 'delete-server': return { op: cmd, svc: serviceKey(ce), dest: { address: ce.dest.addr, port: ce.dest.port } };
    case 'zero': return ce.svc.addr !== null || ce.svc.fwmark ? { op: 'zero', svc: serviceKey(ce) } : { op: 'zero' };
    case 'set': return { op: 'set', ...ce.timeouts! };
    case 'start-daemon': case 'stop-daemon': {
      return ce.daemon.syncid === undefined ? { op: cmd, state: ce.daemon.state! }
        : { op: cmd, state: ce.daemon.state!, syncid: ce.daemon.syncid };
    }
    default: throw new Error(`not a configuration command: ${cmd}`);
  }
}

export function commandOf(cmd: CmdName, ce: Entry, options: ReadonlySet<number>, _po: unknown): Parsed {
  const has = (n: keyof typeof OPT) => options.has(OPT[n]);
  if (cmd === 'list') {
    const format: ListFormat = {
      numeric: has('numeric'), stats: has('stats'), rate: has('rate'), thresholds: has('thresholds'),
      persistentConn: has('persistent-conn'), nosort: has('nosort'), exact: has('exact'), tunInfo: has('tun-info'),
    };
    const what: ListWhat = has('connection') ? 'connections' : has('service-address') ? 'service'
      : has('timeout') ? 'timeout' : has('daemon') ? 'daemon' : 'all';
    const p: Parsed = { kind: 'list', what, format, json: has('json') };
    if (what === 'service') p.svc = serviceKey(ce);
    return p;
  }
  if (cmd === 'save') return { kind: 'save', numeric: has('numeric') };
  if (cmd === 'restore') return { kind: 'restore', atomic: has('atomic') };
  return { kind: 'apply', cmd: configCmd(cmd, ce) };
}
