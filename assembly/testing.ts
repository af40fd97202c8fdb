// The test build of the core (build/wasmvs.test.wasm, `npm run asbuild:test`):
// every export of index.ts plus hooks that put the core in states its ABI
// has no way to reach. Never shipped: the package holds build/wasmvs.wasm
// only, and nothing in assembly/ imports this file.
export * from "./index";
import * as conns from "./table/conn_exports";

/**
 * Put TCP connection `id` in `state` (counters move as a transition would).
 * The state-table tests start a segment from every state, NONE, LISTEN and
 * SYNACK included, which no segment sequence reaches.
 */
export function connForceState(id: u32, state: u32, now: u32): i32 { return conns.connForceState(id, state, now); }
