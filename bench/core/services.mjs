// Service table scale: with N UDP services (one-packet scheduling, rr, one
// dest each), the cost of a new-flow decision to a random service and of
// adding one service + one destination (deleted again after each timed
// round, outside the timing), through the SDK and through the core alone.
import { measure, rounds, memory, sink } from './harness.mjs';
import { makeDirector, benchAddr, NOW } from './setup.mjs';
import { serviceSpec, destSpec } from '../../dist/sdk/spec.js';
import { layout } from '../../dist/sdk/core/abi.gen.js';
import { coreOf } from 'wasmvs/core';

const SETS = 16;
const B = 1024;
const ADDS = 32;
const SDK_ROUNDS = 120;

const key = (i) => ({ protocol: 'udp', address: benchAddr(i), port: 80 });
const DEST = { address: '198.19.255.254', port: 8080, method: 'masq' };

/** A seeded xorshift, so every size gets the same random service choices. */
function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s;
  };
}

function addAll(director, n) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    director.addService(key(i), { scheduler: 'rr', ops: true });
    director.addDest(key(i), DEST);
  }
  return Number(process.hrtime.bigint() - t0) / n;
}

/** SETS copies of a full flow region, each flow to a random one of n services. */
function flowSets(director, n) {
  const next = rng(12345);
  const start = coreOf(director).base + layout.REGION_FLOWS;
  const sets = [];
  const objs = [];
  for (let s = 0; s < SETS; s++) {
    for (let i = 0; i < B; i++) {
      const svc = next() % n;
      const k = s * B + i;
      const f = { protocol: 'udp', client: { address: benchAddr(0x10000 | k), port: 1024 + k }, virtual: { address: benchAddr(svc), port: 80 }, now: NOW };
      objs.push(f);
      coreOf(director).writeFlow(i, { af: 4, proto: 17, tcpflags: 0, fwmark: 0, caddr: [(0xc6130000 | k) >>> 0, 0, 0, 0], vaddr: [(0xc6120000 + svc) >>> 0, 0, 0, 0], cport: 1024 + k, vport: 80, len: 0 });
    }
    sets.push(new Uint8Array(coreOf(director).x.memory.buffer, start, B * layout.FLOW_SIZE).slice());
  }
  return { sets, objs, start };
}

function lookupCases(director, n) {
  const x = coreOf(director).x;
  const { sets, objs, start } = flowSets(director, n);
  let s = 0;
  let k = 0;
  const load = () => new Uint8Array(x.memory.buffer, start, sets[0].length).set(sets[s++ % SETS]);
  return [
    { name: `lookup+decision batch @${n}`, ops: B, beforeEach: load, fn: () => { sink.v += x.schedule(B, NOW); } },
    { name: `lookup+decision batch, same 1024 flows @${n}`, ops: B, beforeAll: () => { s = 0; load(); }, fn: () => { sink.v += x.schedule(B, NOW); } },
    { name: `lookup+decision single @${n}`, ops: 256, fn: () => { for (let i = 0; i < 256; i++) sink.v ^= director.schedule(objs[k++ % objs.length]) ? 1 : 0; } },
  ];
}

/** Add ADDS service+dest pairs per timed round; delete them untimed after it. */
function addRows(cfg, director, n) {
  const raw = coreOf(director);
  const x = raw.x;
  const keys = Array.from({ length: ADDS }, (_, j) => key(n + j));
  const specs = keys.map((k) => ({ svc: serviceSpec(k, { scheduler: 'rr', ops: true }), dest: destSpec({ af: 4, port: 80 }, DEST) }));
  const ids = new Uint32Array(ADDS);
  // Deleted dests wait in the trash for 120 s of the core's clock (as in IPVS)
  // and a re-add scans it; move the clock on between rounds (untimed) so each
  // round starts from a drained trash, as a table changing at human pace would.
  let clock = NOW;
  const drain = () => { if (typeof director.advance === 'function') for (let i = 0; i < 3; i++) director.advance(clock += 61); };
  // Capped: a slot's handle passes 2^31 after 127 delete/re-add cycles and
  // svcAdd's i32 result then reads as an error in the SDK (reported).
  const sdk = rounds(cfg, `add service+dest (SDK) @${n}`, ADDS,
    () => { for (const k of keys) { director.addService(k, { scheduler: 'rr', ops: true }); director.addDest(k, DEST); } },
    () => { for (const k of keys) director.deleteService(k); drain(); }, SDK_ROUNDS);
  const core = rounds(cfg, `add service+dest (core only) @${n}`, ADDS,
    () => {
      for (let j = 0; j < ADDS; j++) {
        raw.writeServiceSpec(specs[j].svc);
        ids[j] = x.svcAdd();
        raw.writeDestSpec(specs[j].dest);
        sink.v += x.destAdd(ids[j]);
      }
    },
    () => {
      for (const id of ids) if (id === 0 || (id | 0) > -100 && (id | 0) < 0 || x.svcDelete(id) < 0) throw new Error(`core add/delete failed (${id})`);
      drain();
    });
  if (x.svcCount() !== n) throw new Error(`service count ${x.svcCount()} != ${n} after add/delete rounds`);
  return [sdk, core];
}

export async function runServices(cfg, sizes, log) {
  const rows = [];
  for (const n of sizes) {
    const before = memory(null);
    const director = await makeDirector();
    const created = memory(director);
    const allocBefore = coreOf(director).x.memAllocated?.() ?? NaN;
    const bulkNs = addAll(director, n);
    const filled = memory(director);
    // Bytes the core's allocator handed out for the n services and their dests (records, arrays, tables).
    const allocated = (coreOf(director).x.memAllocated?.() ?? NaN) - allocBefore;
    const res = [...measure(cfg, lookupCases(director, n)), ...addRows(cfg, director, n)];
    const after = memory(director);
    const row = {
      n, bulkAddNs: bulkNs, batch: res[0], hot: res[1], single: res[2], addSdk: res[3], addCore: res[4],
      count: x(director).svcCount(),
      mem: { heapBefore: before.heapUsed, heapAfter: after.heapUsed, wasmCreated: created.wasm, wasmFilled: filled.wasm, wasmAfter: after.wasm, allocated },
    };
    rows.push(row);
    log(`services n=${n}: batch ${row.batch.ns.toFixed(1)} ns, add ${row.addSdk.ns.toFixed(0)} ns (SDK)`);
  }
  return rows;
}

const x = (d) => coreOf(d).x;
