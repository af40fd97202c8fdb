// The daemon's data path (the userspace proxy or the netfilter-queue gateway)
// seen from wasmvsd: started with the Director, told when the configuration
// changes, stopped with a deadline. The program (cli/wasmvsd.ts) hands the
// daemon a loader per mode; each host's module exports its factory. A build
// without a mode's module runs the no-op path and says so.
import { fileURLToPath } from 'node:url';
import type { Director } from '../sdk/director.js';
import type { ConfigCmd, CmdResult, DrainRequest, DrainInfo } from '../ipvsadm/protocol.js';
import type { Mode, OptionValues } from './options.js';

export { MODES, type Mode } from './options.js';

export interface DataPathContext {
  mode: Mode;
  /** --config FILE, if given (the data path's own settings live there too). */
  configFile?: string;
  /** The data path's own options, by key, as its table parsed them (hosts/<mode>/options.ts). */
  options?: OptionValues;
  /** The control socket (the gateway records the sysctls it changes beside it). */
  socket?: string;
  /** Connections are synced with peer directors (--sync-*): the gateway keeps NAT services on the userspace path. */
  connSync?: boolean;
  log(message: string): void;
  /**
   * Apply configuration commands as if they came over the control socket
   * (state file written, configChanged called): the proxy's SIGHUP reload.
   */
  apply?(cmds: ConfigCmd[]): CmdResult[];
}

export interface DataPath {
  readonly name: string;
  start(director: Director): Promise<void>;
  /**
   * Called after every configuration change that the daemon accepted.
   * `journal`: the accepted changes as rule lines, when known (null: too many
   * or not expressible as lines); the proxy logs them. A promise (never
   * rejecting) when the data path carries the change only later (the
   * gateway's rules round): the request's reply waits for it.
   */
  configChanged(journal?: string[] | null): void | Promise<void>;
  /** Drain requests from the control socket (optional: the proxy has them). */
  drain?(req: DrainRequest): DrainInfo[];
  /**
   * Before the control socket lists services or connections (optional): a
   * data path whose states and counters reach the table late (the gateway's
   * fast path, fed from conntrack) brings it up to date first.
   */
  beforeRead?(): void;
  /** The same without holding the event loop (optional): the control socket awaits it, then lists. */
  beforeReadAsync?(): Promise<void>;
  /** Stop accepting, drain until the deadline (ms from now), release everything. */
  stop(deadlineMs: number): Promise<void>;
  /**
   * The core the daemon's director runs on, when this data path brings its own (optional): the
   * native core its threads call too (DirectorOptions.exports), with the clock the director
   * must keep. Asked once, before the director is made; null or absent: the WebAssembly core.
   */
  coreExports?(): { exports: object; clock: () => number } | null;
}

export type DataPathFactory = (ctx: DataPathContext) => DataPath | Promise<DataPath>;

/** What a host's data path module exports. */
export interface DataPathModule { createDataPath: DataPathFactory }

/** Per mode, how to load its data path module; null: the module is not in this build. */
export type DataPaths = Readonly<Record<Mode, () => Promise<DataPathModule | null>>>;

export const noopDataPath: DataPath = {
  name: 'none',
  async start() { /* nothing forwards traffic */ },
  configChanged() { /* nothing to tell */ },
  async stop() { /* nothing to stop */ },
};

/**
 * `load` (an import() made by the module at `importer`), or null when the
 * module it names is absent: a build without that host. A module missing
 * further down (a host's dependency, an optional peer such as pino) is an
 * error, with its own message.
 */
export async function optionalModule<T>(load: Promise<T>, importer: string): Promise<T | null> {
  try {
    return await load;
  } catch (e) {
    const missing = (e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' &&
      String((e as Error).message).endsWith(` imported from ${fileURLToPath(importer)}`);
    if (missing) return null;
    throw e;
  }
}

/** The data path of `mode` from `paths`; null when its module is not in this build. */
export async function loadDataPath(paths: DataPaths, mode: Mode, ctx: DataPathContext): Promise<DataPath | null> {
  const m = await paths[mode]();
  return m ? m.createDataPath(ctx) : null;
}
