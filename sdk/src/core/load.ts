// Finds and instantiates the core .wasm in Node or a browser, through
// @assemblyscript/loader (it supplies `abort` and friends).
import * as loader from '@assemblyscript/loader';
import type { CoreExports } from './exports.js';

export type WasmSource = string | URL | ArrayBuffer | Uint8Array | WebAssembly.Module;
export type CoreFlavor = 'release' | 'debug';

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

function candidates(flavor: CoreFlavor): URL[] {
  const file = flavor === 'debug' ? 'wasmvs.debug.wasm' : 'wasmvs.wasm';
  // From sdk/src/core (sources) or dist/sdk/src/core (compiled) up to build/.
  return [new URL(`../../../build/${file}`, import.meta.url), new URL(`../../../../build/${file}`, import.meta.url)];
}

async function readBytes(src: string | URL): Promise<ArrayBuffer | Uint8Array> {
  const url = src instanceof URL ? src : new URL(src, isNode ? `file://${process.cwd()}/` : globalThis.location?.href);
  if (isNode && url.protocol === 'file:') {
    const { readFile } = await import('node:fs/promises');
    return readFile(url);
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`cannot fetch wasmvs core from ${url}: HTTP ${res.status}`);
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
  throw new Error(`cannot find the wasmvs core (${flavor}); run \`npm run build\` first: ${String(lastErr)}`);
}

export async function instantiateCore(source?: WasmSource, flavor: CoreFlavor = 'release'): Promise<CoreExports> {
  let input: ArrayBuffer | Uint8Array | WebAssembly.Module;
  if (source === undefined) input = await defaultBytes(flavor);
  else if (typeof source === 'string' || source instanceof URL) input = await readBytes(source);
  else input = source;
  const { exports } = await loader.instantiate<CoreExports>(input as never, {});
  return exports as unknown as CoreExports;
}
