// --workers N|auto of `wasmvsd proxy` (its own module: wasmvsd checks it without loading the proxy).
import { availableParallelism } from 'node:os';

/** --workers N|auto (also WASMVS_PROXY_WORKERS): a count ≥ 1; 1 = everything in one process. */
export function parseWorkers(v: string | undefined): number | string {
  if (v === 'auto') return Math.max(1, availableParallelism());
  if (v === undefined || !/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 256) return `invalid --workers ${v ?? ''} (1..256 or auto)`;
  return Number(v);
}
