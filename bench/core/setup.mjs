// Directors, services, destinations and flows for the core suites, built
// through the public SDK as a user would (`import { Director } from 'wasmvs'`
// resolves to dist/ through the package's own exports).
import { Director, counters } from 'wasmvs';
// Record layout constants (not part of the public entry point).
import { layout } from '../../dist/sdk/core/abi.gen.js';
import { coreOf } from 'wasmvs/core';

/** Seconds passed as `now` everywhere: the bench never reads a clock. */
export const NOW = 1;
export const SEED = 0x5eed;

/**
 * A release-build director. By default scheduling only (`connections: false`:
 * no connection entries), so a figure is lookup + pick + records; `track`
 * keeps the connection table on, as a proxy or gateway host runs it; `count`
 * (`connections: 'count'`) keeps no entries but counts each decision's new
 * connection on its dest (the least-load workload, loadwork.mjs).
 */
export async function makeDirector({ track = false, count = false } = {}) {
  const connections = track ? {} : { connections: count ? 'count' : false };
  return Director.create({ seed: SEED, flavor: 'release', clock: () => NOW, ...connections });
}

/** Whether this core has the scheduling-only switch (else every suite tracks connections). */
export function canSkipConns(director) {
  return typeof coreOf(director).x.getOption === 'function' && layout.OPT_TRACK_CONNS !== undefined
    && coreOf(director).x.getOption(layout.OPT_TRACK_CONNS) === 0;
}

/** 198.18.0.0/15 address number k (k < 2^17) as a dotted string. */
export function benchAddr(k) {
  return `198.${18 + ((k >>> 16) & 1)}.${(k >>> 8) & 255}.${k & 255}`;
}

/** IPVS-style weights used for every weighted case: 1..4 repeating. */
export function weightOf(i) {
  return 1 + (i % 4);
}

/**
 * A fwmark service (one-packet scheduling, so no connection entry is kept and
 * every flow is a new scheduling decision) with n dests; returns its key, the
 * dest ids in IPVS list order and their weights in that order.
 */
export function pickService(director, mark, scheduler, n, extra = {}) {
  const key = { fwmark: mark, af: 4 };
  director.addService(key, { scheduler, ops: true, ...extra });
  for (let i = 0; i < n; i++) {
    director.addDest(key, { address: benchAddr(i + 1), port: 80, weight: weightOf(i), method: 'masq' });
  }
  const list = director.dests(key);
  return { key, mark, n, ids: list.map((d) => d.id), weights: list.map((d) => d.weight) };
}

/** Flow k for a fwmark service: varied client address/port and virtual address. */
export function fwFlow(mark, k) {
  return {
    protocol: 'udp',
    client: { address: benchAddr(0x10000 | (k & 0xffff)), port: 1024 + (k % 60000) },
    virtual: { address: benchAddr(0x8000 | ((k * 7) & 0x7fff)), port: 80 },
    fwmark: mark,
    now: NOW,
  };
}

/** The flow record form (FlowSpec) of fwFlow, without address parsing per call. */
export function fwFlowSpec(mark, k) {
  const c = 0xc6000000 | (((18 + 1) & 255) << 16) | (k & 0xffff);
  const v = 0xc6000000 | (18 << 16) | (0x8000 | ((k * 7) & 0x7fff));
  return {
    af: 4, proto: 17, tcpflags: 0, fwmark: mark, caddr: [c >>> 0, 0, 0, 0], vaddr: [v >>> 0, 0, 0, 0],
    cport: 1024 + (k % 60000), vport: 80, len: 0,
  };
}

/** Fill the flow region with n flows from `make(k)` starting at k0. */
export function fillFlows(director, n, make, k0 = 0) {
  const core = coreOf(director);
  for (let i = 0; i < n; i++) core.writeFlow(i, make(k0 + i));
}

/** Byte offsets (from memory start) of the decision region and its fields. */
export function decisionView(director) {
  const core = coreOf(director);
  const base = core.base + layout.REGION_DECISIONS;
  return {
    words: () => core.words(),
    /** u32 index of decision i's dest id. */
    destWord: (i) => (base + i * layout.DECISION_SIZE + layout.DEC_DEST) >>> 2,
    statusWord: (i) => (base + i * layout.DECISION_SIZE + layout.DEC_STATUS) >>> 2,
  };
}

/** Slot of a handle: ids are (generation << 24) | (slot + 1). */
export const slotOf = (id) => (id & 0xffffff) - 1;

export { counters, layout };
