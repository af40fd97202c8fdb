// The native core (the core's AssemblyScript through wasm2c, built into the
// addon: native/src/core_native.cc) against the WebAssembly core it is
// translated from: the same random histories give the same decisions,
// listings, states and statistics; its memory behaves as a wasm memory's
// (a grown memory detaches the old buffer); one instance serves one
// Director. The whole scheduler, table, statistics and SDK suites also run
// on it (`npm run test:native-core`).
import { describe, expect, it } from 'vitest';
import { Director } from '../../sdk/index.js';
import { loadNativeCore } from '../../native/addon.js';
import { coreOf } from '../../sdk/core/index.js';
import type { ConnEventName, FlowInput, SchedulerName } from '../../sdk/index.js';
import type { CoreExports } from '../../sdk/core/exports.js';
import { inCI } from '../hosts/gateway/prereq.js';
// A seeded PRNG (mulberry32): both cores see the same history.
import { mulberry32 as rng } from '../../playground/src/rng.js';

const probe = loadNativeCore();
const have = probe.exports !== null;
if (!have && !inCI) console.warn(`\n*** SKIPPING native core suite: ${(probe as { why: string }).why} ***\n`);
const suite = describe.skipIf(!have && !inCI);

const SCHEDULERS: SchedulerName[] = ['rr', 'wrr', 'lc', 'wlc', 'sed', 'nq', 'dh', 'sh', 'mh', 'lblc', 'lblcr', 'fo', 'ovf', 'twos'];
const EVENTS: ConnEventName[] = ['established', 'client-fin', 'server-fin', 'close', 'reset'];

function nativeExports() {
  const n = loadNativeCore();
  if (n.exports === null) throw new Error(n.why);
  return { core: n.core, exports: n.exports as unknown as CoreExports };
}

/** One history on a director; everything it observed, in order. */
function history(d: Director, seed: number): unknown[] {
  const r = rng(seed);
  const seen: unknown[] = [];
  const svcs = SCHEDULERS.map((scheduler, i) => ({ key: { protocol: 'tcp' as const, address: `198.18.0.${i + 1}`, port: 80 }, scheduler }));
  for (const { key, scheduler } of svcs) {
    d.addService(key, { scheduler, ...(r() < 0.3 ? { persistent: 60 } : {}) });
    const n = 2 + Math.floor(r() * 12);
    for (let k = 0; k < n; k++) d.addDest(key, { address: `198.19.${svcs.findIndex((s) => s.key === key)}.${k + 1}`, port: 8080, weight: Math.floor(r() * 6), method: 'masq', ...(scheduler === 'ovf' || r() < 0.2 ? { upperThreshold: 1 + Math.floor(r() * 20) } : {}) });
  }
  const open: number[] = [];
  let now = 1;
  for (let step = 0; step < 4000; step++) {
    const x = r();
    if (x < 0.6) {
      const s = svcs[Math.floor(r() * svcs.length)];
      const flow: FlowInput = { protocol: 'tcp', client: { address: `198.18.${1 + Math.floor(r() * 4)}.${Math.floor(r() * 256)}`, port: 1024 + Math.floor(r() * 60000) }, virtual: { address: s.key.address, port: 80 } };
      const dec = d.schedule(flow, now);
      seen.push(dec === null ? null : [dec.id, dec.destId, dec.dest.address, dec.dest.port]);
      if (dec !== null && dec.id !== 0) open.push(dec.id);
    } else if (x < 0.85 && open.length > 0) {
      const i = Math.floor(r() * open.length);
      const ev = EVENTS[Math.floor(r() * EVENTS.length)];
      try {
        seen.push(d.connEvent(open[i], ev, now));
      } catch (e) {
        seen.push((e as Error).message);
        open.splice(i, 1);
      }
    } else if (x < 0.9) {
      now += 1 + Math.floor(r() * 30);
      seen.push(d.advance(now));
    } else if (x < 0.95) {
      const s = svcs[Math.floor(r() * svcs.length)];
      const ds = d.dests(s.key);
      if (ds.length > 1) {
        const t = ds[Math.floor(r() * ds.length)];
        if (r() < 0.5) d.editDest(s.key, { address: t.address, port: t.port, weight: Math.floor(r() * 6) });
        else d.deleteDest(s.key, { address: t.address, port: t.port });
      }
    } else {
      seen.push(d.connections(now).length);
    }
  }
  seen.push(d.services(), svcs.map((s) => d.dests(s.key)), d.connections(now), d.totals());
  return seen;
}

suite('native core', () => {
  it('lives through the same random histories as the WebAssembly core, decision for decision', async () => {
    for (const seed of [1, 2, 3]) {
      const wasm = await Director.create({ seed, flavor: 'release', clock: () => 1 });
      const native = await Director.create({ seed, clock: () => 1, exports: nativeExports().exports });
      const a = history(wasm, seed * 7919);
      const b = history(native, seed * 7919);
      expect(b.length).toBe(a.length);
      expect(b).toEqual(a);
      // The histories did something: decisions, connections and states.
      expect(a.filter((v) => Array.isArray(v)).length).toBeGreaterThan(1000);
    }
  });

  it('has every export of the WebAssembly core, and its memory detaches and grows as a wasm memory does', async () => {
    const n = nativeExports();
    const wasm = await Director.create({ seed: 5, flavor: 'release' });
    const wx = coreOf(wasm).x as unknown as Record<string, unknown>;
    const fns = Object.keys(wx).filter((k) => typeof wx[k] === 'function' && !k.startsWith('__')).sort(); // not the loader's helpers
    expect(Object.keys(n.exports).filter((k) => typeof (n.exports as unknown as Record<string, unknown>)[k] === 'function').sort()).toEqual(fns);
    const d = await Director.create({ seed: 5, exports: n.exports });
    const before = n.core.buffer();
    const view = new Uint8Array(before);
    const pages = n.core.pages();
    expect(before.byteLength).toBe(pages * 65536);
    d.addService({ protocol: 'udp', address: '198.18.0.1', port: 53 }, { scheduler: 'rr' });
    d.addDest({ protocol: 'udp', address: '198.18.0.1', port: 53 }, { address: '198.19.0.1', port: 53 });
    // Enough connections to grow the table past the first pages.
    for (let i = 0; i < 60000; i++) d.schedule({ protocol: 'udp', client: { address: `198.18.${1 + (i >> 14)}.${(i >> 6) & 255}`, port: 1024 + i }, virtual: { address: '198.18.0.1', port: 53 } }, 1);
    expect(n.core.pages()).toBeGreaterThan(pages);
    expect(view.length).toBe(0); // detached, as a grown WebAssembly.Memory's old buffer
    expect(n.core.buffer().byteLength).toBe(n.core.pages() * 65536);
    expect(d.connectionCount()).toBe(60000);
  });

  it('takes arguments as wasm does (ToInt32, missing ones 0) and belongs to one Director only', async () => {
    const n = nativeExports();
    const x = n.exports as unknown as Record<string, (...a: unknown[]) => number>;
    const w = await Director.create({ seed: 9, flavor: 'release' });
    const wx = coreOf(w).x as unknown as Record<string, (...a: unknown[]) => number>;
    x.init(9, 0);
    wx.init(9, 0);
    for (const args of [[], [2 ** 32 + 5], [-1], [NaN], ['7'], [true], [1.9]]) {
      expect(x.svcGet(...args)).toBe(wx.svcGet(...args));
      expect(x.getTimeout(...args)).toBe(wx.getTimeout(...args));
    }
    expect(() => x.svcGet(Symbol('s'))).toThrow(TypeError);
    await Director.create({ seed: 1, exports: n.exports });
    await expect(Director.create({ seed: 1, exports: n.exports })).rejects.toMatchObject({ detail: expect.stringMatching(/already belongs to a Director/) });
  });
});
