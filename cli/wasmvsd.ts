// wasmvsd, the program: the daemon (daemon/wasmvsd.ts) joined to its hosts.
// Here are the option table (the daemon's options and each host's, for the
// parser and --help) and the mode table that loads a host's data path.
// --help, --version and a refused option load neither the core nor a host.
import { parseDaemonOptions, optionTable, type DaemonArgs, type HostOptions } from '../daemon/options.js';
import { daemonUsageText, daemonVersionText } from '../daemon/usage.js';
import { socketPath, sysctlRecordPath } from '../daemon/paths.js';
import { optionalModule, type DataPaths } from '../daemon/datapath.js';
import { PROXY_OPTIONS } from '../hosts/proxy/options.js';
import { GATEWAY_OPTIONS } from '../hosts/gateway/options.js';

export const HOSTS: readonly HostOptions[] = [PROXY_OPTIONS, GATEWAY_OPTIONS];

/** Every option wasmvsd accepts, once: what the parser reads and --help lists. */
export const WASMVSD_OPTIONS = optionTable(HOSTS);

/** The mode table: each mode's data path, loaded only when the daemon runs in it (null: not in this build). */
export const DATA_PATHS: DataPaths = {
  proxy: () => optionalModule(import('../hosts/proxy/datapath.js'), import.meta.url),
  gateway: () => optionalModule(import('../hosts/gateway/datapath.js'), import.meta.url),
};

export function parseDaemonArgs(argv: readonly string[]): DaemonArgs | string {
  return parseDaemonOptions(argv, HOSTS);
}

export const usageText = (): string => daemonUsageText(WASMVSD_OPTIONS);

const log = (m: string) => process.stderr.write(`wasmvsd: ${m}\n`);

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) { process.stdout.write(usageText()); return 0; }
  if (argv.includes('-v') || argv.includes('--version')) { process.stdout.write(daemonVersionText()); return 0; }
  const args = parseDaemonArgs(argv);
  if (typeof args === 'string') { process.stderr.write(`wasmvsd: ${args}\nTry 'wasmvsd --help' for the options.\n`); return 2; }
  if (args.mode === 'gateway' && args.dataPathOptions.cleanup) {
    // Undo what a dead gateway left and exit: no core, no daemon.
    const sock = socketPath(args.socket);
    const { cleanupGateway } = await import('../hosts/gateway/cleanup.js');
    return cleanupGateway(sock, sysctlRecordPath(sock), log);
  }
  const { runDaemon } = await import('../daemon/wasmvsd.js');
  return runDaemon(args, DATA_PATHS);
}

export async function runMain(): Promise<void> {
  try {
    process.exit(await main());
  } catch (e) {
    log(e instanceof Error ? e.message : String(e));
    process.exit(1);
  }
}
