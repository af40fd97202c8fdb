// In-process -R (no socket, no data path): the control path's own work, by
// phase, on the release core. Run in its own process so nothing else warms it.
//   node bench/cli/inproc.mjs RULES_FILE STATE_DIR [--slow]
// --slow: the per-command path (one ConfigCmd per line, as before the packed
// form), through the same CLI code with a backend that has no applyPacked.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const dist = new URL('../../dist/', import.meta.url);
const { Director } = await import(new URL('sdk/director.js', dist));
const { ControlHandler } = await import(new URL('daemon/handler.js', dist));
const { LocalBackend } = await import(new URL('daemon/local.js', dist));
const { StateStore } = await import(new URL('daemon/state.js', dist));
const { PackedWriter } = await import(new URL('sdk/packed.js', dist));
const { scanRestore } = await import(new URL('ipvsadm/restore.js', dist));
const { runArgv } = await import(new URL('ipvsadm/run.js', dist));

const [file, stateDir] = process.argv.slice(2);
const slow = process.argv.includes('--slow');
// As wasmvsadm reads it: bytes for the packed path, text for the per-command one.
const text = slow ? readFileSync(file, 'utf8') : readFileSync(file);
const director = await Director.create({ seed: 1 });
const handler = new ControlHandler(director, { size: 4096, mode: 'bench', dataPath: 'none', abiVersion: 0 });
const store = new StateStore(join(stateDir, slow ? 'slow.rules' : 'fast.rules'), () => handler.stateText());
const ms = (t) => Math.round(t * 10) / 10;
const out = {};

if (slow) {
  // The CLI as it was: every line through parseArgs, ConfigCmds as JSON, journal per command.
  const local = new LocalBackend(handler, (j) => store.record(j));
  const b = { apply: (c, a) => local.apply(c, a), list: (s) => local.list(s), connections: () => local.connections(), timeouts: () => local.timeouts(), daemons: () => local.daemons() };
  const t0 = performance.now();
  const code = await runArgv(['-R'], () => b, { out: () => {}, err: (t) => process.stderr.write(t), readStdin: async () => text });
  out.total = ms(performance.now() - t0);
  out.code = code;
} else {
  const t0 = performance.now();
  const packed = new PackedWriter();
  const rest = scanRestore(text, packed);
  const t1 = performance.now();
  const words = packed.words.subarray(0, packed.count * 9);
  const r = handler.applyPacked(words, packed.count, false);
  const t2 = performance.now();
  store.replace(handler.stateHead(), r.journal);
  const t3 = performance.now();
  Object.assign(out, {
    parse: ms(t1 - t0), apply: ms(t2 - t1), stateWrite: ms(t3 - t2), total: ms(t3 - t0),
    records: packed.count, slowLines: rest.length, failures: r.failures.length,
  });
  // The same apply split: core call vs JS validation and journal lines.
  const d2 = await Director.create({ seed: 1 });
  const t4 = performance.now();
  d2.applyPacked(words, packed.count, false);
  out.applyDirectorOnly = ms(performance.now() - t4);
}
out.services = director.serviceCount();
process.stdout.write(JSON.stringify(out) + '\n');
