// What the JS↔wasm boundary costs per decision: a bare export call, an empty
// batch, flows that fail before any lookup (af = 0: only the record read, the
// check and the failure record), flows that match no service (adds the
// service lookup miss), and flows that get a decision (rr, one dest).
import { parseAddr } from 'wasmvs';
import { measure, sink } from './harness.mjs';
import { makeDirector, canSkipConns, pickService, fwFlowSpec, fillFlows, NOW } from './setup.mjs';
import { coreOf } from 'wasmvs/core';

const B = 1024;
const ADDRS = Array.from({ length: 256 }, (_, i) => `198.18.${i}.${255 - i}`);

function fillKind(director, kind) {
  if (kind === 'bad') {
    fillFlows(director, B, (k) => ({ ...fwFlowSpec(0, k), af: 0 }));
  } else if (kind === 'miss') {
    fillFlows(director, B, (k) => fwFlowSpec(999, k));
  } else {
    fillFlows(director, B, (k) => fwFlowSpec(7, k));
  }
}

export async function runBoundary(cfg) {
  const director = await makeDirector();
  const core = coreOf(director);
  const x = core.x;
  pickService(director, 7, 'rr', 1);
  const bad = () => fillKind(director, 'bad');
  const miss = () => fillKind(director, 'miss');
  const hit = () => fillKind(director, 'hit');
  const calls = (name, n, before) => ({
    name, ops: 256, beforeAll: before,
    fn: () => { for (let i = 0; i < 256; i++) sink.v += x.schedule(n, NOW); },
  });
  const batch = (name, before) => ({ name, ops: B, beforeAll: before, fn: () => { sink.v += x.schedule(B, NOW); } });
  const spec = fwFlowSpec(7, 1);
  const rrId = director.dests({ fwmark: 7, af: 4 })[0].id;
  const lc = pickService(director, 8, 'lc', 100);
  const lcId = lc.ids[50];
  let t = 0;
  const cases = [
    { name: 'bare export call (abiVersion)', ops: 1024, fn: () => { for (let i = 0; i < 1024; i++) sink.v ^= x.abiVersion(); } },
    calls('schedule(0): empty batch', 0, bad),
    calls('schedule(1): af=0 flow', 1, bad),
    batch('schedule(1024): af=0 flows, per item', bad),
    calls('schedule(1): no service matches', 1, miss),
    batch('schedule(1024): no service matches, per item', miss),
    calls('schedule(1): rr, 1 dest', 1, hit),
    batch('schedule(1024): rr, 1 dest, per item', hit),
    { name: 'destSetConns, rr dest (no scheduler state)', ops: 1024, fn: () => { for (let i = 0; i < 1024; i++) sink.v += x.destSetConns(rrId, (t++ & 1) * 5, 0); } },
    { name: 'destSetConns, lc dest of 100 (heap update)', ops: 1024, fn: () => { for (let i = 0; i < 1024; i++) sink.v += x.destSetConns(lcId, (t++ & 1) * 5, 0); } },
    { name: 'host: SDK parseAddr (ipaddr.js) per IPv4 address', ops: 256, fn: () => { for (let i = 0; i < 256; i++) sink.v ^= parseAddr(ADDRS[i]).w[0]; } },
    { name: 'host: core.writeFlow per flow', ops: B, fn: () => { for (let i = 0; i < B; i++) core.writeFlow(i, spec); } },
    { name: 'host: core.readDecision per decision', ops: B, fn: () => { for (let i = 0; i < B; i++) sink.v ^= core.readDecision(i).dest; } },
  ];
  const tracked = await makeDirector({ track: true });
  pickService(tracked, 7, 'rr', 1);
  const tx = coreOf(tracked).x;
  cases.push({
    name: 'schedule(1024): rr, 1 dest, connection table on (one-packet entry made and dropped), per item', ops: B,
    beforeAll: () => fillFlows(tracked, B, (k) => fwFlowSpec(7, k)), fn: () => { sink.v += tx.schedule(B, NOW); },
  });
  const res = measure(cfg, cases);
  const get = (i) => res[i].ns;
  const derived = {
    callOverhead: get(1),
    perItemAmortisedCall: get(1) / B,
    perItemBad: get(3),
    perItemMiss: get(5),
    perItemHit: get(7),
    lookupMiss: get(5) - get(3),
    singleVsBatchHit: get(6) / get(7),
  };
  return { rows: res, derived, schedulingOnly: canSkipConns(director) };
}
