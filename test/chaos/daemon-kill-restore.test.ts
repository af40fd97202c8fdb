// Chaos: wasmvsd SIGKILLed while a large `wasmvsadm -R` is on its way in, so
// the kill lands before, during and after the apply, the state-file write and
// the compaction. Delays are fractions of the time one uninterrupted run takes
// on this machine, drawn from a fixed seed. What may be lost: only what was
// never acknowledged (a run that exited 0 was: the daemon replies only once the
// change is durable). An atomic restore comes back whole or not at all; a
// non-atomic one comes back as a prefix of its input holding every acknowledged run.
import { describe, it, expect, afterEach } from 'vitest';
import { rmSync, writeFileSync } from 'node:fs';
import { lab, requireBuild, type Lab } from '../hosts/proxy/harness.js';
import type { Run } from '../daemon/daemon.js';
import { prng, restoreLines, sleep } from './kit.js';

const BASELINE = ['-A -t 198.18.0.1:80 -s rr', '-a -t 198.18.0.1:80 -r 198.18.1.1:80 -m -w 1'];

/** The configuration as a set of -S lines. */
async function saved(l: Lab): Promise<Set<string>> {
  const r = await l.adm('-S -n');
  expect(r.code).toBe(0);
  return new Set(r.out.split('\n').filter((x) => x !== ''));
}

async function kill9(l: Lab): Promise<void> {
  l.daemon!.proc.kill('SIGKILL');
  await l.daemon!.exited;
  l.daemon = null;
}

/** A fresh daemon whose state file holds the baseline (or nothing, when `empty`). */
async function fresh(l: Lab, empty: boolean): Promise<void> {
  if (empty) rmSync(l.state, { force: true });
  else writeFileSync(l.state, BASELINE.join('\n') + '\n');
  await l.start();
}

describe('chaos: wasmvsd SIGKILLed during a large -R', () => {
  let l: Lab;
  afterEach(() => l?.cleanup());

  it('-R --atomic of 5,000 lines, 6 kills at seeded delays: lost all of an unacknowledged restore or none of it, never part', async () => {
    requireBuild();
    l = lab('wasmvs-chaos-restore-');
    const input = restoreLines(5000, 5);
    const whole = new Set([...BASELINE, ...input]);
    const rand = prng(0x5eed);
    // Calibration (not an assertion): one uninterrupted restore, and it survives a kill -9 after its reply.
    await fresh(l, false);
    const t0 = Date.now();
    expect(await l.adm(['-R', '--atomic'], input.join('\n') + '\n')).toEqual({ code: 0, out: '', err: '' });
    const took = Date.now() - t0;
    await kill9(l);
    await l.start();
    expect(await saved(l)).toEqual(whole);
    await kill9(l);
    const outcomes: string[] = [`uninterrupted: ${took} ms`];
    for (let round = 0; round < 6; round++) {
      // Odd rounds restore into an empty daemon (one whole-file write), even ones append to a journal (then compaction).
      const empty = round % 2 === 1;
      await fresh(l, empty);
      const base = new Set(empty ? [] : BASELINE);
      const delay = Math.round(took * (0.2 + rand()));
      const r = l.adm(['-R', '--atomic'], input.join('\n') + '\n');
      await sleep(delay);
      await kill9(l);
      // Exit 0 means the daemon replied, and it replies only once the change is durable: acknowledged, even when seen after the kill.
      const client = await r;
      const acked = client.code === 0;
      await l.start();
      const after = await saved(l);
      const got = after.size === base.size ? 'none' : after.size === (empty ? input.length : whole.size) ? 'all' : `part (${after.size} lines)`;
      const said = acked ? 'acknowledged' : `not acknowledged (exit ${client.code}, ${JSON.stringify(client.err.trim().split('\n')[0])})`;
      outcomes.push(`${delay} ms: ${said}, came back: ${got}`);
      if (got === 'none') expect(after).toEqual(base);
      else expect(after).toEqual(empty ? new Set(input) : whole);
      if (acked) expect(got).toBe('all');
      expect(acked || client.err !== '').toBe(true);
      await kill9(l);
    }
    console.log(`chaos -R --atomic kill:\n  ${outcomes.join('\n  ')}`);
  }, 120_000);

  it('-R of 5,000 lines in 5 runs of 1,000, 4 kills at seeded delays: lost nothing wasmvsadm acknowledged; what came back is a prefix', async () => {
    requireBuild();
    l = lab('wasmvs-chaos-restore-');
    const input = restoreLines(5000, 6);
    const chunks = Array.from({ length: 5 }, (_, i) => input.slice(i * 1000, (i + 1) * 1000));
    const rand = prng(0xc4a05);
    await fresh(l, false);
    const t0 = Date.now();
    for (const c of chunks) expect((await l.adm(['-R'], c.join('\n') + '\n')).code).toBe(0);
    const took = Date.now() - t0;
    await kill9(l);
    const outcomes: string[] = [];
    for (let round = 0; round < 4; round++) {
      await fresh(l, false);
      const delay = Math.round(took * (0.1 + rand() * 0.9));
      let killed = false;
      let ackedChunks = 0;
      const runs: Run[] = [];
      const sender = (async () => {
        for (const c of chunks) {
          if (killed) break;
          const run = await l.adm(['-R'], c.join('\n') + '\n');
          runs.push(run);
          if (run.code !== 0) break;
          ackedChunks++;
        }
      })();
      await sleep(delay);
      killed = true;
      await kill9(l);
      await sender;
      await l.start();
      const after = await saved(l);
      for (const b of BASELINE) expect(after.has(b)).toBe(true);
      let prefix = 0;
      while (prefix < input.length && after.has(input[prefix])) prefix++;
      const beyond = input.slice(prefix).filter((x) => after.has(x));
      const lost = input.slice(0, ackedChunks * 1000).filter((x) => !after.has(x));
      const failed = runs.find((x) => x.code !== 0);
      outcomes.push(`${delay} ms: ${ackedChunks * 1000} lines acknowledged, ${prefix} came back` +
        (failed ? `; the run cut off printed ${JSON.stringify(failed.err.trim().split('\n')[0])} (exit ${failed.code})` : ''));
      expect(lost).toEqual([]);
      expect(beyond).toEqual([]);
      expect(after.size).toBe(BASELINE.length + prefix);
      await kill9(l);
    }
    console.log(`chaos -R kill:\n  ${outcomes.join('\n  ')}`);
  }, 120_000);

  it('-R of 5,000 lines as one request, 6 kills at seeded delays: lost nothing acknowledged; what came back is a prefix', async () => {
    requireBuild();
    l = lab('wasmvs-chaos-restore-');
    const input = restoreLines(5000, 7);
    const rand = prng(0x1e5);
    await fresh(l, false);
    const t0 = Date.now();
    expect((await l.adm(['-R'], input.join('\n') + '\n')).code).toBe(0);
    const took = Date.now() - t0;
    await kill9(l);
    const outcomes: string[] = [`uninterrupted: ${took} ms`];
    for (let round = 0; round < 6; round++) {
      const empty = round % 2 === 1;
      await fresh(l, empty);
      const delay = Math.round(took * (0.2 + rand()));
      const r = l.adm(['-R'], input.join('\n') + '\n');
      await sleep(delay);
      await kill9(l);
      const acked = (await r).code === 0;
      await l.start();
      const after = await saved(l);
      for (const b of empty ? [] : BASELINE) expect(after.has(b)).toBe(true);
      let prefix = 0;
      while (prefix < input.length && after.has(input[prefix])) prefix++;
      outcomes.push(`${delay} ms: ${acked ? 'acknowledged' : 'not acknowledged'}, ${prefix} lines came back`);
      expect(input.slice(prefix).filter((x) => after.has(x))).toEqual([]);
      expect(after.size).toBe((empty ? 0 : BASELINE.length) + prefix);
      if (acked) expect(prefix).toBe(input.length);
      await kill9(l);
    }
    console.log(`chaos -R (one request) kill:\n  ${outcomes.join('\n  ')}`);
  }, 120_000);
});
