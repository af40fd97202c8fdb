// The state file: atomic rewrite, journal of accepted changes, compaction,
// and replaying snapshot + journal always rebuilds the daemon's state.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import * as fs from 'node:fs';
import { mkdtempSync, readFileSync, rmSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateStore, readStateFile, completeLines, type StateFs } from '../../daemon/state.js';
import { ControlHandler } from '../../daemon/handler.js';
import { LocalBackend } from '../../daemon/local.js';
import { runArgv } from '../../ipvsadm/run.js';
import { LineSplitter } from '../../daemon/lines.js';
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
      const store = new StateStore(path, () => live, { minJournal: 2 });
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

/**
 * node:fs over a pretend disk: each write puts down at most `chunk` bytes (a
 * short write), and once `room` bytes are written every write fails ENOSPC.
 */
function smallDisk(room: number, chunk = 5): StateFs & { room: number } {
  const disk = {
    ...fs,
    room,
    writeSync(fd: number, data: Uint8Array | string, offset?: number | null, len?: number | null): number {
      const off = offset ?? 0;
      const buf = typeof data === 'string' ? Buffer.from(data) : data;
      const n = Math.min(len ?? buf.length - off, chunk, disk.room);
      if (n <= 0) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      disk.room -= n;
      return fs.writeSync(fd, buf, off, n);
    },
  } as StateFs & { room: number };
  return disk;
}

describe('StateStore on a full disk', () => {
  const lines = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `-A -t 198.18.${(from + i) >> 8}.${(from + i) & 255}:80 -s rr`);
  const text = (l: string[]) => l.map((x) => x + '\n').join('');
  let dir = '';
  const setup = () => { dir = mkdtempSync(join(tmpdir(), 'wasmvs-disk-')); return join(dir, 'state.rules'); };
  const cleanup = () => rmSync(dir, { recursive: true, force: true });

  it('writes every byte of a rewrite even when each write is short', () => {
    const path = setup();
    try {
      const live = text(lines(300));
      new StateStore(path, () => live, { fs: smallDisk(1 << 20, 7) }).rewrite();
      expect(readFileSync(path, 'utf8')).toBe(live);
    } finally { cleanup(); }
  });

  it('ENOSPC in a rewrite throws, keeps the old file whole and leaves no temporary file', () => {
    const path = setup();
    try {
      const old = text(lines(10));
      writeFileSync(path, old);
      const disk = smallDisk(1000);
      const store = new StateStore(path, () => text(lines(4199)), { fs: disk });
      expect(() => store.rewrite()).toThrow(expect.objectContaining({ code: 'ENOSPC' }));
      expect(() => store.replace('', lines(4199))).toThrow(expect.objectContaining({ code: 'ENOSPC' }));
      expect(readFileSync(path, 'utf8')).toBe(old);
      expect(readdirSync(dir)).toEqual(['state.rules']);
      expect(store.failures.writes).toBe(2);
    } finally { cleanup(); }
  });

  it('ENOSPC in an append throws and cuts the partial line back; the next append replays cleanly', () => {
    const path = setup();
    try {
      const disk = smallDisk(1 << 20);
      const store = new StateStore(path, () => text(lines(2)), { fs: disk });
      store.rewrite();
      disk.room = 30;
      expect(() => store.record(lines(3, 10))).toThrow(expect.objectContaining({ code: 'ENOSPC' }));
      expect(readFileSync(path, 'utf8')).toBe(text(lines(2)));
      disk.room = 1 << 20;
      store.record(lines(1, 20));
      expect(readFileSync(path, 'utf8')).toBe(text([...lines(2), ...lines(1, 20)]));
    } finally { cleanup(); }
  });

  it('a compaction that fails is logged and counted, never thrown, and is retried later', async () => {
    const path = setup();
    try {
      const disk = smallDisk(1 << 20);
      const logs: string[] = [];
      let live = text(lines(2));
      const store = new StateStore(path, () => live, { fs: disk, minJournal: 4, log: (m) => logs.push(m) });
      store.rewrite();
      const appended = lines(5, 10);
      store.record(appended);
      live = text([...lines(2), ...appended]);
      // Room for nothing more: the compaction scheduled after that append fails.
      disk.room = 0;
      await new Promise((r) => setImmediate(r));
      expect(store.failures.compactions).toBe(1);
      expect(logs.join('\n')).toContain('state file compaction failed: ENOSPC');
      expect(readFileSync(path, 'utf8')).toBe(live);
      expect(readdirSync(dir)).toEqual(['state.rules']);
      // Space again: a later change compacts.
      disk.room = 1 << 20;
      for (let i = 0; i < 4; i++) {
        const more = lines(1, 30 + i);
        store.record(more);
        live += text(more);
        await new Promise((r) => setImmediate(r));
      }
      expect(store.failures.compactions).toBe(1);
      expect(readFileSync(path, 'utf8')).toBe(live);
    } finally { cleanup(); }
  });

  it('a torn last line is dropped on load, the lines before it kept', () => {
    expect(completeLines('-A -t 198.18.0.1:80 -s rr\n-A -t 198.18.0.2:8')).toEqual({ text: '-A -t 198.18.0.1:80 -s rr\n', torn: '-A -t 198.18.0.2:8' });
    expect(completeLines('a\nb\n')).toEqual({ text: 'a\nb\n', torn: null });
    expect(completeLines('')).toEqual({ text: '', torn: null });
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
