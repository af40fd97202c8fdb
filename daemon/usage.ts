// wasmvsd's -h and --version texts. The help lists the option table the parser
// reads (options.ts and each host's options.ts), so every option accepted is listed.
import { CORE_ABI, WASMVS_VERSION } from '../ipvsadm/usage.js';
import type { Option } from './options.js';

/** `wasmvsd v<package> (wasmvs core ABI <major>.<minor>)`. */
export function daemonVersionText(): string {
  return `wasmvsd v${WASMVS_VERSION} (wasmvs core ABI ${CORE_ABI})\n`;
}

function rows(table: readonly Option[], modes: Option['modes']): string {
  const list = table.filter((o) => o.modes === modes);
  const left = list.map((o) => (o.name === '--help' ? '-h, --help' : o.name === '--version' ? '-v, --version' : o.name) + (o.arg ? ` ${o.arg}` : ''));
  const width = Math.max(...left.map((l) => l.length)) + 2;
  return list.map((o, i) => `  ${left[i].padEnd(width)}${o.help}\n`).join('');
}

/** The help for `table` (wasmvsd's: the daemon's options and each host's). */
export function daemonUsageText(table: readonly Option[]): string {
  return `Usage: wasmvsd proxy|gateway [options]
       wasmvsd -h|--help | -v|--version

Modes:
  proxy    userspace TCP/UDP proxy: one listener per service, no root needed (docs/proxy.md)
  gateway  netfilter-queue director forwarding NAT, DR and TUN packets; root (docs/gateway.md)

Options:
${rows(table, 'both')}
Proxy options:
${rows(table, 'proxy')}
Gateway options:
${rows(table, 'gateway')}
Environment:
  WASMVS_SOCKET     control socket when --socket is not given
  WASMVS_STATE      state file when --state is not given
  WASMVS_LOG_LEVEL  level of the JSON log on stderr: trace|debug|info|warn|error|fatal|silent (default info)
  WASMVS_METRICS    [host:]port of the Prometheus endpoint when the config file names none
  WASMVS_SPLICE     proxy --splice when the option is not given: auto|on|off
  WASMVS_PROXY_WORKERS  proxy --workers when the option is not given: N|auto
  WASMVS_NATIVE_CORE    proxy --native-core when the option is not given: on|off (default on with --workers 2+)
  WASMVS_QUEUE_THREADS  gateway --queue-threads when the option is not given: on|off (default on)

Signals (to the daemon's own pid, not to npx):
  SIGHUP           re-read --config and apply the difference
  SIGTERM, SIGINT  stop: end open connections within 5 s, (gateway) remove its rules and
                   restore its sysctls, then remove the control socket (gone = stopped)
  SIGUSR1          (gateway) log the packet counters
`;
}
