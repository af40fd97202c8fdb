// popt-style argv scanning as ipvsadm sees it: bundled short options (-Ln),
// short options taking the rest of their bundle or the next word as value,
// --long and --long=value, optional values that never start with '-',
// non-option words collected as arguments, '--' ending options.
import { longOption, shortOption, type OptionSpec } from './options.js';

export type Token =
  | { type: 'opt'; spec: OptionSpec; value?: string; word: string }
  | { type: 'error'; word: string; message: string };

export interface Scan { tokens: Token[]; args: string[] }

/** popt's messages for the two errors ipvsadm can meet. */
const BADOPT = 'unknown option';
const NOARG = 'missing argument';

function takeValue(spec: OptionSpec, inline: string | undefined, argv: readonly string[], i: number): { value?: string; used: number } | null {
  if (inline !== undefined && inline !== '') return { value: inline, used: 0 };
  const next = argv[i + 1];
  if (spec.arg === 'optional') {
    return next !== undefined && !next.startsWith('-') ? { value: next, used: 1 } : { used: 0 };
  }
  return next !== undefined ? { value: next, used: 1 } : null;
}

/** Scan argv (without the program name). Scanning stops at the first error, as popt does. */
export function scan(argv: readonly string[]): Scan {
  const tokens: Token[] = [];
  const args: string[] = [];
  let onlyArgs = false;
  for (let i = 0; i < argv.length; i++) {
    const w = argv[i];
    if (onlyArgs || w === '-' || !w.startsWith('-')) { args.push(w); continue; }
    if (w === '--') { onlyArgs = true; continue; }
    if (w.startsWith('--')) {
      const eq = w.indexOf('=');
      const name = eq < 0 ? w.slice(2) : w.slice(2, eq);
      const spec = longOption(name);
      if (!spec || (spec.arg === 'none' && eq >= 0)) return { tokens: [...tokens, { type: 'error', word: w, message: BADOPT }], args };
      if (spec.arg === 'none') { tokens.push({ type: 'opt', spec, word: w }); continue; }
      const v = takeValue(spec, eq < 0 ? undefined : w.slice(eq + 1), argv, i);
      if (!v) return { tokens: [...tokens, { type: 'error', word: w, message: NOARG }], args };
      i += v.used;
      tokens.push({ type: 'opt', spec, value: v.value, word: w });
      continue;
    }
    for (let k = 1; k < w.length; k++) {
      const spec = shortOption(w[k]);
      if (!spec) return { tokens: [...tokens, { type: 'error', word: w, message: BADOPT }], args };
      if (spec.arg === 'none') { tokens.push({ type: 'opt', spec, word: w }); continue; }
      const v = takeValue(spec, w.slice(k + 1), argv, i);
      if (!v) return { tokens: [...tokens, { type: 'error', word: w, message: NOARG }], args };
      i += v.used;
      tokens.push({ type: 'opt', spec, value: v.value, word: w });
      break;
    }
  }
  return { tokens, args };
}
