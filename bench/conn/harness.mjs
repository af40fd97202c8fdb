// Timing helpers of the connection-table suite: tinybench for repeatable
// operations (each iteration runs `ops` operations so timer overhead stays
// small; the figure is ns/op from the median sample) and plain hrtime for
// one-shot bulk phases (insert, expiry), which cannot be repeated on the
// same table.
import { Bench } from 'tinybench';
import { sink, gc, fmtNs, fmtRatio } from '../core/harness.mjs';

export { sink, gc, fmtNs, fmtRatio };

export function settings(quick) {
  return quick
    ? { quick, time: 40, warmupTime: 10, rounds: 1, sizes: [1e3, 1e4, 1e5], memN: 1e5, memCurve: [2e5, 3e5], R: 1 << 15 }
    : { quick, time: 150, warmupTime: 30, rounds: 3, sizes: [1e3, 1e4, 1e5, 1e6, 4e6], memN: 1e6,
      memCurve: [5e5, 7.5e5, 1.25e6, 1.5e6, 2e6, 3e6], R: 1 << 17 };
}

function measureOnce(cfg, cases) {
  const bench = new Bench({ time: cfg.time, warmupTime: cfg.warmupTime, iterations: 5, warmupIterations: 2 });
  for (const c of cases) bench.add(c.name, c.fn);
  bench.runSync();
  return bench.tasks.map((t, i) => {
    const r = t.result;
    const ops = cases[i].ops ?? 1;
    if (!r || !r.latency) return { ns: NaN, rme: NaN, samples: 0, error: String(r?.error ?? r?.state) };
    return { ns: (r.latency.p50 * 1e6) / ops, rme: r.latency.rme, samples: r.latency.samplesCount };
  });
}

/**
 * Cases { name, fn, ops } measured in order, the whole list `cfg.rounds`
 * times (so a burst of load from other processes hits one round of every
 * case rather than all of one case). Per case: ns/op = median of the rounds'
 * median samples, `spread` = (max - min) / median over the rounds.
 */
export function measure(cfg, cases) {
  const runs = Array.from({ length: cfg.rounds }, () => measureOnce(cfg, cases));
  return cases.map((c, i) => {
    const ns = runs.map((r) => r[i].ns).filter(Number.isFinite);
    const m = median(ns);
    return {
      name: c.name, ns: m, spread: ns.length > 1 ? (Math.max(...ns) - Math.min(...ns)) / m : NaN,
      rme: median(runs.map((r) => r[i].rme)), samples: runs.reduce((a, r) => a + r[i].samples, 0),
      error: runs.find((r) => r[i].error)?.[i]?.error,
    };
  });
}

/** Nanoseconds taken by fn() (one shot) and its return value. */
export function timeOnce(fn) {
  const t0 = process.hrtime.bigint();
  const v = fn();
  return { ns: Number(process.hrtime.bigint() - t0), v };
}

export function median(a) {
  const s = [...a].sort((x, y) => x - y);
  return s.length === 0 ? NaN : s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export function fmtN(n) {
  if (n >= 1e6) return `${+(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  return String(n);
}

export function fmtMiB(b) {
  return `${(b / 2 ** 20).toFixed(1)} MiB`;
}
