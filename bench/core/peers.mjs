// npm peers doing the same kind of pick, pinned as devDependencies. Each maps
// to the IPVS scheduler it resembles; none of them implements the IPVS rules
// exactly (noted per peer in the report). A peer that fails to load is listed
// as unavailable instead of failing the run.
import { makeRr, makeWrr, plainDests } from './plain.mjs';
import { sink } from './harness.mjs';

const PEERS = [
  { pkg: 'loadbalance', version: '1.0.0', sched: 'rr', note: 'RoundRobinEngine' },
  { pkg: 'round-robin-js', version: '3.0.10', sched: 'rr', note: 'SequentialRoundRobin' },
  { pkg: 'wrr-pool', version: '1.1.4', sched: 'wrr', note: 'IPVS-style gcd walk' },
  { pkg: 'loadbalance', version: '1.0.0', sched: 'wrr', note: 'WeightedRoundRobinEngine (expanded pool)' },
  { pkg: 'wrr', version: '1.0.0', sched: 'wrr', note: 'weighted random, not round robin' },
  { pkg: 'load-balancers', version: '1.3.52', sched: 'twos', note: 'P2cBalancer, unweighted' },
  { pkg: 'hashring', version: '3.2.0', sched: 'sh', note: 'ketama ring (md5), LRU cache 5000' },
  { pkg: 'consistent-hash', version: '1.2.2', sched: 'sh', note: 'hash ring' },
];

const loaded = new Map();
async function load(pkg) {
  if (!loaded.has(pkg)) {
    try {
      loaded.set(pkg, (await import(pkg)).default);
    } catch (e) {
      loaded.set(pkg, new Error(String(e?.message ?? e)));
    }
  }
  return loaded.get(pkg);
}

/** A function doing one pick, built for n members with the bench weights. */
function builder(p, mod, weights, keys) {
  const n = weights.length;
  const names = weights.map((_, i) => `198.18.1.${i}:80`);
  switch (`${p.pkg}/${p.sched}`) {
    case 'loadbalance/rr': { const e = new mod.RoundRobinEngine(names); return () => e.pick(); }
    case 'round-robin-js/rr': { const r = new mod.SequentialRoundRobin(names); return () => r.next(); }
    case 'wrr-pool/wrr': {
      const pool = new mod();
      names.forEach((s, i) => pool.add(s, weights[i]));
      return () => pool.next();
    }
    case 'loadbalance/wrr': {
      const e = new mod.WeightedRoundRobinEngine(names.map((s, i) => ({ object: s, weight: weights[i] })));
      return () => e.pick();
    }
    case 'wrr/wrr': return mod(names.map((s, i) => ({ item: s, weight: weights[i] })));
    case 'load-balancers/twos': { const b = new mod.P2cBalancer(n); return () => b.pick(); }
    case 'hashring/sh': {
      const ring = new mod(names);
      let k = 0;
      return () => ring.get(keys[k++ & (keys.length - 1)]);
    }
    case 'consistent-hash/sh': {
      const ring = new mod();
      names.forEach((s) => ring.add(s));
      let k = 0;
      return () => ring.get(keys[k++ & (keys.length - 1)]);
    }
  }
  throw new Error(`no adapter for ${p.pkg}`);
}

/** Client keys for hashing peers: more than hashring's cache holds. */
export function clientKeys() {
  const keys = new Array(1 << 14);
  for (let i = 0; i < keys.length; i++) keys[i] = `198.19.${(i >>> 8) & 255}.${i & 255}:${1024 + i}`;
  return keys;
}

/** Peer cases for one scheduler at one size, and the list of unavailable peers. */
export async function peerCases(sched, weights, keys) {
  const cases = [];
  const missing = [];
  for (const p of PEERS.filter((q) => q.sched === sched)) {
    const mod = await load(p.pkg);
    const name = `${p.pkg}@${p.version} (${p.note})`;
    if (mod instanceof Error) {
      missing.push(`${name}: ${mod.message}`);
      continue;
    }
    let pick;
    try {
      pick = builder(p, mod, weights, keys);
      pick();
    } catch (e) {
      missing.push(`${name}: ${e.message}`);
      continue;
    }
    cases.push({
      name, kind: 'peer', ops: 1024,
      fn: () => { for (let i = 0; i < 1024; i++) sink.v ^= pick() === null ? 1 : 0; },
    });
  }
  return { cases, missing };
}

/** Plain rr/wrr (IPVS rules) cases; lc/wlc live in loadwork.mjs. */
export function plainCases(sched, weights) {
  if (sched !== 'rr' && sched !== 'wrr') return [];
  const dests = plainDests(weights);
  const pick = sched === 'rr' ? makeRr(dests) : makeWrr(dests);
  return [{
    name: `${sched} plain (objects)`, kind: 'plain', ops: 1024,
    fn: () => { for (let i = 0; i < 1024; i++) sink.v += pick(); },
  }];
}

export const PEER_LIST = PEERS;
