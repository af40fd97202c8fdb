// The -R fast path must build exactly what parseArgs builds, and must decline
// every line parseArgs would refuse (so ipvsadm's messages stay the parser's).
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { fastLine } from '../../ipvsadm/fastparse.js';
import { parseArgs } from '../../ipvsadm/parse.js';
import { PackedWriter, packedToCmd } from '../../sdk/packed.js';
import { restoreArgv, scanRestore, RestoreScanner, lineEnd, type SlowLine } from '../../ipvsadm/restore.js';

/** parseArgs' command for a line, or 'error'/'other'. */
function slow(argv: string[]): unknown {
  try {
    const { parsed } = parseArgs(argv, { inRestore: true });
    return parsed.kind === 'apply' ? parsed.cmd : 'other';
  } catch {
    return 'error';
  }
}

function fast(argv: string[]): unknown {
  const w = new PackedWriter();
  if (!fastLine(argv, w)) return null;
  expect(w.count).toBe(1);
  return packedToCmd(w.take(), 0);
}

// Tokens near the fast shape, with the edge cases that must fall back.
const addr = fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 })).map(([a, b]) => `198.18.${a}.${b}`),
  fc.constantFrom('198.18.0.256', '198.18.01.1', '198.18.0', '198.18.0.1.2', 'localhost', '[2001:db8::1]', '2001:db8::1', '1.2.3.4x', '',
    '198.18..1', '.198.18.0.1', '198.18.0.1.', '0.0.0.0', '255.255.255.255', '1198.18.0.1', '198.18.0.00', '198.18.0.1:', '198.18.0.1x:80'),
);
const port = fc.oneof(fc.integer({ min: 0, max: 65535 }).map(String), fc.constantFrom('080', '65536', '+80', 'http', '', '99999', '80:9', '0', '00', '65535', '8o'));
const hostport = fc.oneof(fc.tuple(addr, port).map(([a, p]) => `${a}:${p}`), addr);
const num = fc.oneof(fc.integer({ min: 0, max: 70000 }).map(String), fc.constantFrom('2147483647', '2147483648', '007', '-1', 'x', '4294967296'));
const opt = fc.oneof(
  fc.tuple(fc.constantFrom('-t', '-u', '--sctp-service', '-r', '-f'), hostport).map(([o, v]) => [o, v]),
  fc.tuple(fc.constantFrom('-s'), fc.constantFrom('rr', 'wlc', 'sh', 'mh', 'bogus', 'none', '-m')).map(([o, v]) => [o, v]),
  fc.tuple(fc.constantFrom('-w', '-x', '-y', '-p'), num).map(([o, v]) => [o, v]),
  fc.constantFrom(['-m'], ['-g'], ['-i'], ['-n'], ['-o'], ['--tun-type', 'gue'], ['-6'], ['-mw', '3'], ['ipvsadm'], ['-w']),
);
const goodAddr = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 })).map(([a, b]) => `198.18.${a}.${b}`);
const goodPort = fc.oneof(fc.integer({ min: 1, max: 65535 }), fc.constant(0)).map(String);
/** Lines of the fast shape in any option order, sometimes with one extra (maybe bad) option. */
const nearLine = fc.tuple(
  fc.constantFrom('-A', '-E', '-D', '-a', '-e', '-d'),
  fc.constantFrom('-t', '-u'), goodAddr, goodPort, goodAddr, fc.option(goodPort, { nil: undefined }),
  fc.option(fc.constantFrom('rr', 'wlc', 'sh', 'lblcr'), { nil: undefined }),
  fc.option(fc.constantFrom('-m', '-g', '-i'), { nil: undefined }),
  fc.option(num, { nil: undefined }), fc.option(num, { nil: undefined }), fc.option(num, { nil: undefined }),
  fc.option(opt, { nil: undefined, freq: 3 }), fc.array(fc.nat(), { minLength: 8, maxLength: 8 }),
).map(([cmd, so, va, vp, ra, rp, sc, m, w, x, y, extra, order]) => {
  const groups: string[][] = [[so, `${va}:${vp}`]];
  if (cmd === '-A' || cmd === '-E') { if (sc) groups.push(['-s', sc]); }
  else if (cmd !== '-D') {
    groups.push(['-r', rp === undefined ? ra : `${ra}:${rp}`]);
    if (cmd !== '-d') {
      if (m) groups.push([m]);
      if (w) groups.push(['-w', w]);
      if (x) groups.push(['-x', x]);
      if (y) groups.push(['-y', y]);
    }
  }
  if (extra) groups.push([...extra]);
  const sorted = groups.map((g, i) => ({ g, k: order[i] })).sort((a, b) => a.k - b.k).map((e) => e.g);
  return [cmd, ...sorted.flat()];
});
const line = fc.tuple(
  fc.constantFrom('-A', '-E', '-D', '-a', '-e', '-d', '-C', '-L', '--add-service', '#', '-Z'),
  fc.array(opt, { maxLength: 7 }),
).map(([cmd, opts]) => [cmd, ...opts.flat()]);

describe('-R fast path', () => {
  it('equals parseArgs whenever it accepts a line, and declines what parseArgs refuses', () => {
    let accepted = 0;
    fc.assert(fc.property(fc.oneof(line, nearLine, nearLine), (argv) => {
      const words = restoreArgv(argv.join(' '));
      if (words === null) return;
      const f = fast(words);
      if (f === null) return;
      accepted++;
      expect(f).toEqual(slow(words));
    }), { numRuns: 4000 });
    // The generator must actually exercise the fast path (≈ 500 of 4000 lines are fast).
    expect(accepted).toBeGreaterThan(100);
  });

  it('accepts the common shapes with ipvsadm defaults', () => {
    expect(fast(['-A', '-t', '198.18.0.1:80'])).toEqual(slow(['-A', '-t', '198.18.0.1:80']));
    expect(fast(['-A', '-u', '198.18.0.1:53', '-s', 'sh'])).toEqual(slow(['-A', '-u', '198.18.0.1:53', '-s', 'sh']));
    for (const tail of [['-m'], ['-g'], ['-i'], ['-m', '-w', '0'], ['-x', '10', '-y', '5']]) {
      const argv = ['-a', '-t', '198.18.0.1:80', '-r', '198.19.0.1', ...tail];
      expect(fast(argv)).not.toBeNull();
      expect(fast(argv)).toEqual(slow(argv));
      const withPort = ['-a', '-t', '198.18.0.1:80', '-r', '198.19.0.1:8080', ...tail];
      expect(fast(withPort)).toEqual(slow(withPort));
    }
    expect(fast(['-d', '-t', '198.18.0.1:80', '-r', '198.19.0.1'])).toEqual(slow(['-d', '-t', '198.18.0.1:80', '-r', '198.19.0.1']));
    expect(fast(['-D', '-u', '198.18.0.1:80'])).toEqual(slow(['-D', '-u', '198.18.0.1:80']));
  });

  it('leaves errors and rarer forms to the full parser', () => {
    for (const argv of [
      ['-A', '-t', '198.18.0.1:0'], ['-A', '-t', '198.18.0.1:80', '-s', 'bogus'], ['-a', '-t', '198.18.0.1:80'],
      ['-a', '-r', '198.19.0.1', '-t', '198.18.0.1:80', '-m'], ['-A', '-t', '198.18.0.1:80', '-p'],
      ['-a', '-t', '198.18.0.1:80', '-r', '198.19.0.1', '-m', '-g'], ['-A', '-t', 'example.com:80'],
    ]) expect(fast(argv)).toBeNull();
  });

  it('reads addresses and ports as parseArgs does at every edge', () => {
    const addrs = ['198.18.0.1', '0.0.0.0', '255.255.255.255', '198.18.0.256', '198.18.01.1', '198.18.0.00', '198.18.0', '198.18..1',
      '.198.18.0.1', '198.18.0.1.', '198.18.0.1.2', '1198.18.0.1', '1.2.3.4x', '198.18.0.1x'];
    const ports = [undefined, '', '0', '00', '80', '080', '65535', '65536', '99999', '123456', '80:9', '8o', '+80'];
    let accepted = 0;
    for (const a of addrs) {
      for (const p of ports) {
        const hp = p === undefined ? a : `${a}:${p}`;
        for (const argv of [['-A', '-t', hp, '-s', 'rr'], ['-a', '-t', '198.18.0.1:80', '-r', hp, '-m'], ['-d', '-u', '198.18.0.1:53', '-r', hp]]) {
          const f = fast(argv);
          if (f === null) continue;
          accepted++;
          expect(f).toEqual(slow(argv));
        }
      }
    }
    expect(accepted).toBeGreaterThan(20);
  });

  it('scanRestore keeps slow lines in order with the number of fast records before each', () => {
    const w = new PackedWriter();
    const text = [
      '# comment', '-A -t 198.18.0.1:80 -s rr', '', 'ipvsadm -a -t 198.18.0.1:80 -r 198.19.0.1 -m',
      '-A -f 7', '-a -t 198.18.0.1:80 -r 198.19.0.2 -g\r', '  -L -n  ',
    ].join('\n');
    const slowLines = scanRestore(text, w);
    expect(w.count).toBe(3);
    expect(slowLines).toEqual([{ line: 5, argv: ['-A', '-f', '7'], at: 2 }, { line: 7, argv: ['-L', '-n'], at: 3 }]);
  });

  it('a whole text scans as its lines one by one, in any split into pieces of whole lines', () => {
    const blank = fc.constantFrom('', '  ', '\r', '# c', 'ipvsadm', '-a -t 198.18.0.1:80 -r 198.19.0.1 -m -w 1 -x 1 -y 1 -m -m -m -m -m -m');
    fc.assert(fc.property(fc.array(fc.oneof(line.map((a) => a.join(' ')), nearLine.map((a) => a.join('\t ')), blank), { maxLength: 40 }),
      fc.boolean(), fc.array(fc.nat(), { maxLength: 6 }), (lines, finalNl, cuts) => {
        const text = lines.join('\n') + (finalNl ? '\n' : '');
        // Expected: each line alone through the one-line fast path, else restoreArgv.
        const want = new PackedWriter();
        const wantSlow: SlowLine[] = [];
        lines.forEach((l, i) => {
          const argv = restoreArgv(l);
          if (argv && fastLine(argv, want)) return;
          if (argv) wantSlow.push({ line: i + 1, argv, at: want.count });
        });
        const bytes = new Uint8Array(Buffer.from(text, 'utf8'));
        const got = new PackedWriter();
        const gotSlow: SlowLine[] = [];
        const sc = new RestoreScanner();
        let a = 0;
        for (const c of [...cuts.map((c) => c % (bytes.length + 1)).sort((x, y) => x - y), bytes.length]) {
          if (c < a) continue;
          const to = Math.min(lineEnd(bytes, c, bytes.length) + 1, bytes.length);
          sc.scan(bytes, a, to, got, gotSlow);
          a = to;
        }
        expect(gotSlow).toEqual(wantSlow);
        expect(got.take()).toEqual(want.take());
      }), { numRuns: 500 });
  });

  it('scans UTF-8 bytes as read: non-ASCII lines go to the full parser decoded, line numbers and BOM kept', () => {
    const text = '-A -t 198.18.0.1:80 -s rr\n-a -t 198.18.0.1:80 -r h\u00f6st.example -m\n\ufeff-A -t 198.18.0.2:80\n-a -t 198.18.0.1:80 -r 198.19.0.1 -m -w 2';
    const fromString = new PackedWriter(), fromBytes = new PackedWriter();
    const a = scanRestore(text, fromString);
    const b = scanRestore(new Uint8Array(Buffer.from(text, 'utf8')), fromBytes);
    expect(b).toEqual(a);
    expect(a).toEqual([
      { line: 2, argv: ['-a', '-t', '198.18.0.1:80', '-r', 'h\u00f6st.example', '-m'], at: 1 },
      { line: 3, argv: ['\ufeff-A', '-t', '198.18.0.2:80'], at: 1 },
    ]);
    expect(fromBytes.count).toBe(2);
    expect(fromBytes.take()).toEqual(fromString.take());
  });
});
