// Helpers for the least-load scheduler tests: dests named by their last octet
// (198.18.1.<n>), load set between picks through Director.setDestConns.
import { readFile } from 'node:fs/promises';
import { Director } from '../../sdk/index.js';
import type { SchedulerName } from '../../sdk/index.js';
import { counters } from '../../sdk/core/abi.gen.js';
import { tcp80, flowFrom } from '../helpers.js';

export const addr = (n: number) => `198.18.${1 + (n >> 8)}.${n & 255}`;

export interface DestDef {
  n: number;
  weight?: number;
  uThreshold?: number;
  lThreshold?: number;
}

export interface Bed {
  d: Director;
  /** dest id by octet */
  id: Map<number, number>;
  /** One pick: the chosen dest's octet, or '-' when none. */
  pick(): string;
  /** `k` picks without changing load (picks do not bind connections here). */
  picks(k: number): string[];
  /** Set (active, inactive) of the dest with octet n. */
  load(n: number, active: number, inactive?: number): void;
  /** Add a dest (it goes to the list head); returns its id. */
  add(x: DestDef): number;
  noDest(): number;
}

let clientPort = 10000;

let debugCore: Promise<WebAssembly.Module> | null = null;

/**
 * The debug core, compiled once per test file: property tests create hundreds
 * of Directors, and reading the file each time would also race a concurrent
 * rebuild of build/.
 */
function debugModule(): Promise<WebAssembly.Module> {
  debugCore ??= readFile(new URL('../../build/wasmvs.debug.wasm', import.meta.url)).then((b) => WebAssembly.compile(b));
  return debugCore;
}

/**
 * A Director on the debug core. Without `track`, schedule() is a bare
 * scheduler pick (no connection entries), so load moves only through
 * setDestConns and golden sequences stay readable; 'count': no entries, but
 * each pick counts one inactive connection (ended by endDestConn).
 */
export async function loadDirector(seed: number, track: boolean | 'count' = false): Promise<Director> {
  return Director.create({ seed, wasm: await debugModule(), connections: track });
}

/**
 * A tcp80 service with `sched` and the dests added in the given order (so the
 * list is reversed). Picks do not bind connections unless `track` is set.
 */
export async function bed(sched: SchedulerName, defs: DestDef[], seed = 1, track = false): Promise<Bed> {
  const d = await loadDirector(seed, track);
  d.addService(tcp80, { scheduler: sched });
  const id = new Map<number, number>();
  const add = (x: DestDef) => {
    const v = d.addDest(tcp80, { address: addr(x.n), weight: x.weight ?? 1, uThreshold: x.uThreshold, lThreshold: x.lThreshold });
    id.set(x.n, v);
    return v;
  };
  defs.forEach(add);
  const pick = () => {
    clientPort = clientPort >= 60000 ? 10000 : clientPort + 1;
    const r = d.schedule(flowFrom('198.18.9.9', clientPort));
    return r === null ? '-' : r.dest.address.split('.')[3];
  };
  return {
    d, id, pick, add,
    picks: (k) => Array.from({ length: k }, pick),
    load: (n, active, inactive = 0) => d.setDestConns(id.get(n)!, active, inactive),
    noDest: () => d.counter(counters.CNT_NO_DEST),
  };
}
