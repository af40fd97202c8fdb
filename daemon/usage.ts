// wasmvsd's -h and --version texts. The option table is the help: a test checks
// that every option parseDaemonArgs accepts is listed here and the other way round.
import { version } from '../sdk/core/abi.gen.js';
import { WASMVS_VERSION } from '../ipvsadm/usage.js';

export interface DaemonOption { name: string; arg?: string; modes: 'both' | 'gateway' | 'proxy'; help: string }

export const DAEMON_OPTIONS: readonly DaemonOption[] = [
  { name: '--socket', arg: 'PATH', modes: 'both', help: 'control socket, mode 0600 (default $WASMVS_SOCKET, /run/wasmvs/wasmvsd.sock as root, else $XDG_RUNTIME_DIR/wasmvs/wasmvsd.sock)' },
  { name: '--state', arg: 'FILE', modes: 'both', help: 'state file, rewritten on every change and restored at start (default $WASMVS_STATE, /var/lib/wasmvs/wasmvsd.rules as root, else $XDG_STATE_HOME/wasmvs/wasmvsd.rules)' },
  { name: '--config', arg: 'FILE', modes: 'both', help: 'rules in wasmvsadm -R syntax, applied at start only when there is no state file; re-read on SIGHUP' },
  { name: '--store', arg: 'etcd://HOST:PORT/PREFIX', modes: 'both', help: 'keep the configuration in etcd, shared by every director on PREFIX; the state file keeps the last applied copy (docs/many-directors.md)' },
  { name: '--name', arg: 'NAME', modes: 'both', help: "this director's name in the etcd membership (default the host name, plus the socket when --socket is given)" },
  { name: '--sync-listen', arg: 'HOST:PORT', modes: 'both', help: 'accept connection sync from peer directors on HOST:PORT (TCP; docs/many-directors.md)' },
  { name: '--sync-peers', arg: 'HOST:PORT,…|etcd', modes: 'both', help: 'peer directors to sync connection entries with (etcd: the directors of --store); a peer\'s snapshot is imported before this director is ready' },
  { name: '--sync-key', arg: 'FILE', modes: 'both', help: 'the key shared by the directors (at least 16 bytes): every sync batch carries its HMAC-SHA256' },
  { name: '--sync-wait', arg: 'S', modes: 'both', help: "at start, how long to wait for the peers' snapshots before serving without them (default 10)" },
  { name: '--conn-tab-bits', arg: 'N', modes: 'both', help: 'connection table hash size 2^N, 8..20 (default 12, as IPVS)' },
  { name: '--memory-limit', arg: 'MiB', modes: 'both', help: "the core's memory budget, 16..4095 (default a quarter of the machine's memory)" },
  { name: '--cleanup', modes: 'gateway', help: 'remove what a gateway killed without its cleanup left (rules, routes, recorded sysctls) and exit; nothing is touched while a daemon answers on --socket' },
  { name: '--queue', arg: 'N|A:B', modes: 'gateway', help: 'NFQUEUE number or range (default 0)' },
  { name: '--fail-open', modes: 'gateway', help: 'while no consumer is bound the kernel accepts VIP packets (default)' },
  { name: '--fail-closed', modes: 'gateway', help: 'while no consumer is bound the kernel drops them' },
  { name: '--burst', arg: 'N', modes: 'gateway', help: 'packets read and decided per burst (default 64)' },
  { name: '--stride', arg: 'BYTES', modes: 'gateway', help: 'bytes per packet record, a multiple of 4 (default: packed records, each as long as its packet, up to 65531)' },
  { name: '--verdict', arg: 'batch|per-packet', modes: 'gateway', help: 'verdicts batched per burst (default) or one message per packet' },
  { name: '--fast-path', arg: 'on|off', modes: 'gateway', help: 'IPv4 NAT and DR services: queue only new flows, the kernel carries the rest (NAT: conntrack + an nftables DNAT map; DR: an nftables flow map); TUN, IPv6 and fwmark services stay on the userspace path (default on where nft and ctnetlink work, else a warn line says why and every packet crosses userspace; docs/gateway.md)' },
  { name: '--splice', arg: 'auto|on|off', modes: 'proxy', help: 'TCP bytes move kernel to kernel (splice(2)) through the native addon; on: every connection once its real server accepted; auto: connections past 64 KiB, when the addon loads (default $WASMVS_SPLICE, else auto; docs/proxy.md)' },
  { name: '--workers', arg: 'N|auto', modes: 'proxy', help: 'TCP in N worker processes (auto: one per CPU), scheduling and accounting stay in the daemon; 1 (default): all in one process (docs/proxy.md "Workers")' },
  { name: '--help', modes: 'both', help: 'this text' },
  { name: '--version', modes: 'both', help: 'the package version and the core ABI version' },
];

/** `wasmvsd v<package> (wasmvs core ABI <major>.<minor>)`. */
export function daemonVersionText(): string {
  return `wasmvsd v${WASMVS_VERSION} (wasmvs core ABI ${version.ABI_VERSION >>> 16}.${version.ABI_VERSION & 0xffff})\n`;
}

function rows(modes: DaemonOption['modes']): string {
  const list = DAEMON_OPTIONS.filter((o) => o.modes === modes);
  const left = list.map((o) => (o.name === '--help' ? '-h, --help' : o.name === '--version' ? '-v, --version' : o.name) + (o.arg ? ` ${o.arg}` : ''));
  const width = Math.max(...left.map((l) => l.length)) + 2;
  return list.map((o, i) => `  ${left[i].padEnd(width)}${o.help}\n`).join('');
}

export function daemonUsageText(): string {
  return `Usage: wasmvsd proxy|gateway [options]
       wasmvsd -h|--help | -v|--version

Modes:
  proxy    userspace TCP/UDP proxy: one listener per service, no root needed (docs/proxy.md)
  gateway  netfilter-queue director forwarding NAT, DR and TUN packets; root (docs/gateway.md)

Options:
${rows('both')}
Proxy options:
${rows('proxy')}
Gateway options:
${rows('gateway')}
Environment:
  WASMVS_SOCKET     control socket when --socket is not given
  WASMVS_STATE      state file when --state is not given
  WASMVS_LOG_LEVEL  level of the JSON log on stderr: trace|debug|info|warn|error|fatal|silent (default info)
  WASMVS_METRICS    [host:]port of the Prometheus endpoint when the config file names none
  WASMVS_SPLICE     proxy --splice when the option is not given: auto|on|off
  WASMVS_PROXY_WORKERS  proxy --workers when the option is not given: N|auto

Signals (to the daemon's own pid, not to npx):
  SIGHUP           re-read --config and apply the difference
  SIGTERM, SIGINT  stop: end open connections within 5 s, (gateway) remove its rules and
                   restore its sysctls, then remove the control socket (gone = stopped)
  SIGUSR1          (gateway) log the packet counters
`;
}
