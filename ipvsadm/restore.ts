// -R input (reference §5.9): one command per line, split on spaces, tabs and
// CR without quoting; tokens exactly `ipvsadm` dropped; blank lines skipped.
// wasmvs also skips `#` comment lines.
import { PACKED_WORDS, type PackedWriter } from '../sdk/packed.js';
import { fastLines, fastLinesTaken, bytesAt } from './fastparse.js';
import { packedLineWords, packedLine, PACKED_LINE } from './packed-wire.js';

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

/** -R input as UTF-8 bytes: the scanner reads bytes, never a decoded copy of a big input. */
export function restoreBytes(input: string | Uint8Array): Uint8Array {
  return typeof input === 'string' ? new TextEncoder().encode(input) : input;
}

const PACKED_PREFIX = new TextEncoder().encode(PACKED_LINE);
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });
const NL = 10;

/**
 * Split -R input: lines of the fast shape go straight into `packed` (when
 * given), the others come back in order, each knowing how many packed
 * records precede it, so the two streams can be replayed interleaved.
 */
export function scanRestore(input: string | Uint8Array, packed: PackedWriter | null): SlowLine[] {
  const out: SlowLine[] = [];
  const bytes = restoreBytes(input);
  new RestoreScanner().scan(bytes, 0, bytes.length, packed, out);
  return out;
}

/** Index of the next '\n' in b[from, to), or `to`. */
export function lineEnd(b: Uint8Array, from: number, to: number): number {
  const nl = b.indexOf(NL, from);
  return nl < 0 || nl > to ? to : nl;
}

/** scanRestore a piece at a time (whole lines), so a big -R can be sent while it is read. */
export class RestoreScanner {
  /** Lines scanned so far. */
  line = 0;

  /** Scan text[from, to) (UTF-8), which starts a line; `to` ends one (after its '\n') or the text. */
  scan(text: Uint8Array, from: number, to: number, packed: PackedWriter | null, out: SlowLine[]): void {
    for (let a = from; a < to; this.line++) {
      if (packed) {
        // Runs of fast lines (nearly all of a big -R) in one pass; the line after them is looked at below.
        const b = fastLines(text, a, to, packed);
        this.line += fastLinesTaken();
        a = b;
        if (a >= to) break;
      }
      const nl = lineEnd(text, a, to);
      const line = this.line + 1;
      if (bytesAt(text, a, PACKED_PREFIX)) {
        // Records a state file holds as they are (control/bulk.ts packedJournal).
        const s = utf8.decode(text.subarray(a, nl));
        const words = packedLineWords(s);
        if (words !== null && packed) packed.append(words);
        else if (words !== null) {
          for (let i = 0; i < words.length / PACKED_WORDS; i++) out.push({ line, argv: restoreArgv(packedLine(words, i))!, at: 0 });
        } else out.push({ line, argv: restoreArgv(s)!, at: packed ? packed.count : 0 });
      } else {
        // Not of the fast shape (fastLines said so): the full parser's.
        const argv = restoreArgv(utf8.decode(text.subarray(a, nl)));
        if (argv) out.push({ line, argv, at: packed ? packed.count : 0 });
      }
      a = nl + 1;
    }
  }
}
