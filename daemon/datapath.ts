// The daemon's data path (the userspace proxy or the netfilter-queue gateway) seen
// from wasmvsd: started with the Director, told when the configuration
// changes, stopped with a deadline. Modules register by mode; when a mode's
// module is not there yet wasmvsd runs the no-op path and says so.
import type { Director } from '../sdk/director.js';
import type { ConfigCmd, CmdResult, DrainRequest, DrainInfo } from '../ipvsadm/protocol.js';

export type Mode = 'proxy' | 'gateway';
export const MODES: readonly Mode[] = ['proxy', 'gateway'];

export interface DataPathContext {
  mode: Mode;
  /** --config FILE, if given (the data path's own settings live there too). */
  configFile?: string;
  /** The data path's own command-line options (gateway: --queue, --burst, ...). */
  args?: readonly string[];
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
  /** Called after every configuration change that the daemon accepted. */
  /**
   * `journal`: the accepted changes as rule lines, when known (null: too many
   * or not expressible as lines); the proxy logs them.
   */
  configChanged(journal?: string[] | null): void;
  /** Drain requests from the control socket (optional: the proxy has them). */
  drain?(req: DrainRequest): DrainInfo[];
  /** Stop accepting, drain until the deadline (ms from now), release everything. */
  stop(deadlineMs: number): Promise<void>;
}

export type DataPathFactory = (ctx: DataPathContext) => DataPath | Promise<DataPath>;

const registry = new Map<Mode, DataPathFactory>();

export function registerDataPath(mode: Mode, factory: DataPathFactory): void {
  registry.set(mode, factory);
}

/**
 * Modules that register a data path when imported, relative to this file in
 * dist/daemon/. Each must call registerDataPath(mode, factory).
 */
export const DATAPATH_MODULES: Record<Mode, string> = {
  proxy: '../hosts/proxy/datapath.js',
  gateway: '../hosts/gateway/datapath.js',
};

export const noopDataPath: DataPath = {
  name: 'none',
  async start() { /* nothing forwards traffic */ },
  configChanged() { /* nothing to tell */ },
  async stop() { /* nothing to stop */ },
};

/** The registered factory for `mode`, importing its module first; null when it is not present. */
export async function loadDataPath(mode: Mode, ctx: DataPathContext): Promise<DataPath | null> {
  if (!registry.has(mode)) {
    const url = new URL(DATAPATH_MODULES[mode], import.meta.url);
    try {
      await import(url.href);
    } catch (e) {
      const code = (e as { code?: string }).code;
      const missing = code === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes(url.pathname);
      if (!missing) throw e;
    }
  }
  const f = registry.get(mode);
  return f ? f(ctx) : null;
}
