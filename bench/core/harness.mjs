// Timing and memory helpers shared by the core suites. Every task runs
// `ops` operations per tinybench iteration so timer overhead stays far below
// the measured cost; figures are ns per operation from the median sample.
import { Bench } from 'tinybench';
import v8 from 'node:v8';
import vm from 'node:vm';
import os from 'node:os';
import { coreOf } from 'wasmvs/core';

v8.setFlagsFromString('--expose-gc');
const gcFn = vm.runInNewContext('gc');

/** Results of side effects, so the JIT cannot drop the measured work. */
export const sink = { v: 0 };

export function gc() {
  gcFn();
  gcFn();
}

/** Run-wide settings: quick mode keeps each task short. */
export function settings(quick) {
  return quick
    ? { time: 40, warmupTime: 10, quick }
    : { time: 300, warmupTime: 60, quick };
}

/**
 * Measure tasks in order. Each case: { name, fn, ops, beforeEach?, afterEach? }.
 * Returns { name, ns, nsMean, rme, samples } per case (ns per operation).
 */
export function measure(cfg, cases) {
  const bench = new Bench({ time: cfg.time, warmupTime: cfg.warmupTime, iterations: 5, warmupIterations: 2 });
  for (const c of cases) {
    const hooks = {};
    if (c.beforeEach) hooks.beforeEach = c.beforeEach;
    if (c.afterEach) hooks.afterEach = c.afterEach;
    if (c.beforeAll) hooks.beforeAll = c.beforeAll;
    bench.add(c.name, c.fn, hooks);
  }
  bench.runSync();
  return bench.tasks.map((t, i) => {
    const r = t.result;
    const ops = cases[i].ops ?? 1;
    if (!r || !r.latency) {
      return { name: t.name, ns: NaN, nsMean: NaN, rme: NaN, samples: 0, error: String(r?.error ?? r?.state) };
    }
    return {
      name: t.name,
      ns: (r.latency.p50 * 1e6) / ops,
      nsMean: (r.latency.mean * 1e6) / ops,
      rme: r.latency.rme,
      samples: r.latency.samplesCount,
    };
  });
}

/**
 * Timed rounds with an untimed cleanup after each (for add/delete cycles,
 * where every round must start from the same table). Same row shape as measure.
 */
export function rounds(cfg, name, ops, body, cleanup, maxRounds = Infinity) {
  const samples = [];
  const cpu = [];
  let left = maxRounds;
  const run = (ms) => {
    const end = performance.now() + ms;
    do {
      left--;
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      body();
      const t1 = process.hrtime.bigint();
      const c1 = process.cpuUsage(c0);
      cleanup();
      samples.push(Number(t1 - t0) / ops);
      cpu.push(((c1.user + c1.system) * 1000) / ops);
    } while (left > 0 && (performance.now() < end || samples.length < 5));
  };
  const budget = left;
  left = Math.min(20, Math.floor(budget / 4));
  run(cfg.warmupTime);
  samples.length = cpu.length = 0;
  left = budget - Math.min(20, Math.floor(budget / 4));
  run(cfg.time);
  samples.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  const sd = Math.sqrt(samples.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, samples.length - 1));
  const rme = (100 * 1.96 * sd) / Math.sqrt(samples.length) / mean;
  return { name, ns: samples[samples.length >> 1], nsMean: mean, rme, samples: samples.length, cpuNs: cpu[cpu.length >> 1] };
}

/** One case measured on its own; returns its result row. */
export function measureOne(cfg, c) {
  return measure(cfg, [c])[0];
}

/** JS heap and wasm memory of a director, in bytes. */
export function memory(director) {
  gc();
  const m = process.memoryUsage();
  return {
    heapUsed: m.heapUsed,
    wasm: director ? coreOf(director).x.memory.buffer.byteLength : 0,
    rss: m.rss,
  };
}

export function machine() {
  const cpus = os.cpus();
  return {
    node: process.version,
    v8: process.versions.v8,
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    loadavg: os.loadavg().map((x) => x.toFixed(2)).join(' '),
    date: new Date().toISOString(),
  };
}

/** Format ns for tables. */
export function fmtNs(ns) {
  if (!Number.isFinite(ns)) return 'n/a';
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e4) return `${(ns / 1e3).toFixed(1)} µs`;
  if (ns >= 100) return `${ns.toFixed(0)} ns`;
  return `${ns.toFixed(1)} ns`;
}

export function fmtRatio(r) {
  if (!Number.isFinite(r)) return 'n/a';
  if (r >= 10) return `${r.toFixed(0)}×`;
  return r >= 0.1 ? `${r.toFixed(2)}×` : `${r.toPrecision(2)}×`;
}

export function fmtBytes(b) {
  if (Math.abs(b) >= 1 << 20) return `${(b / (1 << 20)).toFixed(1)} MiB`;
  if (Math.abs(b) >= 1024) return `${(b / 1024).toFixed(1)} KiB`;
  return `${b} B`;
}
