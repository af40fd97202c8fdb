// The same work, side by side: the core's batched decision (schedule(1024)
// over flow records: service lookup by the flow's protocol, VIP and port, the
// pick, the decision record) against a plain TypeScript-style implementation
// doing that work on the same flows held in a typed array (a Map from the
// service key to a service object, the pick, a decision written into a typed
// array). 100 TCP services × 10 dests, weights 1..4; flows spread over every
// service with varied clients. The plain hashing schedulers use a Math.imul
// hash, cheaper than the kernel's hash_32/hsiphash the core must reproduce,
// so the comparison leans towards the baseline.
import { measure, sink } from './harness.mjs';
import { makeDirector, benchAddr, weightOf, NOW } from './setup.mjs';
import { makeRr, makeWrr, plainDests } from './plain.mjs';
import { coreOf } from 'wasmvs/core';

export const SAME_WORK = ['rr', 'wrr', 'sh', 'dh', 'mh', 'lblc'];
const SERVICES = 100;
const DESTS = 10;
const BATCH = 1024;
const VIP0 = (0xc6120000 | 0x4000) >>> 0; // 198.18.64.0 + s

function flowOf(k) {
  const s = (k * 7) % SERVICES;
  return {
    af: 4, proto: 6, tcpflags: 0x02, fwmark: 0, len: 0,
    caddr: [(0xc6130000 | ((k * 2654435761) & 0xffff)) >>> 0, 0, 0, 0], cport: 1024 + (k % 60000),
    vaddr: [(VIP0 + s) >>> 0, 0, 0, 0], vport: 80,
  };
}

const h32 = (x) => Math.imul(x, 0x61c88647) >>> 24; // 8-bit bucket
const WORDS = 6; // af, proto, caddr, cport, vaddr, vport

function plainFlows() {
  const f = new Uint32Array(BATCH * WORDS);
  for (let k = 0; k < BATCH; k++) {
    const r = flowOf(k);
    f.set([r.af, r.proto, r.caddr[0], r.cport, r.vaddr[0], r.vport], k * WORDS);
  }
  return f;
}

const keyOf = (proto, vaddr, vport) => vaddr * 131072 + vport * 2 + (proto === 17 ? 1 : 0);

/** A plain director: Map key → service { dests, pick(f, i) }. */
function plainDirector(sched) {
  const map = new Map();
  for (let s = 0; s < SERVICES; s++) {
    const dests = plainDests(Array.from({ length: DESTS }, (_, i) => weightOf(DESTS - 1 - i)));
    dests.forEach((d, i) => { d.port = 80; d.addr = 0xc6140000 + i; });
    let pick;
    if (sched === 'rr') { const p = makeRr(dests); pick = () => p(); }
    else if (sched === 'wrr') { const p = makeWrr(dests); pick = () => p(); }
    else if (sched === 'sh' || sched === 'dh') {
      const table = new Int32Array(256);
      for (let b = 0, j = 0, c = 0; b < 256; b++) {
        table[b] = j;
        if (sched === 'dh' || ++c >= dests[j].weight) { c = 0; j = (j + 1) % DESTS; }
      }
      const word = sched === 'sh' ? 2 : 4;
      pick = (f, o) => { const i = table[h32(f[o + word])]; const d = dests[i]; return d.weight > 0 && !d.overloaded ? i : -1; };
    } else if (sched === 'mh') {
      const M = 4093;
      const table = new Int32Array(M);
      for (let b = 0; b < M; b++) table[b] = (b * 7) % DESTS;
      pick = (f, o) => { const i = table[(Math.imul(f[o + 2] ^ f[o + 3], 0x9e3779b1) >>> 0) % M]; const d = dests[i]; return d.weight > 0 && !d.overloaded ? i : -1; };
    } else if (sched === 'lblc') {
      const cache = new Map();
      pick = (f, o) => {
        const v = f[o + 4];
        const e = cache.get(v);
        if (e !== undefined) { e.lastuse = NOW; const d = dests[e.dest]; if (d.weight > 0 && d.activeconns <= d.weight) return e.dest; }
        // wlc over the service
        let best = -1;
        for (let i = 0; i < DESTS; i++) {
          const d = dests[i];
          if (d.overloaded || d.weight <= 0) continue;
          if (best < 0) { best = i; continue; }
          const b = dests[best];
          if (((b.activeconns << 8) + b.inactconns) * d.weight > ((d.activeconns << 8) + d.inactconns) * b.weight) best = i;
        }
        if (best >= 0) cache.set(v, { dest: best, lastuse: NOW });
        return best;
      };
    }
    map.set(keyOf(6, VIP0 + s, 80), { dests, pick });
  }
  return map;
}

function plainBatch(map, f, out) {
  let ok = 0;
  for (let i = 0; i < BATCH; i++) {
    const o = i * WORDS;
    const svc = map.get(keyOf(f[o + 1], f[o + 4], f[o + 5]));
    if (svc === undefined) { out[i * 4] = -2; continue; }
    const d = svc.pick(f, o);
    if (d < 0) { out[i * 4] = -8; continue; }
    const dest = svc.dests[d];
    out[i * 4] = d; out[i * 4 + 1] = dest.addr; out[i * 4 + 2] = dest.port || f[o + 5]; out[i * 4 + 3] = 0;
    ok++;
  }
  return ok;
}

export async function runSameWork(cfg) {
  const rows = [];
  for (const sched of SAME_WORK) {
    const director = await makeDirector();
    for (let s = 0; s < SERVICES; s++) {
      const key = { protocol: 'tcp', address: benchAddr(0x4000 + s), port: 80 };
      director.addService(key, { scheduler: sched });
      for (let i = 0; i < DESTS; i++) director.addDest(key, { address: benchAddr(0x1000 + i), port: 80, weight: weightOf(i), method: 'masq' });
    }
    for (let k = 0; k < BATCH; k++) coreOf(director).writeFlow(k, flowOf(k));
    const x = coreOf(director).x;
    const okCore = x.schedule(BATCH, NOW);
    const map = plainDirector(sched);
    const f = plainFlows();
    const out = new Int32Array(BATCH * 4);
    const okPlain = plainBatch(map, f, out);
    const [core, plain] = measure(cfg, [
      { name: `${sched} core batch`, ops: BATCH, fn: () => { sink.v += x.schedule(BATCH, NOW); } },
      { name: `${sched} plain batch`, ops: BATCH, fn: () => { sink.v += plainBatch(map, f, out); } },
    ]);
    rows.push({ sched, core: core.ns, plain: plain.ns, ratio: core.ns / plain.ns, okCore, okPlain });
  }
  return { services: SERVICES, dests: DESTS, batch: BATCH, rows };
}

export function renderSameWork(r) {
  const f = (n) => (n >= 100 ? n.toFixed(0) : n.toFixed(1));
  const lines = [
    '## The same work: core batch vs plain TypeScript',
    '',
    `${r.services} TCP services × ${r.dests} dests; one batch of ${r.batch} SYN flows spread over every service. Per decision: service lookup by protocol, VIP and port, the pick, the decision record. Target: core ≤ 1.0× plain.`,
    '',
    '| scheduler | core batched | plain TypeScript | core ÷ plain | verdict | decisions (core / plain) |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const x of r.rows) {
    lines.push(`| ${x.sched} | ${f(x.core)} ns | ${f(x.plain)} ns | ${x.ratio.toFixed(2)}× | ${x.ratio <= 1 ? 'met' : `**missed** (${x.ratio.toFixed(2)}×)`} | ${x.okCore} / ${x.okPlain} |`);
  }
  return lines.join('\n');
}
