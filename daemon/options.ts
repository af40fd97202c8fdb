// wasmvsd's options as data: one table read by the parser, by each host for
// its own settings and by `wasmvsd --help` (usage.ts). The daemon's own
// options are here; each host adds its own from hosts/<mode>/options.ts, a
// module that does not load the host, so a bad option is refused before the
// core, a host or the addon is loaded. node:util's parseArgs splits argv
// (`--name value` and `--name=value`); the checks and their messages are ours.
import { parseArgs } from 'node:util';
import type { SyncArgs } from './sync.js';

export type Mode = 'proxy' | 'gateway';
export const MODES: readonly Mode[] = ['proxy', 'gateway'];

/** A bad value or a bad combination: the message is the user's answer. */
export class OptionError extends Error {}

/** Parsed values by key (Option.key); an option not given has no key. */
export type OptionValues = Readonly<Record<string, unknown>>;

export interface Option {
  /** '--queue'. */
  readonly name: string;
  /** The value's name in --help; absent: a flag, which takes no value. */
  readonly arg?: string;
  /** The modes that accept it. */
  readonly modes: 'both' | Mode;
  /** Its line in --help. */
  readonly help: string;
  /** Where its value lands in OptionValues (default: the name without the dashes). */
  readonly key?: string;
  /** The value checked and converted (throws OptionError with the message); default: the text, which must not be empty. */
  readonly parse?: (value: string | undefined, name: string) => unknown;
  /** A flag's value (default true). */
  readonly set?: unknown;
  /** Listed in --help, handled before parsing (--help, --version). */
  readonly early?: boolean;
}

/** A host's options (hosts/<mode>/options.ts). */
export interface HostOptions {
  readonly mode: Mode;
  readonly options: readonly Option[];
  /** Its settings from its parsed values (defaults, checks across options); throws OptionError. */
  settle(values: OptionValues): unknown;
}

export const keyOf = (o: Option): string => o.key ?? o.name.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** A value that must be given and not empty. */
export function text(v: string | undefined, name: string): string {
  if (!v) throw new OptionError(`${name} needs a value`);
  return v;
}

/** A decimal integer in lo..hi: `invalid NAME V (UNIT, lo..hi)`. */
export function integer(lo: number, hi: number, unit?: string): (v: string | undefined, name: string) => number {
  return (v, name) => {
    if (v === undefined || !/^\d+$/.test(v) || Number(v) < lo || Number(v) > hi) throw new OptionError(`invalid ${name} ${v ?? ''} (${unit ? `${unit}, ` : ''}${lo}..${hi})`);
    return Number(v);
  };
}

/** One of `words`: `invalid NAME V (SAYS)`. */
export function oneOf<T extends string>(words: readonly T[], says = words.join('|')): (v: string | undefined, name: string) => T {
  return (v, name) => {
    if (!(words as readonly (string | undefined)[]).includes(v)) throw new OptionError(`invalid ${name} ${v ?? ''} (${says})`);
    return v as T;
  };
}

/** One argv word as the table sees it. */
export interface ArgWord {
  /** The word as given (for messages). */
  raw: string;
  /** A mode word or other positional. */
  positional?: string;
  /** The table's option; undefined for an option the table does not have. */
  option?: Option;
  value?: string;
}

/** argv split by node:util's parseArgs over `table`, in order; options not in the table come back without `option`. */
export function argWords(argv: readonly string[], table: readonly Option[]): ArgWord[] {
  const config: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const o of table) config[o.name.slice(2)] = { type: o.arg ? 'string' : 'boolean' };
  const { tokens } = parseArgs({ args: [...argv], options: config, strict: false, allowPositionals: true, tokens: true });
  const out: ArgWord[] = [];
  let last = -1;
  for (const t of tokens) {
    // `-abc` is one word, three tokens: the first is enough to refuse it.
    if (t.index === last) continue;
    last = t.index;
    const raw = argv[t.index];
    if (t.kind === 'positional') out.push({ raw, positional: t.value });
    else if (t.kind === 'option-terminator') out.push({ raw });
    else {
      const option = t.rawName.startsWith('--') ? table.find((o) => o.name === t.rawName) : undefined;
      // A flag given a value (--fail-open=1) is not that flag.
      out.push(option && !option.arg && t.inlineValue ? { raw } : { raw, option, value: t.value });
    }
  }
  return out;
}

/** The value an option given as `w` stores (its parse or flag value); throws OptionError. */
export function optionValue(w: ArgWord): unknown {
  const o = w.option!;
  if (!o.arg) return o.set ?? true;
  return (o.parse ?? text)(w.value, o.name);
}

/** Parses argv against one host's options alone (the host used without wasmvsd: tests, benches); throws OptionError. */
export function parseHostArgs(argv: readonly string[], host: HostOptions, unknown: (raw: string) => string): OptionValues {
  const values: Record<string, unknown> = {};
  for (const w of argWords(argv, host.options)) {
    if (!w.option) throw new OptionError(unknown(w.raw));
    values[keyOf(w.option)] = optionValue(w);
  }
  return values;
}

const storeUrl = (v: string | undefined, name: string): string => {
  const s = text(v, name);
  if (!s.startsWith('etcd://')) throw new OptionError(`--store ${s}: expected etcd://HOST:PORT/PREFIX (without --store the state file is the store)`);
  return s;
};

/** The daemon's own options, both modes (the hosts' follow in the table wasmvsd builds). */
export const DAEMON_OPTIONS: readonly Option[] = [
  { name: '--socket', arg: 'PATH', modes: 'both', help: 'control socket, mode 0600 (default $WASMVS_SOCKET, /run/wasmvs/wasmvsd.sock as root, else $XDG_RUNTIME_DIR/wasmvs/wasmvsd.sock)' },
  { name: '--state', arg: 'FILE', modes: 'both', help: 'state file, rewritten on every change and restored at start (default $WASMVS_STATE, /var/lib/wasmvs/wasmvsd.rules as root, else $XDG_STATE_HOME/wasmvs/wasmvsd.rules)' },
  { name: '--config', arg: 'FILE', modes: 'both', help: 'rules in wasmvsadm -R syntax, applied at start only when there is no state file; re-read on SIGHUP' },
  { name: '--store', arg: 'etcd://HOST:PORT/PREFIX', modes: 'both', parse: storeUrl, help: 'keep the configuration in etcd, shared by every director on PREFIX; the state file keeps the last applied copy (docs/many-directors.md)' },
  { name: '--name', arg: 'NAME', modes: 'both', help: "this director's name in the etcd membership (default the host name, plus the socket when --socket is given)" },
  { name: '--sync-listen', arg: 'HOST:PORT', modes: 'both', help: 'accept connection sync from peer directors on HOST:PORT (TCP; docs/many-directors.md)' },
  { name: '--sync-peers', arg: 'HOST:PORT,…|etcd', modes: 'both', help: 'peer directors to sync connection entries with (etcd: the directors of --store); a peer\'s snapshot is imported before this director is ready' },
  { name: '--sync-key', arg: 'FILE', modes: 'both', help: 'the key shared by the directors (at least 16 bytes): every sync batch carries its HMAC-SHA256' },
  { name: '--sync-wait', arg: 'S', modes: 'both', help: "at start, how long to wait for the peers' snapshots before serving without them (default 10)" },
  // IPVS's CONFIG_IP_VS_TAB_BITS range.
  { name: '--conn-tab-bits', arg: 'N', modes: 'both', parse: integer(8, 20), help: 'connection table hash size 2^N, 8..20 (default 12, as IPVS)' },
  { name: '--memory-limit', arg: 'MiB', modes: 'both', key: 'memoryLimitMiB', parse: integer(16, 4095, 'MiB'), help: "the core's memory budget, 16..4095 (default a quarter of the machine's memory)" },
  { name: '--help', modes: 'both', early: true, help: 'this text' },
  { name: '--version', modes: 'both', early: true, help: 'the package version and the core ABI version' },
];

export interface DaemonArgs {
  mode: Mode; socket?: string; state?: string; config?: string; connTabBits: number; memoryLimitMiB?: number;
  /** The mode's own options, by key, as its table parsed them (hosts/<mode>/options.ts). */
  dataPathOptions: OptionValues;
  /** etcd://HOST:PORT/PREFIX: the configuration lives in etcd (docs/many-directors.md). */
  store?: string;
  /** This director's name in the etcd membership. */
  name?: string;
  /** Connection sync with peers (sync.ts). */
  sync?: SyncArgs;
}

/** The whole table: the daemon's options, then each host's. */
export function optionTable(hosts: readonly HostOptions[]): Option[] {
  return [...DAEMON_OPTIONS, ...hosts.flatMap((h) => h.options)];
}

/**
 * wasmvsd's argv: a mode word and the options of the table. Returns the
 * arguments or the message that refuses them; the first problem in argv order
 * is reported, an option of the other mode as `--x is a proxy option`.
 */
export function parseDaemonOptions(argv: readonly string[], hosts: readonly HostOptions[]): DaemonArgs | string {
  const table = optionTable(hosts);
  const words = argWords(argv, table);
  const mode = words.find((w) => w.positional !== undefined && (MODES as readonly string[]).includes(w.positional))?.positional as Mode | undefined;
  const own: Record<string, unknown> = {};
  const dataPath: Record<string, unknown> = {};
  let modeSeen = false;
  try {
    for (const w of words) {
      if (w.positional !== undefined && w.positional === mode && !modeSeen) { modeSeen = true; continue; }
      const o = w.option;
      if (!o || o.early) return `unexpected argument ${w.raw}`;
      if (mode !== undefined && o.modes !== 'both' && o.modes !== mode) return `${o.name} is a ${o.modes} option`;
      (o.modes === 'both' ? own : dataPath)[keyOf(o)] = optionValue(w);
    }
    if (!mode) return 'a mode is required: proxy or gateway';
    hosts.find((h) => h.mode === mode)?.settle(dataPath);
  } catch (e) {
    if (e instanceof OptionError) return e.message;
    throw e;
  }
  const out: DaemonArgs = { mode, connTabBits: (own.connTabBits as number | undefined) ?? 12, dataPathOptions: dataPath };
  for (const k of ['socket', 'state', 'config', 'store', 'name', 'memoryLimitMiB'] as const) if (own[k] !== undefined) (out as unknown as Record<string, unknown>)[k] = own[k];
  const sync: SyncArgs = {};
  if (own.syncListen !== undefined) sync.listen = own.syncListen as string;
  if (own.syncPeers !== undefined) sync.peers = own.syncPeers as string;
  if (own.syncKey !== undefined) sync.keyFile = own.syncKey as string;
  if (own.syncWait !== undefined) sync.wait = own.syncWait as string;
  if (Object.keys(sync).length > 0) out.sync = sync;
  return out;
}
