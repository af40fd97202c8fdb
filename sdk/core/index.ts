// wasmvs/core: the documented low-level entry for hosts (docs/core.md). A
// Director has no public field that reaches its core; a host that moves
// records through the core's I/O regions itself (the gateway's packet
// bursts, the proxy's and the fast path's traffic accounting) asks for it
// here, and gets the narrow HostCore view, not the SDK's record helpers.
import { directorCore, type Director } from '../director.js';
import type { HostCore } from './core.js';

export type { HostCore, TrafficCounts, FlowSpec, DecisionRecord } from './core.js';
export type { CoreExports } from './exports.js';
export { layout, status, counters, version } from './abi.gen.js';

/**
 * The core of `director`, as a host may use it (HostCore's members say what
 * each is for). The same object for the director's whole life: a host may
 * keep it. Contract (docs/core.md):
 * - may: write records into the I/O regions (REGION_PACKETS, REGION_FLOWS)
 *   and call the data-path exports on them (gwBurst, schedule,
 *   connLookupBatch, connGet, connEvent), read what they leave (REGION_LIST,
 *   REGION_DECISIONS, REGION_SPEC), set the gateway's own settings (gwConfig,
 *   gwOptions, gwDestTunnel) and count traffic it forwarded (countTraffic);
 * - must: take views of memory afresh after every core call (words(),
 *   view(), or `x.memory.buffer`), since a call may grow the memory; use the
 *   director's clock (`director.now()`) for `now` arguments; finish with the
 *   regions before the next Director call, which reuses them;
 * - must not: change services, destinations, options or timeouts through
 *   the exports (the Director's methods do, keeping their caches in step),
 *   call init, or keep records in the regions across Director calls.
 * Throws InvalidOperationError when `director` is not a Director.
 */
export function coreOf(director: Director): HostCore {
  return directorCore(director);
}
