// The state file: atomic rewrite, journal of accepted changes, compaction,
// and replaying snapshot + journal always rebuilds the daemon's state.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateStore, readStateFile } from '../../sdk/control/state.js';
import { ControlHandler } from '../../sdk/control/handler.js';
import { LocalBackend } from '../../sdk/control/local.js';
import { runArgv } from '../../sdk/cli/run.js';
import { LineSplitter } from '../../sdk/control/lines.js';
import { director } from '../helpers.js';

async function handler(seed: number): Promise<ControlHandler> {
  return new ControlHandler(await director(seed), { size: 4096, mode: 'gateway', dataPath: 'none', abiVersion: 0x10000 });
}

async function run(h: ControlHandler, words: string[], stdin = '', changed?: (j: string[] | null) => void): Promise<number> {
  return runArgv(words, () => new LocalBackend(h, changed), { out: () => {}, err: () => {}, readStdin: async () => stdin });
}

describe('StateStore', () => {
  it('rewrites atomically, appends the journal, compacts after the reply', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wasmvs-state-'));
    try {
      const path = join(dir, 'sub', 'state.rules');
      let live = '-A -t 198.18.0.1:80 -s rr\n';
      const store = new StateStore(path, () => live, 2);
      expect(readStateFile(path)).toBeNull();
      store.rewrite();
      expect(readFileSync(path, 'utf8')).toBe(live);
      store.record(['-A -t 198.18.0.2:80 -s rr']);
      store.record([]);
      expect(readFileSync(path, 'utf8')).toBe('-A -t 198.18.0.1:80 -s rr\n-A -t 198.18.0.2:80 -s rr\n');
      live = 'compacted\n';
      store.record(['-C', '-A -t 198.18.0.3:80 -s rr']);
      expect(readFileSync(path, 'utf8')).toContain('-C\n');
      await new Promise((r) => setImmediate(r));
      expect(readFileSync(path, 'utf8')).toBe('compacted\n');
      store.record(null);
      expect(readFileSync(path, 'utf8')).toBe('compacted\n');
      expect(readdirSync(join(dir, 'sub'))).toEqual(['state.rules']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const CMDS = [
  '-A -t 198.18.0.1:80 -s rr', '-A -u 198.18.0.1:53 -s sh -b sh-port -p 60', '-A -f 5 -s wlc -p -M 255.255.0.0',
  '-E -t 198.18.0.1:80 -s wrr -p 30', '-E -t 198.18.0.1:80', '-D -u 198.18.0.1:53', '-C',
  '-a -t 198.18.0.1:80 -r 198.18.1.1 -m -w 5', '-a -t 198.18.0.1:80 -r 198.18.1.2:8080 -m -x 10 -y 2',
  '-e -t 198.18.0.1:80 -r 198.18.1.1 -m -w 0', '-d -t 198.18.0.1:80 -r 198.18.1.2:8080',
  '-a -f 5 -r 198.18.1.3 -i --tun-type gue --tun-port 6080 --tun-csum', '-a -f 5 -r 198.18.1.4:99 -g',
  '-e -f 5 -r 198.18.1.3 -i --tun-type gre', '-a -u 198.18.0.1:53 -r 198.18.1.5 -g -w 7', '-d -f 5 -r 198.18.1.4:99',
];

describe('journal replay', () => {
  it('snapshot + journal replays to the same state (random command sequences)', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.constantFrom(...CMDS), { maxLength: 25 }), async (seq) => {
      const h = await handler(5);
      let file = h.stateText();
      const changed = (j: string[] | null) => { file = j === null ? h.stateText() : file + j.map((l) => l + '\n').join(''); };
      for (const c of seq) await run(h, c.split(' '), '', changed);
      const replay = await handler(6);
      expect(await run(replay, ['-R'], file)).toBe(0);
      expect(replay.stateText()).toBe(h.stateText());
    }), { numRuns: 40 });
  });
});

describe('LineSplitter', () => {
  it('splits across chunk boundaries', () => {
    const s = new LineSplitter();
    expect(s.push('ab')).toEqual([]);
    expect(s.push('c\nd')).toEqual(['abc']);
    expect(s.pending).toBe(1);
    expect(s.push('\n\nxy\n')).toEqual(['d', '', 'xy']);
    expect(s.pending).toBe(0);
  });
});
