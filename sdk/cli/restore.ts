// -R input (reference §5.9): one command per line, split on spaces, tabs and
// CR without quoting; tokens exactly `ipvsadm` dropped; blank lines skipped.
// wasmvs also skips `#` comment lines.
import { PACKED_WORDS, type PackedWriter } from '../src/packed.js';
import { fastRange } from './fastparse.js';
import { packedLineWords, packedLine, PACKED_LINE } from '../control/bulk.js';

export interface RestoreLine { line: number; argv: string[] }
/** A line for the full parser, with the number of fast-path records before it. */
export interface SlowLine extends RestoreLine { at: number }

/** The words of one line, or null for a blank or comment line. */
export function restoreArgv(text: string): string[] | null {
  const argv = text.split(/[ \t\r]+/).filter((w) => w !== '' && w !== 'ipvsadm');
  return argv.length === 0 || argv[0].startsWith('#') ? null : argv;
}

export function restoreLines(text: string): RestoreLine[] {
  const out: RestoreLine[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const argv = restoreArgv(lines[i]);
    if (argv) out.push({ line: i + 1, argv });
  }
  return out;
}

/**
 * Split -R input: lines of the fast shape go straight into `packed` (when
 * given), the others come back in order, each knowing how many packed
 * records precede it, so the two streams can be replayed interleaved.
 */
export function scanRestore(text: string, packed: PackedWriter | null): SlowLine[] {
  const out: SlowLine[] = [];
  new RestoreScanner().scan(text, 0, text.length, packed, out);
  return out;
}

/** scanRestore a piece at a time (whole lines), so a big -R can be sent while it is read. */
export class RestoreScanner {
  /** Lines scanned so far. */
  line = 0;

  /** Scan text[from, to), which starts a line; `to` ends one (after its '\n') or the text. */
  scan(text: string, from: number, to: number, packed: PackedWriter | null, out: SlowLine[]): void {
    for (let a = from; a < to; this.line++) {
      let nl = text.indexOf('\n', a);
      if (nl < 0 || nl > to) nl = to;
      const line = this.line + 1;
      if (text.startsWith(PACKED_LINE, a)) {
        // Records a state file holds as they are (control/bulk.ts packedJournal).
        const words = packedLineWords(text.slice(a, nl));
        if (words !== null && packed) packed.append(words);
        else if (words !== null) {
          for (let i = 0; i < words.length / PACKED_WORDS; i++) out.push({ line, argv: restoreArgv(packedLine(words, i))!, at: 0 });
        } else out.push({ line, argv: restoreArgv(text.slice(a, nl))!, at: packed ? packed.count : 0 });
      } else if (!packed || !fastRange(text, a, nl, packed)) {
        const argv = restoreArgv(text.slice(a, nl));
        if (argv) out.push({ line, argv, at: packed ? packed.count : 0 });
      }
      a = nl + 1;
    }
  }
}
