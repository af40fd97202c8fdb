// -R input, ipvsadm -S lines mutated and random, through wasmvsadm's parser
// and restore path: every line is applied or refused with an ipvsadm-style
// message and a known exit status, never an exception or a hang; a refused
// line (or a refused --atomic block) leaves the configuration as it was.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { cli, type Cli } from '../ipvsadm/harness.js';
import { budget, testTimeout } from './budget.js';
import { mutatedText } from './mutate.js';

/** -S output of a configuration that uses most options: the lines mutation starts from. */
const CORPUS = [
  '--set 900 120 300',
  '-A -t 198.18.0.1:80 -s wlc',
  '-a -t 198.18.0.1:80 -r 198.18.1.1:80 -m -w 3',
  '-a -t 198.18.0.1:80 -r 198.18.1.2:8080 -g -w 0 -x 100 -y 10',
  '-A -u 198.18.0.2:53 -s rr -o',
  '-a -u 198.18.0.2:53 -r 198.18.1.3:53 -m -w 1',
  '-A -t [2001:2::1]:443 -s sh -b sh-fallback,sh-port -p 60 -M 64',
  '-a -t [2001:2::1]:443 -r [2001:2::10]:443 -g -w 2',
  '-A -f 7 -s mh -b mh-port -p 360 -M 255.255.255.0',
  '-a -f 7 -r 198.18.1.4:0 -i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum',
  '-A --sctp-service 198.18.0.3:9 -s lblcr',
  '-a --sctp-service 198.18.0.3:9 -r 198.18.1.5:9 -m -w 5',
  '-A -f 9 -6 -s fo',
  '-a -f 9 -6 -r [2001:2::11]:0 -g -w 1',
];

const WORDS = ['-A', '-E', '-D', '-C', '-a', '-e', '-d', '-Z', '-L', '-S', '-R', '--set', '-t', '-u', '-f', '-6', '-s', '-p', '-M',
  '-b', '-o', '-r', '-g', '-i', '-m', '-w', '-x', '-y', '-n', '--pe', '--tun-type', '--tun-port', '--tun-nocsum', '--tun-csum',
  '--sctp-service', '--atomic', '198.18.0.1:80', '198.18.0.1', '[2001:2::1]:443', '2001:2::1', '0', '1', '65535', '65536',
  '-1', '4294967295', '4294967296', 'rr', 'wlc', 'sh', 'mh', 'nosuch', 'sh-port', 'flag-1', 'gue', 'gre', 'ipip', 'sip',
  '255.255.255.255', '0.0.0.0', '198.18.0.1:0', '[::]:0', '#', '', '--', '-'];

/** A corpus line with a few token edits, character edits on top now and then. */
const mutatedLine = fc.constantFrom(...CORPUS).chain((line) => {
  const tokens = line.split(' ');
  const edit = fc.tuple(fc.nat(), fc.constantFrom('delete', 'duplicate', 'swap', 'replace'), fc.constantFrom(...WORDS));
  return fc.tuple(fc.array(edit, { minLength: 1, maxLength: 3 }), fc.boolean()).chain(([edits, chars]) => {
    const t = [...tokens];
    for (const [at, kind, word] of edits) {
      const i = at % t.length;
      if (kind === 'delete' && t.length > 1) t.splice(i, 1);
      else if (kind === 'duplicate') t.splice(i, 0, t[i]);
      else if (kind === 'swap' && i + 1 < t.length) [t[i], t[i + 1]] = [t[i + 1], t[i]];
      else t[i] = word;
    }
    const text = t.join(' ');
    return chars ? mutatedText(text) : fc.constant(text);
  });
});

const restoreLine = fc.oneof(
  { weight: 8, arbitrary: mutatedLine },
  { weight: 1, arbitrary: fc.array(fc.constantFrom(...WORDS), { maxLength: 8 }).map((w) => w.join(' ')) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
);

const STATUSES = [0, 1, 2, 255];

/**
 * Messages read like ipvsadm's: whole lines, at least one with text (ipvsadm
 * itself follows "-6 used before -f" with a blank line), never a stack, a JS
 * type error or an unset value.
 */
function checkMessages(err: string): void {
  expect(err.endsWith('\n')).toBe(true);
  expect(err.trim()).not.toBe('');
  for (const line of err.slice(0, -1).split('\n')) {
    expect(line).not.toMatch(/\bat \S+:\d+:\d+|TypeError|RangeError|ReferenceError|\bundefined\b|\bNaN\b|\[object /);
  }
}

async function reset(c: Cli): Promise<string> {
  await c.run('-C');
  const r = await c.run('-R', CORPUS.join('\n') + '\n');
  expect(r).toEqual({ code: 0, out: '', err: '' });
  return c.handler.stateText();
}

describe('fuzz: -R input through the parser and restore path', () => {
  it('one line: applied (exit 0, silent) or refused with a message and nothing changed', async () => {
    const c = await cli(21);
    let before = await reset(c);
    // One line: no newline inside (character edits may insert one).
    const oneLine = restoreLine.filter((l) => !l.includes('\n'));
    await fc.assert(fc.asyncProperty(oneLine, async (line) => {
      // Back to the corpus configuration after a line that changed it.
      if (c.handler.stateText() !== before) before = await reset(c);
      const r = await c.run('-R', line + '\n');
      expect(STATUSES).toContain(r.code);
      if (r.code === 0) {
        expect(r.err).toBe('');
      } else {
        checkMessages(r.err);
        expect(c.handler.stateText()).toBe(before);
      }
    }), { ...budget(0x52_0001, 600), timeout: 5000 });
  }, testTimeout());

  it('a block of lines, plain or --atomic: known status, messages; a refused --atomic block changes nothing', async () => {
    const c = await cli(22);
    await reset(c);
    await fc.assert(fc.asyncProperty(fc.array(restoreLine, { minLength: 1, maxLength: 12 }), fc.boolean(), async (lines, atomic) => {
      const before = await reset(c);
      const r = await c.run(atomic ? ['-R', '--atomic'] : ['-R'], lines.join('\n') + '\n');
      expect(STATUSES).toContain(r.code);
      if (r.err !== '') checkMessages(r.err);
      if (r.code !== 0) expect(r.err).not.toBe('');
      if (atomic && r.code !== 0) expect(c.handler.stateText()).toBe(before);
    }), { ...budget(0x52_0002, 250), timeout: 5000 });
  }, testTimeout());
});
