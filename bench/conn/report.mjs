// Markdown for bench/REPORT-conn.md from the suite's JSON. Ratios are
// "how many times faster the core is" (other ns ÷ core ns): > 1 means the
// core is faster, < 1 slower.
import { fmtNs, fmtRatio, fmtN, fmtMiB } from './harness.mjs';
import { targets } from './targets.mjs';

const row = (cells) => `| ${cells.join(' | ')} |`;
const head = (cells) => `${row(cells)}\n${row(cells.map(() => '---'))}`;
export const ns = (s, name) => s.lookups.find((l) => l.name.startsWith(name))?.ns ?? NaN;
const spread = (s, name) => {
  const l = s.lookups.find((x) => x.name.startsWith(name));
  return l && Number.isFinite(l.spread) ? ` ±${(50 * l.spread).toFixed(0)}%` : '';
};

/** The bare batched lookup (connLookupBatch) against the JS tables: what the lookup targets are judged on. */
function bareTable(res) {
  const out = [head(['live entries', 'core bare batched lookup', 'core packet path (batched)', 'typed batched',
    'Map batched (key prebuilt)', 'Map batched (key built)', 'bare vs typed', 'bare vs Map (prebuilt)', 'bare vs Map (key built)',
    'bare vs packet path'])];
  for (const s of res.sizes) {
    const bare = ns(s, 'core bare batched');
    out.push(row([fmtN(s.N), fmtNs(bare) + spread(s, 'core bare batched'), fmtNs(ns(s, 'core batched')),
      fmtNs(ns(s, 'typed batched')) + spread(s, 'typed batched'), fmtNs(ns(s, 'Map<string> batched, key prebuilt')),
      fmtNs(ns(s, 'Map<string> batched, key built')), fmtRatio(ns(s, 'typed batched') / bare),
      fmtRatio(ns(s, 'Map<string> batched, key prebuilt') / bare), fmtRatio(ns(s, 'Map<string> batched, key built') / bare),
      fmtRatio(ns(s, 'core batched') / bare)]));
  }
  return `${out.join('\n')}\n\nns per lookup; ratios are other ns ÷ bare ns (> 1: the bare lookup is faster). ` +
    '"core bare batched lookup" = `connLookupBatch(1024)`: connection ids of 1024 flow records into `REGION_LIST`, ' +
    'nothing else (no state, stats, timer or decision), as the JS tables only find a value. The copy of the 1024 ' +
    'flow records into wasm memory is included, as for "core batched".';
}

function lookupTable(res) {
  const out = [head(['live entries', 'core single', 'core batched', 'core bare batched', 'typed single', 'typed batched',
    'Map single (key prebuilt)', 'Map batched (key prebuilt)', 'Map batched (key built)',
    'core vs typed (batched)', 'core vs Map (prebuilt)', 'core vs Map (key built)'])];
  for (const s of res.sizes) {
    const core = ns(s, 'core batched');
    out.push(row([fmtN(s.N), fmtNs(ns(s, 'core single')), fmtNs(core) + spread(s, 'core batched'),
      fmtNs(ns(s, 'core bare batched')) + spread(s, 'core bare batched'), fmtNs(ns(s, 'typed single')),
      fmtNs(ns(s, 'typed batched')) + spread(s, 'typed batched'), fmtNs(ns(s, 'Map<string> single')),
      fmtNs(ns(s, 'Map<string> batched, key prebuilt')), fmtNs(ns(s, 'Map<string> batched, key built')),
      fmtRatio(ns(s, 'typed batched') / core), fmtRatio(ns(s, 'Map<string> batched, key prebuilt') / core),
      fmtRatio(ns(s, 'Map<string> batched, key built') / core)]));
  }
  const host = res.sizes.map((s) => ns(s, 'host: copy')).filter(Number.isFinite);
  return `${out.join('\n')}\n\nns per lookup. "core single"/"core batched" and the "core vs" ratios are the whole ` +
    `inbound packet path (\`packetBatch\`); "core bare batched" is \`connLookupBatch\` (table above). ± = half the spread (max − min) of the ${res.settings.rounds} rounds' medians. ` +
    `Copying the flow records into the core (included in "core batched") costs ${fmtNs(Math.max(...host))} per record at most.`;
}

function insertTable(res) {
  const out = [head(['live entries', 'core schedule() (new conn)', 'core first ACK (packetBatch)', 'typed insert', 'Map.set (key built)',
    'core vs typed', 'core vs Map'])];
  for (const s of res.sizes) {
    out.push(row([fmtN(s.N), fmtNs(s.insert.ns), fmtNs(s.insert.firstAckNs), fmtNs(s.jsBuild.typedNs), fmtNs(s.jsBuild.mapNs),
      fmtRatio(s.jsBuild.typedNs / s.insert.ns), fmtRatio(s.jsBuild.mapNs / s.insert.ns)]));
  }
  return `${out.join('\n')}\n\nns per entry, one pass filling an empty table to N (hrtime around each core call; ` +
    'flow-record writes not included). The JS builds include their key construction and growth.';
}

function expiryTable(res) {
  const out = [head(['live entries', 'advance 1 s, nothing due', 'advance 1 s, E/100 due', 'E/10 due', 'E due', 'E',
    'ns per expired entry (E due)', 'bulk: entries expired in one advance', 'bulk time', 'bulk ns/entry'])];
  for (const s of res.sizes) {
    const p = s.expiry.perDue;
    const at = (due) => p.find((x) => x.due === due);
    const E = s.cohorts.E;
    const cell = (due) => (at(due) ? `${fmtNs(at(due).ns)} (${due})` : 'n/a');
    out.push(row([fmtN(s.N), fmtNs(at(0)?.ns), cell(Math.max(1, Math.floor(E / 100))), cell(Math.max(1, Math.floor(E / 10))),
      fmtNs(at(E)?.ns), String(E), fmtNs((at(E)?.ns ?? NaN) / E), fmtN(s.expiry.bulk.n), fmtNs(s.expiry.bulk.ns),
      fmtNs(s.expiry.bulk.ns / s.expiry.bulk.n)]));
  }
  return `${out.join('\n')}\n\nOne \`advance(now)\` call per second, hrtime, median of 3 seconds per cohort size ` +
    '(9 for "nothing due"). Each advance also runs the estimator and the scheduler tick. The bulk row frees every ' +
    'long-lived entry in one call (it also visits each entry a lookup re-armed, once, to move it to its new slot).';
}

function memoryTable(res) {
  const out = [head(['live entries', 'wasm memory before', 'after', 'delta / entry', 'table bytes / entry (connMemory)'])];
  for (const s of res.sizes) {
    const m = s.memory;
    out.push(row([fmtN(s.N), fmtMiB(m.before), fmtMiB(m.after), `${((m.after - m.before) / s.N).toFixed(1)} B`,
      `${(m.table / s.N).toFixed(1)} B`]));
  }
  const curve = [head(['entries (insert only, fresh table)', 'wasm memory after', 'delta / entry', 'table bytes / entry'])];
  const pts = [...(res.memoryCurve ?? []), ...res.sizes.map((s) => ({ N: s.N, ...s.memory }))].filter((p) => p.N >= 1e5)
    .sort((a, b) => a.N - b.N);
  for (const p of pts) {
    curve.push(row([fmtN(p.N), fmtMiB(p.after), `${((p.after - p.before) / p.N).toFixed(1)} B`, `${(p.table / p.N).toFixed(1)} B`]));
  }
  const js = [head(['JS baseline (child process, --expose-gc)', 'entries', 'bytes / entry'])];
  const names = {
    'map-smi': 'Map<string, number> (keys flattened)', 'map-obj': 'Map<string, {dest,state,expires,inpkts}> (keys flattened)',
    'map-smi-cons': 'Map<string, number>, keys left as V8 cons strings (as connmem.mjs)', typed: 'typed-array open addressing (5 × u32, load ≤ 1/2)',
  };
  for (const m of res.jsMemory ?? []) js.push(row([names[m.variant] ?? m.variant, fmtN(m.N), m.error ? `error: ${m.error}` : `${m.perEntry.toFixed(1)} B`]));
  return `${out.join('\n')}\n\n"delta" is \`memory.buffer.byteLength\` after the inserts minus before (IPv4 TCP entries, index ` +
    `included). "table bytes" is what the table itself holds (record chunks, IPv6 side table, bucket arrays, freed ` +
    `bucket-array pages kept for reuse). The table grows memory by exact page counts (\`assembly/mem/pages.ts\`), ` +
    `so the two match unless something else made the allocator grow. Up to 10k entries both are dominated by the ` +
    `first 16,384-record chunk (640 KiB).\n\n${curve.join('\n')}\n\n${js.join('\n')}`;
}

export function renderReport(res, analysis = '') {
  const m = res.machine;
  const T = targets(res);
  const tgt = [head(['target', 'measured', 'verdict'])];
  for (const t of T) tgt.push(row([t.target, t.measured, t.verdict]));
  return `# Connection table: lookup, packet path, insert, expiry and memory against JS tables

Generated by \`${res.quick ? 'npm run bench' : 'npm run bench:report'}\` (\`bench/conn/run.mjs\`${res.quick ? ' --quick' : ''}) on ${m.date}: ${m.cpu}, ${m.cores} cores, ` +
    `Node ${m.node} (V8 ${m.v8}); core \`build/wasmvs.wasm\` ${m.core ? `${m.core.bytes} bytes built ${m.core.built}` : ''}; load average ${m.loadStart} at the start, ${m.loadEnd} at the end; ${res.seconds?.toFixed(0)} s.
${res.quick ? '\n**Quick run: smaller sizes and short samples; development figures only.**\n' : ''}
The machine has 2 vCPUs shared with other engineers' builds and tests, so every figure carries noise
(several × at times); compare the ratios of one run, not absolute figures across runs.

What is measured, all in one process and one run, on the same keys (TCP, client 198.18.x.y:port → 198.19.255.254:80):

- **core**: the release build (\`build/wasmvs.wasm\`, compiled once and warmed up) through the SDK in \`dist/\`
  (\`Director.create\`, one rr service with 8 masq dests, \`tcp\` timeout 3000 s). Insert = \`core.x.schedule(n, now)\`
  with SYN flow records (batches of 1024). Lookup = \`core.x.packetBatch(n, now)\` with ACK records of known
  connections, direction in (the gateway's inbound path): besides the hash lookup it accounts stats, runs the TCP
  state transition, re-arms the timer and writes a decision record per packet.
  Bare lookup = \`core.x.connLookupBatch(n)\` on the same records: the connection id per record (or 0) into
  \`REGION_LIST\`, nothing else (\`assembly/table/conn_lookup.ts\`); it is checked against \`packetBatch\`'s ids before timing.
- **typed**: an open-addressing table over five typed arrays (caddr, vaddr, ports, proto, value; linear probing,
  capacity ≥ 2N), reading the keys from the same flow records. It only finds the value.
- **Map<string>**: \`Map<string, number>\` keyed by \`"6:198.18.x.y:port->198.19.255.254:80"\`; "key prebuilt" looks up
  strings built in advance (the Map's best case), "key built" builds the string from the flow record first (what a
  packet host must do).
- Lookups draw ${res.settings.R} keys uniformly from the live entries (seeded), the same stream for every
  implementation; single = one call per lookup, batched = 1024 per call. tinybench, ${res.settings.rounds} round(s)
  of ${res.settings.time} ms per case.

## Targets

${tgt.join('\n')}
${analysis ? `\n${analysis.trim()}\n` : ''}
## Bare batched lookup (the lookup targets)

${bareTable(res)}

## Lookups of known connections (packet path and bare lookup)

${lookupTable(res)}

## Insert

${insertTable(res)}

## Expiry

${expiryTable(res)}

## Memory

${memoryTable(res)}
${res.notes.length ? `\n## Notes from the run\n\n${res.notes.map((n) => `- ${n}`).join('\n')}\n` : ''}`;
}
