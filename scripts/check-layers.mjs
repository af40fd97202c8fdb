// Checks that imports inside the WebAssembly core point one way. The core's
// folders are layers, lowest first; a file may import from its own folder and
// from folders below it, never from a folder above:
//
//   abi      memory map, status codes, the record layouts and their plain
//            number readers/writers (the flow record's Flow, decisions)
//   mem      the one allocator (pages, size classes), vectors, handle slots,
//            hash helpers
//   stats    stats objects, the rate estimator, named global counters
//   service  virtual services and their real servers (records, the service
//            table, their spec/listing/decision record codecs)
//   sched    the schedulers and their registry (hooks over service/dest)
//   table    the connection table and the operations over services,
//            schedulers and connections (control, persistence, the schedule
//            and packet paths over the table, accounting, stats ops)
//   packet   packet parsing and rewriting, and the gateway burst (gwBurst)
//   index.ts the exports (the whole ABI); may import anything
//
// Within a folder, files must not import each other in a cycle either.
//
// Usage: node scripts/check-layers.mjs [--json] [--graph]. Exit 1 and a list
// of the edges that point up (or the cycle) when the check fails. Used by
// test/core/layers.test.ts.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The layers of assembly/, lowest first. */
export const LAYERS = ['abi', 'mem', 'stats', 'service', 'sched', 'table', 'packet'];

/** Relative import specifiers of one AssemblyScript source text. */
export function importsOf(text) {
  const out = [];
  // `import … from "x"`, `export … from "x"`, `import "x"`; imports may span lines.
  for (const m of text.matchAll(/(?:\bfrom|^\s*import)\s*["'](\.{1,2}\/[^"']+)["']/gm)) out.push(m[1]);
  return out;
}

/** Module graph of a source tree: module path (folder/file, no .ts) → imported module paths. */
export function readGraph(dir) {
  const graph = new Map();
  const walk = (sub) => {
    for (const name of readdirSync(join(dir, sub))) {
      const rel = sub ? `${sub}/${name}` : name;
      if (statSync(join(dir, rel)).isDirectory()) walk(rel);
      else if (name.endsWith('.ts')) graph.set(rel.slice(0, -3), null);
    }
  };
  walk('');
  for (const mod of graph.keys()) {
    const text = readFileSync(join(dir, `${mod}.ts`), 'utf8');
    graph.set(mod, importsOf(text).map((spec) => normalize(join(dirname(mod), spec)).replace(/\\/g, '/')));
  }
  return graph;
}

/** The layer of a module: its top folder, or null for a file at the root (index.ts). */
export function layerOf(mod) {
  const i = mod.indexOf('/');
  return i < 0 ? null : mod.slice(0, i);
}

/** Cycles among modules (strongly connected components with more than one member, or a self-import). */
export function cycles(graph) {
  let counter = 0;
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const found = [];
  const visit = (v) => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
    }
    if (low.get(v) === index.get(v)) {
      const comp = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(comp.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

/**
 * Checks a module graph against `layers`. Returns the problems: edges to a
 * higher layer, imports of a folder that is not a layer, imports that name
 * no module, and cycles.
 */
export function checkGraph(graph, layers = LAYERS) {
  const rank = new Map(layers.map((l, i) => [l, i]));
  const upward = [];
  const unknown = [];
  const missing = [];
  for (const [from, deps] of graph) {
    const lf = layerOf(from);
    if (lf !== null && !rank.has(lf)) unknown.push(from);
    for (const to of deps) {
      if (!graph.has(to)) {
        missing.push({ from, to });
        continue;
      }
      const lt = layerOf(to);
      if (lt === null && lf !== null) upward.push({ from, to });
      else if (lf !== null && lt !== null && rank.has(lf) && rank.has(lt) && rank.get(lt) > rank.get(lf)) upward.push({ from, to });
    }
  }
  return { upward, unknown: [...new Set(unknown)], missing, cycles: cycles(graph) };
}

/** Folder-to-folder edge counts, for reading the graph. */
export function folderEdges(graph) {
  const edges = new Map();
  for (const [from, deps] of graph) {
    for (const to of deps) {
      const key = `${layerOf(from) ?? relative('', from)} -> ${layerOf(to) ?? to}`;
      if (layerOf(from) === layerOf(to)) continue;
      edges.set(key, (edges.get(key) ?? 0) + 1);
    }
  }
  return [...edges].sort();
}

export function checkCore(dir = join(root, 'assembly')) {
  const graph = readGraph(dir);
  return { modules: graph.size, ...checkGraph(graph), edges: folderEdges(graph) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = checkCore();
  const bad = r.upward.length + r.unknown.length + r.missing.length + r.cycles.length;
  if (process.argv.includes('--json')) console.log(JSON.stringify(r, null, 2));
  else {
    if (process.argv.includes('--graph')) for (const [e, n] of r.edges) console.log(`${e} (${n})`);
    for (const { from, to } of r.upward) console.log(`upward import: ${from} -> ${to}`);
    for (const m of r.unknown) console.log(`not in a layer: ${m} (layers: ${LAYERS.join(', ')})`);
    for (const { from, to } of r.missing) console.log(`import of nothing: ${from} -> ${to}`);
    for (const c of r.cycles) console.log(`cycle: ${c.join(' ')}`);
    console.log(bad ? `check-layers: ${bad} problem(s) in ${r.modules} modules` : `check-layers: ${r.modules} modules, imports point down (${LAYERS.join(' < ')} < index.ts)`);
  }
  process.exit(bad ? 1 : 0);
}
