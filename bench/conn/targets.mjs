// The connection table's targets, judged from one run's JSON. Ratios are other ÷ core
// (how many times faster the core is). The lookup targets are judged on the
// bare batched lookup (connLookupBatch: finds the connection, nothing else, as
// the JS tables do); the whole inbound packet path (packetBatch: lookup, state,
// stats, timer, decision) is reported beside each of them, not judged.
import { fmtNs, fmtRatio, fmtN } from './harness.mjs';

const nsOf = (s, name) => s.lookups.find((l) => l.name.startsWith(name))?.ns ?? NaN;
const MEM_N = 1e6;

function verdictRatio(rs, goal) {
  const worst = rs.reduce((a, b) => (b.r < a.r ? b : a), { r: Infinity });
  const best = rs.reduce((a, b) => (b.r > a.r ? b : a), { r: -Infinity });
  if (!Number.isFinite(worst.r)) return 'not measured';
  if (worst.r >= goal) return 'met';
  if (best.r < goal) {
    return `**missed** at every size: short by ${fmtRatio(goal / best.r)} at best (${fmtN(best.N)}), ${fmtRatio(goal / worst.r)} at worst (${fmtN(worst.N)})`;
  }
  const met = rs.filter((x) => x.r >= goal).map((x) => fmtN(x.N));
  const missed = rs.filter((x) => x.r < goal).map((x) => fmtN(x.N));
  return `**missed** at ${missed.join(', ')} (short by ${fmtRatio(goal / worst.r)} at worst, ${fmtN(worst.N)}); met at ${met.join(', ')}`;
}

/** The lookup targets are judged on the bare lookup; the packet path is reported beside them. */
export const BARE = 'core bare batched lookup';
export const PATH = 'core batched';

function ratioCell(res, other, goal, core = BARE) {
  const rs = res.sizes.map((s) => ({ N: s.N, r: nsOf(s, other) / nsOf(s, core) }));
  return {
    measured: `other ns ÷ core ns, ${rs.map((x) => `${fmtN(x.N)}: ${fmtRatio(x.r)}`).join(', ')}`,
    verdict: verdictRatio(rs, goal),
  };
}

/** The same ratios for the whole inbound packet path: reported, not judged (it does far more than a lookup). */
function pathCell(res, other, goal) {
  const c = ratioCell(res, other, goal, PATH);
  return { measured: `packet path (\`packetBatch\`): ${c.measured}`, verdict: 'not judged: reported for information (lookup + state + stats + timer + decision)' };
}

function memoryTarget(res) {
  const s = res.sizes.find((x) => x.N === MEM_N) ?? res.sizes[res.sizes.length - 1];
  if (!s) return { target: '≤ 48 B per connection at 1M entries', measured: 'not measured', verdict: 'not measured' };
  const delta = (s.memory.after - s.memory.before) / s.N;
  const table = s.memory.table / s.N;
  return {
    target: '≤ 48 B per connection at 1M entries (IPv4, index included)',
    measured: `${fmtN(s.N)}: wasm memory delta ${delta.toFixed(1)} B/conn; the table's own bytes ${table.toFixed(1)} B/conn`,
    verdict: delta <= 48 ? 'met' : table <= 48
      ? `**missed** on the memory delta by ${(delta - 48).toFixed(1)} B (allocator growth by doubling); the table itself meets it`
      : `**missed** by ${(delta - 48).toFixed(1)} B`,
  };
}

function expiryTarget(res) {
  const rows = res.sizes.map((s) => ({
    N: s.N, idle: s.expiry.perDue.find((p) => p.due === 0)?.ns, E: s.cohorts.E,
    perEntry: (s.expiry.perDue.find((p) => p.due === s.cohorts.E)?.ns ?? NaN) / s.cohorts.E,
  }));
  if (rows.length < 2) return { target: 'expiry work ∝ entries expired, not table size', measured: 'not measured', verdict: 'not measured' };
  const a = rows[0], b = rows[rows.length - 1];
  const flat = b.idle <= 3 * a.idle;
  return {
    target: 'expiry work proportional to what expires, not to table size',
    measured: `advance 1 s with nothing due: ${fmtNs(a.idle)} at ${fmtN(a.N)} vs ${fmtNs(b.idle)} at ${fmtN(b.N)} ` +
      `(${fmtRatio(b.idle / a.idle)} for ${fmtRatio(b.N / a.N)} the entries); per expired entry ` +
      rows.map((r) => `${fmtNs(r.perEntry)} (E=${r.E}, ${fmtN(r.N)})`).join(', '),
    verdict: flat ? 'met' : '**check**: the idle advance grew with the table',
  };
}

export function targets(res) {
  const t = [memoryTarget(res)];
  const cases = [
    ['typed batched', 2, 'batched lookups ≥ 2× faster than the typed-array JS table'],
    ['Map<string> batched, key prebuilt', 20, 'batched lookups ≥ 20× faster than Map<string> (keys prebuilt: the Map\'s best case)'],
    ['Map<string> batched, key built', 20, 'same, Map<string> with the key built from the flow record'],
  ];
  for (const [other, goal, target] of cases) {
    t.push({ target: `${target}: bare lookup (\`connLookupBatch\`)`, ...ratioCell(res, other, goal) });
    t.push({ target: `${target}: whole inbound packet path`, ...pathCell(res, other, goal) });
  }
  t.push(expiryTarget(res));
  const big = res.sizes.find((s) => s.N >= 4e6);
  t.push({
    target: 'growth to at least 4M live entries',
    measured: big ? `${fmtN(big.memory.live)} live entries, wasm memory ${(big.memory.after / 2 ** 20).toFixed(0)} MiB` : 'not run (quick mode or failed: see notes)',
    verdict: big ? (big.memory.live >= 4e6 ? 'met' : '**missed**') : (res.quick ? 'not run' : '**missed** (see notes)'),
  });
  return t;
}
