// Maglev (mh) table build: 100 dests at the largest IPVS table size below
// the paper's M = 65537 (65521), and at the default 4093. A dest weight edit makes
// IPVS rebuild the whole table (ip_vs_mh_dest_changed), so the timed operation
// is one editDest (and one addDest); the same edit on an rr service is the
// non-rebuild baseline.
import { rounds, sink } from './harness.mjs';
import { makeDirector, benchAddr, NOW } from './setup.mjs';
import { maglevBuildPlain } from './plain.mjs';

const DESTS = 100;

function serviceWith(director, port, scheduler, extra) {
  const key = { protocol: 'tcp', address: '198.18.0.1', port };
  director.addService(key, { scheduler, ...extra });
  for (let i = 0; i < DESTS; i++) director.addDest(key, { address: benchAddr(256 + i), weight: 1 });
  return key;
}

/** Toggle the weight of one dest between 1 and 2 (each call is one rebuild). */
function editCase(director, key, name) {
  let w = 1;
  const dest = { address: benchAddr(256), weight: 1 };
  return {
    name, ops: 1,
    fn: () => {
      w = 3 - w;
      dest.weight = w;
      sink.v += director.editDest(key, dest);
    },
  };
}

/** Does the mh service answer flows at all (else the timings mean nothing)? */
function answers(director, key) {
  const d = director.schedule({ protocol: 'tcp', client: { address: '198.19.0.9', port: 4000 }, virtual: { address: key.address, port: key.port }, now: NOW });
  return d !== null;
}

export async function runMaglev(cfg) {
  const director = await makeDirector();
  const big = serviceWith(director, 80, 'mh', { mhTableSize: 65521 });
  const small = serviceWith(director, 81, 'mh', {});
  const rr = serviceWith(director, 82, 'rr', {});
  const info = director.service(big);
  const mcfg = { ...cfg, time: Math.max(cfg.time, 200) };
  const timed = (c) => rounds(mcfg, c.name, 1, c.fn, () => {});
  const res = [
    editCase(director, big, 'mh editDest, M=65521, 100 dests (rebuild)'),
    editCase(director, small, 'mh editDest, M=4093, 100 dests (rebuild)'),
    editCase(director, rr, 'rr editDest, 100 dests (no table)'),
    { name: 'plain JS Maglev build, M=65521, 100 dests', fn: () => { sink.v += maglevBuildPlain(65521, DESTS)[0]; } },
    { name: 'plain JS Maglev build, M=65537, 100 dests', fn: () => { sink.v += maglevBuildPlain(65537, DESTS)[0]; } },
  ].map(timed);
  const extra = { address: benchAddr(1000), weight: 1 };
  res.push(rounds(mcfg, 'mh addDest (101st), M=65521 (rebuild; deleted again untimed)', 1,
    () => { sink.v += director.addDest(big, extra); }, () => director.deleteDest(big, extra)));
  return {
    rows: res,
    mhTableSize: info.mhTableSize,
    implemented: answers(director, big),
    buildNs: res[0].cpuNs - res[2].cpuNs,
  };
}
