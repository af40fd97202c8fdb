// Runs inside the test's namespace: exercises the addon's error paths and
// prints one JSON line with what each call did (a thrown error's code or the
// return value). Nothing here may crash the process.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { NfQueue, VER_STRIDE } = require('../../native/build/Release/wasmvs_nfq.node');
const out = {};

function attempt(name, fn) {
  try {
    out[name] = { value: fn() ?? null };
  } catch (e) {
    out[name] = { code: e.code ?? e.name, message: e.message };
  }
}

attempt('noOptions', () => new NfQueue());
attempt('badQueue', () => new NfQueue({ queue: 70000 }));
attempt('badCopyRange', () => new NfQueue({ queue: 3, copyRange: 70000 }));
attempt('badVerdictMode', () => new NfQueue({ queue: 3, verdictMode: 'single' }));
const q = new NfQueue({ queue: 3, copyRange: 128 });
attempt('sameQueueTwice', () => new NfQueue({ queue: 3 }));
attempt('badStride', () => q.read(new Uint8Array(4096), 10, 4));
attempt('readEmpty', () => q.read(new Uint8Array(4096), 256, 4));
attempt('readNotArray', () => q.read('x', 256, 4));
const v = new Uint8Array(VER_STRIDE);
new DataView(v.buffer).setUint32(0, 123456, true);
new DataView(v.buffer).setUint32(4, 1, true);
attempt('verdictCountTooBig', () => q.verdicts(v, 2));
const pv = new DataView(v.buffer);
pv.setUint32(8, 2, true);
pv.setUint32(16, 0, true);
pv.setUint32(20, 100, true);
attempt('payloadOutOfBounds', () => q.verdicts(v, 1, new Uint8Array(50)));
pv.setUint32(8, 0, true);
attempt('unknownId', () => q.verdicts(v, 1));
attempt('readAfterUnknown', () => q.read(new Uint8Array(4096), 256, 4));
out.stats = q.stats();
attempt('startNoFn', () => q.start(1));
q.close();
attempt('closeTwice', () => q.close());
attempt('readAfterClose', () => q.read(new Uint8Array(4096), 256, 4));
attempt('rebindAfterClose', () => { const r = new NfQueue({ queue: 3 }); r.close(); return 'ok'; });
process.stdout.write(JSON.stringify(out) + '\n');
