// A tiny TypeScript transcription of the IPVS list scans (reference §1.0,
// §1.3–§1.6) and the OVERLOAD rules, used as the oracle in property tests.
// The list is newest first, exactly as the core keeps it.
export interface MDest {
  n: number;
  weight: number;
  u: number;
  l: number;
  active: number;
  inactive: number;
  overloaded: boolean;
}

export type LeastSched = 'lc' | 'wlc' | 'sed' | 'nq';

/** active×256 + inactive as the kernel's u32 arithmetic gives it. */
const overhead = (d: MDest) => (d.active * 256 + d.inactive) >>> 0;

function lc(list: MDest[]): MDest | null {
  let best: MDest | null = null;
  for (const d of list) {
    if (d.overloaded || d.weight === 0) continue;
    if (best === null || overhead(d) < overhead(best)) best = d;
  }
  return best;
}

/** The wlc/sed loop: first eligible is the initial best, then strict `>`. */
function weighted(list: MDest[], ovh: (d: MDest) => number): MDest | null {
  const i = list.findIndex((d) => !d.overloaded && d.weight > 0);
  if (i < 0) return null;
  let best = list[i];
  for (const d of list.slice(i + 1)) {
    if (d.overloaded) continue;
    if (ovh(best) * d.weight > ovh(d) * best.weight) best = d;
  }
  return best;
}

function nq(list: MDest[]): MDest | null {
  let best: MDest | null = null;
  for (const d of list) {
    if (d.overloaded || d.weight === 0) continue;
    if (d.active === 0) return d;
    if (best === null || (best.active + 1) * d.weight > (d.active + 1) * best.weight) best = d;
  }
  return best;
}

export function scanPick(s: LeastSched, list: MDest[]): MDest | null {
  switch (s) {
    case 'lc': return lc(list);
    case 'wlc': return weighted(list, overhead);
    case 'sed': return weighted(list, (d) => d.active + 1);
    case 'nq': return nq(list);
  }
}

/** setDestConns: OVERLOAD moves as binding/unbinding that many conns would. */
export function setConns(d: MDest, active: number, inactive: number): void {
  const before = d.active + d.inactive;
  d.active = active;
  d.inactive = inactive;
  const after = active + inactive;
  if (after > before && d.u !== 0 && after >= d.u) d.overloaded = true;
  if (after < before) {
    if (d.l !== 0) { if (after < d.l) d.overloaded = false; }
    else if (d.u !== 0) { if (after * 4 < d.u * 3) d.overloaded = false; }
    else d.overloaded = false;
  }
}

/** -a/-e thresholds: OVERLOAD cleared when the new u is 0 or above the old one. */
export function setThresholds(d: MDest, u: number, l: number): void {
  if (u === 0 || u > d.u) d.overloaded = false;
  d.u = u;
  d.l = l;
}
