// -R through packed records must behave exactly like -R through one parsed
// command per line: same stdout, stderr, exit status and resulting rules, with
// and without --atomic, whatever mix of fast lines, errors and listings.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { ControlHandler } from '../../daemon/handler.js';
import { LocalBackend } from '../../daemon/local.js';
import { runArgv, type Backend } from '../../ipvsadm/run.js';
import { director } from '../helpers.js';

interface Run { code: number; out: string; err: string; rules: string; journal: string[] }

async function restore(text: string, atomic: boolean, packed: boolean): Promise<Run> {
  const handler = new ControlHandler(await director(1), { size: 4096, mode: 'proxy', dataPath: 'none', abiVersion: 0x10000 });
  const journal: string[] = [];
  const local = new LocalBackend(handler, (j) => { journal.push(...(j ?? ['<rewrite>'])); });
  // Without applyPacked the CLI sends one ConfigCmd per line (the reference behaviour).
  const backend: Backend = packed ? local : {
    apply: (c, a) => local.apply(c, a), list: (s) => local.list(s), connections: () => local.connections(),
    timeouts: () => local.timeouts(), daemons: () => local.daemons(),
  };
  let out = '', err = '';
  const io = { program: 'wasmvsadm', out: (t: string) => { out += t; }, err: (t: string) => { err += t; }, readStdin: async () => text };
  const code = await runArgv(atomic ? ['-R', '--atomic'] : ['-R'], () => backend, io);
  return { code, out, err, rules: handler.stateText(), journal };
}

const vip = fc.integer({ min: 1, max: 4 }).map((i) => `198.18.0.${i}:80`);
const rip = fc.integer({ min: 1, max: 4 }).map((i) => `198.19.0.${i}`);
const fastLine = fc.oneof(
  fc.tuple(fc.constantFrom('-A', '-E', '-D'), fc.constantFrom('-t', '-u'), vip, fc.constantFrom('', ' -s rr', ' -s sh', ' -s bogus'))
    .map(([c, p, v, s]) => `${c} ${p} ${v}${c === '-D' ? '' : s}`),
  fc.tuple(fc.constantFrom('-a', '-e', '-d'), fc.constantFrom('-t', '-u'), vip, rip, fc.constantFrom('', ' -m', ' -g -w 3', ' -i', ' -m -x 5 -y 9', ' -m -x 9 -y 5'))
    .map(([c, p, v, r, t]) => `${c} ${p} ${v} -r ${r}${c === '-d' ? '' : t}`),
);
const otherLine = fc.constantFrom(
  '# a comment', '', '-A -f 7 -s rr', '-a -f 7 -r 198.19.0.9 -g', '-A -t 198.18.0.1:0', '-a -t 198.18.0.1:80 -r 198.19.0.1 --bogus',
  '-C', '--set 10 20 30', '-L -n', '-Z', '-A -t 198.18.0.9:80 -p 60', ' ipvsadm -A -t 198.18.0.7:80', '-e -t 198.18.0.1:80 -r 198.19.0.1:81 -m',
);
const input = fc.array(fc.oneof({ weight: 4, arbitrary: fastLine }, { weight: 1, arbitrary: otherLine }), { maxLength: 30 }).map((l) => l.join('\n'));

describe('-R with packed records', () => {
  it('prints, exits and ends in the same rules as one command per line', async () => {
    await fc.assert(fc.asyncProperty(input, fc.boolean(), async (text, atomic) => {
      const a = await restore(text, atomic, true);
      const b = await restore(text, atomic, false);
      expect({ ...a, journal: undefined }).toEqual({ ...b, journal: undefined });
    }), { numRuns: 150 });
  });

  it('journals lines that replay to the same rules', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fastLine, { maxLength: 30 }).map((l) => l.join('\n')), async (text) => {
      const a = await restore(text, false, true);
      const replay = await restore(a.journal.join('\n'), false, false);
      expect(replay.rules).toBe(a.rules);
      expect(replay.err).toBe('');
    }), { numRuns: 100 });
  });

  it('a big restore journals --packed lines that replay, with or without the packed path, to the same rules', async () => {
    // 3,000 services × 3 dests = 12,000 records (over PACKED_JOURNAL_MIN), some of them failing.
    const lines: string[] = [];
    for (let s = 0; s < 3000; s++) {
      const v = `198.18.${s >> 8}.${s & 255}:80`;
      lines.push(`-A -t ${v} -s ${s % 2 ? 'rr' : 'wlc'}`);
      for (let d = 0; d < 3; d++) lines.push(`-a -t ${v} -r 198.19.${d}.${s & 255}:8080 -m -w ${d + 1}${d === 2 ? ' -x 9 -y 3' : ''}`);
      if (s % 500 === 7) lines.push(`-A -t ${v} -s rr`, `-a -t 198.18.99.${s & 255}:81 -r 198.19.0.1 -m`);
    }
    const a = await restore(lines.join('\n'), false, true);
    expect(a.err).toBe('Service already exists\nService not defined\n'.repeat(6));
    expect(a.journal.length).toBe(1);
    expect(a.journal[0]).toMatch(/^--packed [A-Za-z0-9+/]+=*$/);
    for (const packed of [true, false]) {
      const replay = await restore(a.journal.join('\n') + '\n', false, packed);
      expect(replay.err).toBe('');
      expect(replay.rules).toBe(a.rules);
    }
    expect(a.rules.split('\n').length).toBe(12001);
  });

  it('a restore big enough to stream (requests sent while the rest is read) reports, exits and ends as one command per line', async () => {
    // 13,000 services × 3 dests = 52,000 lines: streamed in requests of STREAM_RECORDS.
    const lines: string[] = [];
    for (let s = 0; s < 13000; s++) {
      const v = `198.18.${s >> 8}.${s & 255}:80`;
      lines.push(`-A -t ${v} -s rr`);
      for (let d = 0; d < 3; d++) lines.push(`-a -t ${v} -r 198.19.${d}.${s & 255}:8080 -m -w ${d + 1}`);
      if (s % 3001 === 5) lines.push(`-A -t ${v} -s rr`, `-a -t 198.18.250.${s & 255}:81 -r 198.19.0.1 -m`);
    }
    const tail = [...lines.slice(0, 45000), '-A -f 7 -s rr', '-L -n', ...lines.slice(45000)];
    for (const text of [lines.join('\n'), tail.join('\n'), lines.join('\n') + '\n-A -t 198.18.0.5:80 -s rr']) {
      const a = await restore(text, false, true);
      const b = await restore(text, false, false);
      expect(a.err).toContain('Service already exists\nService not defined\n');
      expect({ ...a, journal: undefined }).toEqual({ ...b, journal: undefined });
      // Streamed: more than one packed request, each journaled on its own.
      if (text === lines.join('\n')) expect(a.journal.length).toBeGreaterThan(1);
    }
  }, 60_000);

  it('a --packed line that is not whole records is refused like any line the parser cannot read', async () => {
    for (const packed of [true, false]) {
      const r = await restore('--packed AAAA\n-A -t 198.18.0.1:80 -s rr\n', false, packed);
      expect(r.err).toBe("Try `wasmvsadm -h' or 'wasmvsadm --help' for more information.\n");
      expect(r.code).toBe(255);
    }
  });

  it('reports each failing line and the status of the last one', async () => {
    const text = '-A -t 198.18.0.1:80 -s rr\n-A -t 198.18.0.1:80 -s rr\n-a -t 198.18.0.2:80 -r 198.19.0.1 -m\n-a -t 198.18.0.1:80 -r 198.19.0.1 -m';
    const r = await restore(text, false, true);
    expect(r.err).toBe('Service already exists\nService not defined\n');
    expect(r.code).toBe(0);
    const last = await restore(text.split('\n').slice(0, 3).join('\n'), false, true);
    expect(last.code).toBe(255);
  });

  it('--atomic leaves nothing behind when one line fails', async () => {
    const r = await restore('-A -t 198.18.0.1:80\n-a -t 198.18.0.1:80 -r 198.19.0.1 -m\n-a -t 198.18.0.1:80 -r 198.19.0.1 -m', true, true);
    expect(r.code).toBe(255);
    expect(r.err).toBe('Destination already exists\n');
    expect(r.rules).toBe('');
  });

  it('--atomic of adds onto a live configuration undoes them and keeps the rest as it was', async () => {
    const handler = new ControlHandler(await director(1), { size: 4096, mode: 'proxy', dataPath: 'none', abiVersion: 0x10000 });
    const b = new LocalBackend(handler);
    const io = { out: () => {}, err: () => {}, readStdin: async () => '' };
    // Ids reused out of order: -L --nosort and the state file follow them.
    for (const l of ['-A -t 198.18.0.1:80', '-A -t 198.18.0.2:80', '-A -t 198.18.0.3:80', '-D -t 198.18.0.1:80', '-A -t 198.18.0.4:80',
      '-a -t 198.18.0.2:80 -r 198.19.0.1 -m']) await runArgv(l.split(' '), () => b, io);
    const before = handler.stateText();
    const d = handler.director.dests({ protocol: 'tcp', address: '198.18.0.2', port: 80 })[0];
    let err = '';
    const code = await runArgv(['-R', '--atomic'], () => b, { ...io, err: (t) => { err += t; },
      readStdin: async () => '-A -t 198.18.0.9:80\n-a -t 198.18.0.9:80 -r 198.19.0.1 -m\n-a -t 198.18.0.2:80 -r 198.19.0.2 -g\n-A -t 198.18.0.3:80' });
    expect({ code, err }).toEqual({ code: 255, err: 'Service already exists\n' });
    expect(handler.stateText()).toBe(before);
    // The untouched destination is the same object (same id): nothing was rebuilt.
    expect(handler.director.dests({ protocol: 'tcp', address: '198.18.0.2', port: 80 })[0].id).toBe(d.id);
  });
});
