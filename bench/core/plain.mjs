// Plain TypeScript-style (type-free JS, what tsc emits) implementations of the
// IPVS rr, wrr, lc and wlc rules: the baselines the wasm core is compared with
// in the same run. Dests are in IPVS list order (index 0 = newest), as the
// core keeps them, so the choices can be compared one for one.

/** A dest as a plain program would hold it. */
export function plainDests(weights) {
  return weights.map((weight) => ({ weight, activeconns: 0, inactconns: 0, overloaded: false }));
}

/** rr (ip_vs_rr.c): first usable dest after the cursor, wrapping. */
export function makeRr(dests) {
  let cursor = -1;
  return () => {
    const n = dests.length;
    let i = cursor;
    for (let k = 0; k < n; k++) {
      i = i + 1 === n ? 0 : i + 1;
      const d = dests[i];
      if (!d.overloaded && d.weight > 0) {
        cursor = i;
        return i;
      }
    }
    return -1;
  };
}

function gcd(a, b) {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

function gcdMax(ws) {
  let g = 0;
  let m = 0;
  for (const w of ws) {
    if (w > 0) g = gcd(w, g);
    if (w > m) m = w;
  }
  g = g || 1;
  return { g, mw: m - (g - 1) };
}

/**
 * wrr's current weight after the dests were added one by one (list order is
 * newest first): ip_vs_wrr_dest_changed keeps cw unless it is 0 or above mw.
 */
function cwAfterAdds(weights) {
  let cw = 0;
  for (let k = weights.length - 1; k >= 0; k--) {
    const { g, mw } = gcdMax(weights.slice(k));
    if (cw > mw || cw === 0) cw = mw;
    else if (g > 1) cw = Math.floor(cw / g) * g + 1;
  }
  return cw;
}

/** wrr (ip_vs_wrr.c): the gcd/max-weight walk, state as left by adding the dests. */
export function makeWrr(dests) {
  const { g, mw } = gcdMax(dests.map((d) => d.weight));
  let i = -1;
  let cw = cwAfterAdds(dests.map((d) => d.weight));
  return () => {
    const n = dests.length;
    for (let guard = 0; guard <= n * (mw / Math.max(g, 1) + 1); guard++) {
      i++;
      if (i === n) {
        i = 0;
        cw -= g;
        if (cw <= 0) cw = mw;
      }
      const d = dests[i];
      if (!d.overloaded && d.weight >= cw) return i;
    }
    return -1;
  };
}

/** lc scan over objects: least active×256+inactive, strict <, skip weight 0 / OVERLOAD. */
export function lcScan(dests) {
  let best = -1;
  let bo = 0;
  for (let i = 0; i < dests.length; i++) {
    const d = dests[i];
    if (d.overloaded || d.weight === 0) continue;
    const o = (d.activeconns * 256 + d.inactconns) >>> 0;
    if (best < 0 || o < bo) {
      best = i;
      bo = o;
    }
  }
  return best;
}

/** wlc scan over objects: cross-multiplied strict comparison, ties keep the earlier. */
export function wlcScan(dests) {
  let best = -1;
  let bo = 0;
  let bw = 0;
  for (let i = 0; i < dests.length; i++) {
    const d = dests[i];
    if (d.overloaded || d.weight === 0) continue;
    const o = (d.activeconns * 256 + d.inactconns) >>> 0;
    if (best < 0 || bo * d.weight > o * bw) {
      best = i;
      bo = o;
      bw = d.weight;
    }
  }
  return best;
}

/** The same lc scan over typed arrays, as shared/baselines/picks.mjs does it. */
export function lcScanTyped(w, act, inact) {
  let best = -1;
  let bo = 0;
  for (let i = 0; i < w.length; i++) {
    if (w[i] === 0) continue;
    const o = (act[i] * 256 + inact[i]) >>> 0;
    if (best < 0 || o < bo) {
      best = i;
      bo = o;
    }
  }
  return best;
}

/** wlc over typed arrays. */
export function wlcScanTyped(w, act, inact) {
  let best = -1;
  let bo = 0;
  let bw = 0;
  for (let i = 0; i < w.length; i++) {
    const wi = w[i];
    if (wi === 0) continue;
    const o = (act[i] * 256 + inact[i]) >>> 0;
    if (best < 0 || bo * wi > o * bw) {
      best = i;
      bo = o;
      bw = wi;
    }
  }
  return best;
}

/** Plain Maglev table build (as shared/baselines/picks.mjs), M slots, n dests. */
export function maglevBuildPlain(M, n) {
  const mix32 = (x) => {
    x ^= x >>> 16; x = Math.imul(x, 0x7feb352d); x ^= x >>> 15; x = Math.imul(x, 0x846ca68b); x ^= x >>> 16;
    return x >>> 0;
  };
  const table = new Int16Array(M).fill(-1);
  const off = new Uint32Array(n);
  const skip = new Uint32Array(n);
  const next = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    off[i] = mix32(i * 2 + 1) % M;
    skip[i] = (mix32(i * 2 + 7) % (M - 1)) + 1;
  }
  let filled = 0;
  while (filled < M) {
    for (let i = 0; i < n && filled < M; i++) {
      let c = (off[i] + next[i] * skip[i]) % M;
      while (table[c] >= 0) c = (off[i] + ++next[i] * skip[i]) % M;
      table[c] = i;
      next[i]++;
      filled++;
    }
  }
  return table;
}
