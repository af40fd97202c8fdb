// Loads the optional NFQUEUE addon. The SDK installs without it (no compiler
// or libmnl needed); only the gateway asks for it, and gets a clear error.
// The package ships a prebuilt addon for linux-x64 glibc (prebuildify, found
// with node-gyp-build); elsewhere, or where it does not load, `npm run
// build:native` builds one from source.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export type VerdictMode = 'batch' | 'per-packet';

/** Options of one bound queue (see native/src/nfq_socket.h). */
export interface NfQueueOptions {
  queue: number;
  /** Bytes of each packet copied to userspace (<= 65535). */
  copyRange?: number;
  /** Kernel queue length before packets are dropped (or accepted with failOpen). */
  maxLen?: number;
  /** Accept instead of drop when the queue is full. */
  failOpen?: boolean;
  /** Receive unsegmented GSO packets (checksum may be partial). */
  gso?: boolean;
  /** Socket receive buffer in bytes. */
  rcvBuf?: number;
  /** false: one verdict message per packet, still one send per burst (for comparisons only). */
  batch?: boolean;
  /**
   * 'batch' (default): batch messages where possible, one send per burst.
   * 'per-packet': one NFQNL_MSG_VERDICT per packet, each in its own sendto
   * (the honest per-packet baseline for benchmarks; overrides `batch`).
   */
  verdictMode?: VerdictMode;
}

export interface NfQueueStats {
  packets: number; enobufs: number; nlErrors: number; malformed: number; verdictMsgs: number; sends: number;
  /** Netlink messages dropped because they did not come from the kernel (port id not 0). */
  foreign?: number;
  /** recvmmsg calls that returned datagrams (several packets each when they wait together). */
  recvCalls?: number;
  /** With a queue thread (useCore): bursts it answered alone, and those it handed to JS. */
  thread?: { bursts: number; packets: number; handedRaw: number; handedDecided: number; sendErrors: number; lastError: number;
    /** Destroy events the thread read and the core applied (useConntrack), and the packets they fed to the statistics. */
    ctEvents: number; ctFed: number;
    /** SYNs that met live entries, decided on the thread after it read those events. */
    staleSyns: number };
}

/** A queue thread's settings (NativeQueue.useCore); the clock is the director's, in seconds at clockNs (CLOCK_MONOTONIC). */
export interface QueueThreadOptions { area: number; stride: number; burst: number; clockSeconds: number; clockNs: number }

/** A burst a queue thread handed to JS: undecided (stale SYNs), or decided with gwBurst's status. */
export interface HandedBurst {
  n: number; decided: boolean; status: number;
  /** Conntrack records the core applied on the thread, and the actions it asked of the kernel's entries (rare). */
  ct?: Uint8Array; acts?: Uint8Array;
}

/** The native class as the host sees it; tests pass a fake with this shape. */
export interface NativeQueue {
  readonly fd: number;
  start(onReadable: (status: number) => void): void;
  stop(): void;
  read(buf: Uint8Array, stride: number, max: number): number;
  /** batch false: no batch verdicts (queued packets held back would be taken by one for a later id). */
  verdicts(records: Uint8Array, count: number, payloads?: Uint8Array, batch?: boolean): number;
  /** Queue GSO super-packets whole (true) or have the kernel segment them first (false). */
  setGso?(on: boolean): void;
  /**
   * From the next start() on, a thread of this queue reads and decides its bursts on `core` (a native
   * core, loadNativeCore) in I/O area `area` (1 or more) and sends their verdicts; start()'s callback
   * then runs only when the thread hands a burst over (takeHanded). False when the addon has no native
   * core or the queue is started already.
   */
  useCore?(core: object, options: QueueThreadOptions): boolean;
  /** The burst the thread handed over, copied into `packets` (and its verdicts into `list` when decided); null when none waits. */
  takeHanded?(packets: Uint8Array, list: Uint8Array): HandedBurst | null;
  /** The burst takeHanded returned is answered (verdicts sent or held): the thread reads again. */
  handedDone?(): void;
  /** Whether the thread may send batch verdicts: false while JS owes this queue answers (held packets). */
  allowBatch?(ok: boolean): void;
  /** Whether the thread hands over bursts whose SYNs meet stale entries (gwStaleSyns) undecided. */
  staleCheck?(on: boolean): void;
  /** The real servers (dest id & GW_DR_SLOT_MASK) whose rules are in: a verdict towards any other is handed over. */
  setReady?(slots: Uint32Array): void;
  /**
   * The fast path's conntrack feed (its Conntrack object, marks and ctApply's flag bits): before a burst
   * with stale SYNs the thread reads the pending destroy events and has the core apply them itself,
   * while ctOn(true). False without a thread or when `conntrack` is not one.
   */
  useConntrack?(conntrack: object, options: { mark: number; mask: number; settled: number; young: number }): boolean;
  ctOn?(on: boolean): void;
  stats(): NfQueueStats;
  close(): void;
}

export type NativeQueueClass = new (options: NfQueueOptions) => NativeQueue;

/** Why the addon is unavailable: none for this system, or one that does not load. */
export type AddonMissingReason = 'not-built' | 'no-libmnl';

export class AddonMissingError extends Error {
  readonly code = 'WASMVS_NO_ADDON';
  constructor(message: string, readonly reason: AddonMissingReason, readonly tried: readonly string[]) {
    super(message);
  }
}

/** Where the addon was found: the prebuilt one shipped in prebuilds/, or one built here from source. */
export interface LoadedAddon { NfQueue: NativeQueueClass; path: string; kind: 'prebuilt' | 'built' }

/** The package root, from native (sources) or dist/native (compiled). */
function packageRoot(): string {
  const up = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  return basename(up) === 'dist' ? dirname(up) : up;
}

const firstLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0];

/**
 * Loads the addon: the prebuilt one for this platform first (prebuilds/<platform>-<arch>/,
 * chosen by node-gyp-build by platform, arch and libc; `WASMVS_PREBUILD=<dir>` points it
 * elsewhere), then one built from source (`npm run build:native` → native/build/Release).
 * Both link libmnl dynamically: without libmnl.so.0 the error says which package to install.
 */
export function loadNativeAddon(root = packageRoot()): LoadedAddon {
  const require = createRequire(join(root, 'package.json'));
  const tried: string[] = [];
  const failures: { path: string; error: unknown }[] = [];
  let prebuilt: string | null = null;
  try {
    const ngb = require('node-gyp-build') as { path(dir: string): string };
    prebuilt = ngb.path(root);
  } catch (e) {
    tried.push(`no prebuilt addon for ${process.platform}-${process.arch} (${firstLine(e).trim()})`);
  }
  const built = join(root, 'native/build/Release/wasmvs_nfq.node');
  const paths: [string, 'prebuilt' | 'built'][] = [];
  if (prebuilt !== null) paths.push([prebuilt, 'prebuilt']);
  if (existsSync(built)) paths.push([built, 'built']);
  else tried.push(`not built from source (${built})`);
  for (const [path, kind] of paths) {
    try {
      return { NfQueue: (require(path) as { NfQueue: NativeQueueClass }).NfQueue, path, kind };
    } catch (e) {
      failures.push({ path, error: e });
      tried.push(`${path}: ${firstLine(e)}`);
    }
  }
  const noMnl = failures.find((f) => /libmnl\.so/.test(firstLine(f.error)));
  if (noMnl) {
    throw new AddonMissingError(
      'the wasmvs netfilter-queue addon cannot load: it links the libmnl shared library (libmnl.so.0), ' +
        'which is not installed; install it (Debian/Ubuntu: apt-get install libmnl0; Fedora/RHEL: dnf install libmnl; ' +
        `Alpine: apk add libmnl) (${firstLine(noMnl.error)})`,
      'no-libmnl', tried);
  }
  const what = failures.length > 0 ? 'the prebuilt addon does not load on this system' : `no prebuilt addon matches ${process.platform}-${process.arch}`;
  throw new AddonMissingError(
    `the wasmvs netfilter-queue addon is not built: ${what}; install a C++ compiler and libmnl-dev, ` +
      `then run \`npm run build:native\` (${tried.join('; ')})`,
    'not-built', tried);
}

/** The native NfQueue class, or AddonMissingError. */
export function loadNativeQueue(): NativeQueueClass {
  return loadNativeAddon().NfQueue;
}

/** The addon's native core object (native/src/core_native.cc). */
export interface NativeCoreObject {
  /** One function per core export, as a WebAssembly instance's. */
  exports(): Record<string, (...args: number[]) => number>;
  /** The linear memory; detached when the memory grows (take it again). */
  buffer(): ArrayBuffer;
  /** Linear memory pages (64 KiB). */
  pages(): number;
}

/**
 * The exports of a native core instance, shaped as a WebAssembly instance's
 * (functions by export name, and `memory.buffer`): what the SDK takes as
 * DirectorOptions.exports (its CoreExports; this room imports nothing of ours).
 */
export type NativeCoreExports = { readonly memory: { readonly buffer: ArrayBuffer } } & Record<string, unknown>;

/** A native core instance as the SDK takes it (DirectorOptions.exports), and the object behind it. */
export interface NativeCore {
  exports: NativeCoreExports;
  core: NativeCoreObject;
}

/**
 * A new instance of the native core: the core's AssemblyScript translated to
 * C (wasm2c) and built into the addon, so the addon's threads can call it
 * too. null when this addon was built without it (no wasm2c where it was
 * built), or when there is no addon at all; `why` says which.
 */
export function loadNativeCore(root = packageRoot()): NativeCore | { exports: null; why: string } {
  let path: string;
  try {
    path = loadNativeAddon(root).path;
  } catch (e) {
    return { exports: null, why: firstLine(e) };
  }
  const require = createRequire(join(root, 'package.json'));
  const Ctor = (require(path) as { NativeCore?: new () => NativeCoreObject }).NativeCore;
  if (Ctor === undefined) return { exports: null, why: `the addon ${path} was built without the native core (wasm2c, Debian package wabt, was missing)` };
  const core = new Ctor();
  const fns = core.exports();
  // One plain object built in one step (as sdk/core/load.ts does for the wasm exports): a fast-properties map.
  const memory = { get buffer() { return core.buffer(); } };
  const exports = Object.fromEntries([...Object.entries(fns), ['memory', memory]]) as NativeCoreExports;
  return { exports, core };
}
