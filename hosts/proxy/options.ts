// `wasmvsd proxy`'s own options, as data for wasmvsd's table (daemon/options.ts):
// its parser and --help read them without loading the proxy or the addon.
import { oneOf, OptionError, type HostOptions, type OptionValues } from '../../daemon/options.js';
import { parseWorkers } from '../../daemon/workers-option.js';

export type SpliceMode = 'auto' | 'on' | 'off';
export const SPLICE_MODES: readonly SpliceMode[] = ['auto', 'on', 'off'];

/** $WASMVS_SPLICE (or another setting named `what`): empty or unset is auto. */
export function parseSpliceMode(text: string | undefined, what = '--splice'): SpliceMode {
  if (text === undefined || text === '') return 'auto';
  if ((SPLICE_MODES as readonly string[]).includes(text)) return text as SpliceMode;
  throw new Error(`invalid ${what} ${text} (auto, on or off)`);
}

export type EngineMode = 'auto' | 'native' | 'js';
export const ENGINE_MODES: readonly EngineMode[] = ['auto', 'native', 'js'];

/** $WASMVS_ENGINE (or another setting named `what`): empty or unset is the default, DEFAULT_ENGINE. */
export function parseEngineMode(text: string | undefined, what = '--engine'): EngineMode {
  if (text === undefined || text === '') return DEFAULT_ENGINE;
  if ((ENGINE_MODES as readonly string[]).includes(text)) return text as EngineMode;
  throw new Error(`invalid ${what} ${text} (auto, native or js)`);
}

/**
 * The engine without --engine or $WASMVS_ENGINE: native when the addon loads
 * (1.6-1.9x the naive Node proxy's connections per second and a quarter of
 * the JS path's memory per idle connection, bench/proxy/REPORT.md), else js.
 */
export const DEFAULT_ENGINE: EngineMode = 'auto';

/** What the options set; absent: the environment's or the default (hosts/proxy/datapath.ts). */
export interface ProxyArgs { splice?: SpliceMode; workers?: number; engine?: EngineMode; nativeCore?: boolean }

/** $WASMVS_NATIVE_CORE: on, off, or unset/empty (undefined: the default, on with two pumps or more where the addon has the native core). */
export function parseNativeCore(text: string | undefined): boolean | undefined {
  if (text === undefined || text === '') return undefined;
  if (text === 'on' || text === 'off') return text === 'on';
  throw new Error(`invalid WASMVS_NATIVE_CORE ${text} (on or off)`);
}

export const PROXY_OPTIONS: HostOptions = {
  mode: 'proxy',
  options: [
    { name: '--splice', arg: 'auto|on|off', modes: 'proxy', parse: oneOf(SPLICE_MODES, 'auto, on or off'), help: 'TCP bytes move kernel to kernel (splice(2)) through the native addon; on: every connection once its real server accepted; auto: connections past 64 KiB, when the addon loads (default $WASMVS_SPLICE, else auto; docs/proxy.md)' },
    { name: '--engine', arg: 'auto|native|js', modes: 'proxy', parse: oneOf(ENGINE_MODES, 'auto, native or js'), help: 'who owns the TCP sockets: native: the addon\'s threads accept, connect and move the bytes, the core decides every connection (with --workers N: N threads, one process); js: Node\'s sockets; auto: native when the addon loads (default $WASMVS_ENGINE, else auto; docs/proxy.md "The native engine")' },
    { name: '--native-core', arg: 'on|off', modes: 'proxy', parse: (v, name) => oneOf(['on', 'off'] as const)(v, name) === 'on', help: 'with the native engine: the director runs on the addon\'s native core, and each pump decides the clients it accepts and gives the table their state changes itself, on its own thread; off: the main thread decides every connection (default $WASMVS_NATIVE_CORE, else on with --workers 2 or more where the addon has the native core, built with wasm2c, off with one pump; docs/proxy.md "The native engine")' },
    { name: '--workers', arg: 'N|auto', modes: 'proxy', parse: workers, help: 'TCP in N native engine threads, or with --engine js N worker processes (auto: one per CPU); scheduling and accounting stay in the daemon\'s main thread; 1 (default): one (docs/proxy.md "Workers")' },
  ],
  settle: proxyArgs,
};

function workers(v: string | undefined): number {
  const n = parseWorkers(v);
  if (typeof n === 'string') throw new OptionError(n);
  return n;
}

export function proxyArgs(values: OptionValues): ProxyArgs {
  return {
    splice: values.splice as SpliceMode | undefined, workers: values.workers as number | undefined, engine: values.engine as EngineMode | undefined,
    nativeCore: values.nativeCore as boolean | undefined,
  };
}
