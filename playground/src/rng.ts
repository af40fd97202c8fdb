// Seeded PRNG for the traffic model (mulberry32): same seed, same traffic.
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Exponential variate with the given mean. */
export function exponential(rand: () => number, mean: number): number {
  return -Math.log(1 - rand()) * mean;
}

/** Pareto (heavy-tailed) variate with shape 1.5 scaled to the given mean. */
export function pareto(rand: () => number, mean: number): number {
  const shape = 1.5;
  const xm = (mean * (shape - 1)) / shape;
  return xm / Math.pow(1 - rand(), 1 / shape);
}
