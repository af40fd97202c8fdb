// Finds and instantiates the core .wasm in Node or a browser, through
// @assemblyscript/loader (it supplies `abort` and friends).
//
// Nothing here imports a `node:` module where a bundler can see it: the file
// read that Node needs goes through process.getBuiltinModule (Node >= 20.16)
// or an import of a computed specifier that bundlers leave alone, so the
// library bundles for the browser with no configuration.
import * as loader from '@assemblyscript/loader';
import type { CoreExports } from './exports.js';

export type WasmSource = string | URL | ArrayBuffer | Uint8Array | WebAssembly.Module;
export type CoreFlavor = 'release' | 'debug';

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/**
 * Where the release core sits next to the compiled SDK (dist/sdk/core/ →
 * build/). A literal `new URL(…, import.meta.url)`, so Vite and webpack emit
 * the .wasm as an asset and rewrite the URL. esbuild leaves it as is, so a
 * browser also tries `wasmvs.wasm` next to the bundle (a name bundlers leave
 * alone: not a literal, and marked webpackIgnore); see the SDK section of README.md.
 */
const NEXT_TO_BUNDLE = 'wasmvs.wasm';
function browserRelease(): URL[] {
  return [new URL('../../../build/wasmvs.wasm', import.meta.url), new URL(/* webpackIgnore: true */ /* @vite-ignore */ NEXT_TO_BUNDLE, import.meta.url)];
}

function candidates(flavor: CoreFlavor): URL[] {
  if (flavor === 'release' && !isNode) return browserRelease();
  const file = flavor === 'debug' ? 'wasmvs.debug.wasm' : 'wasmvs.wasm';
  // From sdk/core (sources, tests) or dist/sdk/core (compiled) up to build/. Node only:
  // the magic comments keep webpack and Vite from making them bundle contexts.
  return [
    new URL(/* webpackIgnore: true */ /* @vite-ignore */ `../../build/${file}`, import.meta.url),
    new URL(/* webpackIgnore: true */ /* @vite-ignore */ `../../../build/${file}`, import.meta.url),
  ];
}

type ReadFile = (url: URL) => Promise<Uint8Array>;

async function nodeReadFile(): Promise<ReadFile> {
  const getBuiltin = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
  if (getBuiltin) return (getBuiltin('fs/promises') as { readFile: ReadFile }).readFile;
  const specifier = ['node:fs', 'promises'].join('/');
  return ((await import(/* webpackIgnore: true */ /* @vite-ignore */ specifier)) as { readFile: ReadFile }).readFile;
}

async function readBytes(src: string | URL): Promise<ArrayBuffer | Uint8Array> {
  const url = src instanceof URL ? src : new URL(src, isNode ? `file://${process.cwd()}/` : globalThis.location?.href);
  if (isNode && url.protocol === 'file:') return (await nodeReadFile())(url);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`cannot fetch the wasmvs core from ${url}: HTTP ${res.status}`);
  return res.arrayBuffer();
}

async function defaultBytes(flavor: CoreFlavor): Promise<ArrayBuffer | Uint8Array> {
  let lastErr: unknown;
  for (const url of candidates(flavor)) {
    try {
      return await readBytes(url);
    } catch (e) {
      lastErr = e;
    }
  }
  if (!isNode) {
    throw new Error(`cannot load the wasmvs core from ${candidates(flavor).join(' or ')}: serve wasmvs/build/wasmvs.wasm ` +
      `and pass its URL as the \`wasm\` option (Director.create({ wasm })): ${String(lastErr)}`);
  }
  throw new Error(`cannot find the wasmvs core (${flavor}); run \`npm run build\` first: ${String(lastErr)}`);
}

export async function instantiateCore(source?: WasmSource, flavor: CoreFlavor = 'release'): Promise<CoreExports> {
  let input: ArrayBuffer | Uint8Array | WebAssembly.Module;
  if (source === undefined) input = await defaultBytes(flavor);
  else if (typeof source === 'string' || source instanceof URL) input = await readBytes(source);
  else input = source;
  const { exports } = await loader.instantiate<CoreExports>(input as never, {});
  return directExports(exports as unknown as Record<string, unknown>) as unknown as CoreExports;
}

/**
 * The loader wraps each exported function in a rest-argument closure (for
 * optional arguments: the core has none, so it has no __setArgumentsLength
 * and the wrapper only spreads) and returns an object with so many
 * properties that V8 keeps it in dictionary mode, so every `x.schedule(…)`
 * was a dictionary lookup and a spread call (~4 ns of a ~40 ns schedule(1)).
 * The core's own functions (`.original`) in a plain object keep both off the
 * call path; the loader's helpers stay as they are.
 */
function directExports(x: Record<string, unknown>): Record<string, unknown> {
  // Built in one step (fromEntries): adding the properties one by one would put it in dictionary mode too.
  return Object.fromEntries(Object.entries(x).map(([k, v]) => {
    const original = typeof v === 'function' ? (v as { original?: unknown }).original : undefined;
    return [k, typeof original === 'function' ? original : v];
  }));
}
