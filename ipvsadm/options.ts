// The option table of ipvsadm 1.31 (plus wasmvs's own --socket, --json and
// --atomic), as data. `opt` is the internal option index used by the legality
// matrix and in messages; commands carry their command index instead.

/** Internal option names in ipvsadm's check order (index = matrix column). */
export const OPT_NAMES = [
  'numeric', 'connection', 'service-address', 'scheduler', 'persistent', 'netmask',
  'real-server', 'forwarding-method', 'weight', 'u-threshold', 'l-threshold',
  'mcast-interface', 'timeout', 'daemon', 'stats', 'rate', 'thresholds', 'persistent-conn',
  'nosort', 'syncid', 'exact', 'ops', 'pe', 'sched-flags', 'mcast-group', 'mcast-port',
  'mcast-ttl', 'sync-maxlen', 'tun-info', 'tun-type', 'tun-port', 'tun-nocsum', 'tun-csum',
  'tun-remcsum',
  // wasmvs additions (checked by the same matrix, after ipvsadm's own columns).
  'json', 'atomic',
] as const;
export type OptName = (typeof OPT_NAMES)[number];
export const OPT = Object.fromEntries(OPT_NAMES.map((n, i) => [n, i])) as Record<OptName, number>;

/** Command names as ipvsadm prints them (index = matrix row). */
export const CMD_NAMES = [
  'add-service', 'edit-service', 'delete-service', 'flush', 'list', 'add-server',
  'delete-server', 'edit-server', 'set', 'start-daemon', 'stop-daemon', 'restore', 'save', 'zero',
] as const;
export type CmdName = (typeof CMD_NAMES)[number];

export type ArgKind = 'none' | 'required' | 'optional';

export interface OptionSpec {
  long: string;
  short?: string;
  arg: ArgKind;
  /** A command (first option of the line); `help`/`version` act at once. */
  cmd?: CmdName | 'help' | 'version';
  /** Key the parser switches on for non-command options. */
  key?: string;
}

export const OPTIONS: readonly OptionSpec[] = [
  { long: 'add-service', short: 'A', arg: 'none', cmd: 'add-service' },
  { long: 'edit-service', short: 'E', arg: 'none', cmd: 'edit-service' },
  { long: 'delete-service', short: 'D', arg: 'none', cmd: 'delete-service' },
  { long: 'clear', short: 'C', arg: 'none', cmd: 'flush' },
  { long: 'list', short: 'L', arg: 'none', cmd: 'list' },
  { long: 'list', short: 'l', arg: 'none', cmd: 'list' },
  { long: 'zero', short: 'Z', arg: 'none', cmd: 'zero' },
  { long: 'add-server', short: 'a', arg: 'none', cmd: 'add-server' },
  { long: 'edit-server', short: 'e', arg: 'none', cmd: 'edit-server' },
  { long: 'delete-server', short: 'd', arg: 'none', cmd: 'delete-server' },
  { long: 'set', arg: 'none', cmd: 'set' },
  { long: 'help', short: 'h', arg: 'none', cmd: 'help' },
  { long: 'version', short: 'v', arg: 'none', cmd: 'version' },
  { long: 'restore', short: 'R', arg: 'none', cmd: 'restore' },
  { long: 'save', short: 'S', arg: 'none', cmd: 'save' },
  { long: 'start-daemon', arg: 'required', cmd: 'start-daemon' },
  { long: 'stop-daemon', arg: 'required', cmd: 'stop-daemon' },
  { long: 'tcp-service', short: 't', arg: 'required', key: 'tcp' },
  { long: 'udp-service', short: 'u', arg: 'required', key: 'udp' },
  { long: 'sctp-service', arg: 'required', key: 'sctp' },
  { long: 'fwmark-service', short: 'f', arg: 'required', key: 'fwmark' },
  { long: 'scheduler', short: 's', arg: 'required', key: 'scheduler' },
  { long: 'persistent', short: 'p', arg: 'optional', key: 'persistent' },
  { long: 'netmask', short: 'M', arg: 'required', key: 'netmask' },
  { long: 'real-server', short: 'r', arg: 'required', key: 'real-server' },
  { long: 'masquerading', short: 'm', arg: 'none', key: 'masq' },
  { long: 'ipip', short: 'i', arg: 'none', key: 'tunnel' },
  { long: 'gatewaying', short: 'g', arg: 'none', key: 'route' },
  { long: 'weight', short: 'w', arg: 'required', key: 'weight' },
  { long: 'u-threshold', short: 'x', arg: 'required', key: 'u-threshold' },
  { long: 'l-threshold', short: 'y', arg: 'required', key: 'l-threshold' },
  { long: 'numeric', short: 'n', arg: 'none', key: 'numeric' },
  { long: 'connection', short: 'c', arg: 'none', key: 'connection' },
  { long: 'mcast-interface', arg: 'required', key: 'mcast-interface' },
  { long: 'syncid', arg: 'required', key: 'syncid' },
  { long: 'timeout', arg: 'none', key: 'timeout' },
  { long: 'daemon', arg: 'none', key: 'daemon' },
  { long: 'stats', arg: 'none', key: 'stats' },
  { long: 'rate', arg: 'none', key: 'rate' },
  { long: 'thresholds', arg: 'none', key: 'thresholds' },
  { long: 'persistent-conn', arg: 'none', key: 'persistent-conn' },
  { long: 'nosort', arg: 'none', key: 'nosort' },
  { long: 'sort', arg: 'none', key: 'sort' },
  { long: 'exact', short: 'X', arg: 'none', key: 'exact' },
  { long: 'ipv6', short: '6', arg: 'none', key: 'ipv6' },
  { long: 'ops', short: 'o', arg: 'none', key: 'ops' },
  { long: 'pe', arg: 'required', key: 'pe' },
  { long: 'sched-flags', short: 'b', arg: 'required', key: 'sched-flags' },
  { long: 'mcast-group', arg: 'required', key: 'mcast-group' },
  { long: 'mcast-port', arg: 'required', key: 'mcast-port' },
  { long: 'mcast-ttl', arg: 'required', key: 'mcast-ttl' },
  { long: 'sync-maxlen', arg: 'required', key: 'sync-maxlen' },
  { long: 'tun-info', arg: 'none', key: 'tun-info' },
  { long: 'tun-type', arg: 'required', key: 'tun-type' },
  { long: 'tun-port', arg: 'required', key: 'tun-port' },
  { long: 'tun-nocsum', arg: 'none', key: 'tun-nocsum' },
  { long: 'tun-csum', arg: 'none', key: 'tun-csum' },
  { long: 'tun-remcsum', arg: 'none', key: 'tun-remcsum' },
  { long: 'json', arg: 'none', key: 'json' },
  { long: 'atomic', arg: 'none', key: 'atomic' },
  // Selects the daemon; handled before ipvsadm's parsing, legal with every command.
  { long: 'socket', arg: 'required', key: 'socket' },
];

const byLong = new Map(OPTIONS.map((o) => [o.long, o]));
const byShort = new Map(OPTIONS.filter((o) => o.short).map((o) => [o.short!, o]));

export function longOption(name: string): OptionSpec | undefined {
  return byLong.get(name);
}
export function shortOption(ch: string): OptionSpec | undefined {
  return byShort.get(ch);
}
