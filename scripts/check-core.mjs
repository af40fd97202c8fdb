// Checks the core's promise of "no managed objects on the data path":
//
//  1. Built with the incremental runtime (the one that needs a shadow stack),
//     no function reachable from a data-path export may touch
//     `__stack_pointer`: a function does only when it holds a managed
//     reference across a call, so this fails the moment a data-path function
//     uses a class instance, Array or StaticArray again.
//  2. In the shipped stub-runtime build, no function reachable from ANY export
//     may allocate through the runtime (`__alloc`/`__new`): the stub runtime
//     never frees, and its bump pointer would run into the allocator's pages.
//     Only module start-up may allocate that way.
//
// Usage: node scripts/check-core.mjs [--json]. Exit 1 and a list of
// offenders when a check fails. Used by test/core/runtime.test.ts.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const DATA_PATH_EXPORTS = ['schedule', 'packetBatch', 'gwBurst', 'connLookupBatch', 'advance', 'connEvent'];

/** Functions of a .wat: name → { body, exported names }. */
export function parseWat(text) {
  const funcs = new Map();
  const exports = new Map();
  const re = /^ \(func (\$\S+)/gm;
  const starts = [];
  let m;
  while ((m = re.exec(text))) starts.push({ name: m[1], at: m.index });
  for (let i = 0; i < starts.length; i++) {
    const end = i + 1 < starts.length ? starts[i + 1].at : text.length;
    funcs.set(starts[i].name, text.slice(starts[i].at, end));
  }
  const ex = /^ \(export "([^"]+)" \(func (\$\S+)\)\)/gm;
  while ((m = ex.exec(text))) exports.set(m[1], m[2]);
  return { funcs, exports };
}

/** Every function reachable from `roots` through direct calls. */
export function reachable(funcs, roots) {
  const seen = new Set();
  const todo = [...roots];
  while (todo.length) {
    const f = todo.pop();
    if (seen.has(f) || !funcs.has(f)) continue;
    seen.add(f);
    for (const c of funcs.get(f).matchAll(/\bcall (\$[^\s)]+)/g)) todo.push(c[1]);
    if (/call_indirect/.test(funcs.get(f))) todo.push('<indirect>');
  }
  return seen;
}

function compile(runtime, dir) {
  const wat = join(dir, `core-${runtime}.wat`);
  execFileSync(process.execPath, [join(root, 'node_modules/assemblyscript/bin/asc.js'), 'assembly/index.ts',
    '--target', 'release', '--runtime', runtime, '--outFile', join(dir, `core-${runtime}.wasm`), '--textFile', wat],
    { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  return readFileSync(wat, 'utf8');
}

export function checkCore() {
  const dir = mkdtempSync(join(tmpdir(), 'wasmvs-check-'));
  try {
    const inc = parseWat(compile('incremental', dir));
    const roots = DATA_PATH_EXPORTS.map((e) => {
      const f = inc.exports.get(e);
      if (!f) throw new Error(`export ${e} not found in the core`);
      return f;
    });
    const data = reachable(inc.funcs, roots);
    const shadow = [...data].filter((f) => inc.funcs.get(f).includes('__stack_pointer'));
    const stub = parseWat(compile('stub', dir));
    const all = reachable(stub.funcs, [...stub.exports.values()]);
    // Inlining may remove the call to __alloc, so look for the bump pointer itself too.
    const allocating = [...all].filter((f) => /\bcall \$~lib\/rt\/stub\/__(alloc|new)\b|global\.[gs]et \$~lib\/rt\/stub\/offset/.test(stub.funcs.get(f) ?? ''));
    return { dataPathFunctions: data.size, shadow, allocating, indirect: data.has('<indirect>') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = checkCore();
  if (process.argv.includes('--json')) console.log(JSON.stringify(r));
  else {
    console.log(`data-path functions: ${r.dataPathFunctions}`);
    console.log(`  touching the shadow stack (incremental build): ${r.shadow.length ? r.shadow.join(' ') : 'none'}`);
    console.log(`  allocating through the runtime after start (stub build): ${r.allocating.length ? r.allocating.join(' ') : 'none'}`);
  }
  process.exit(r.shadow.length || r.allocating.length ? 1 : 0);
}
