// lc/wlc with the connection table on: every flow is a new TCP connection
// (SYN, unique 5-tuple), so the core binds it to the chosen dest and updates
// its own load structure, with no host call per pick. Between timed batches
// (untimed) the clock moves on 120 s so the previous batch's entries expire and
// every batch starts from zero counts, bounding the table to one batch.
import { sink } from './harness.mjs';
import { makeDirector, fwFlowSpec, fillFlows, layout } from './setup.mjs';
import { coreOf } from 'wasmvs/core';

const B = 1024;

/** One tinybench case, or null when this core cannot track connections. */
export async function trackedCase(sched, n) {
  const director = await makeDirector({ track: true });
  const x = coreOf(director).x;
  if (typeof x.advance !== 'function') return null;
  const mark = 300;
  // A TCP fwmark service without one-packet scheduling: entries are kept.
  director.addService({ fwmark: mark, af: 4 }, { scheduler: sched });
  for (let i = 0; i < n; i++) director.addDest({ fwmark: mark, af: 4 }, { address: `198.18.${(i + 1) >> 8}.${(i + 1) & 255}`, port: 80, weight: 1 + (i % 4), method: 'masq' });
  fillFlows(director, B, (k) => ({ ...fwFlowSpec(mark, k), proto: 6, tcpflags: 0x02 }));
  const start = coreOf(director).base + layout.REGION_FLOWS;
  let clock = 1;
  let gen = 0;
  /** New client ports for all flows (unique 5-tuples), expire the last batch. */
  const renew = () => {
    x.advance((clock += 120));
    const w16 = new Uint16Array(x.memory.buffer);
    gen = (gen + 1) % 60000;
    for (let i = 0; i < B; i++) w16[(start + i * layout.FLOW_SIZE + layout.FLOW_CPORT) >>> 1] = 1024 + gen;
  };
  renew();
  const ok = x.schedule(B, clock);
  const kept = coreOf(director).readDecision(0).conn !== 0;
  return {
    ok, kept,
    case: { name: `${sched} core, connection table on`, kind: 'tracked', ops: B, beforeEach: renew, fn: () => { sink.v += x.schedule(B, clock); } },
  };
}
