// Mutations of valid inputs for the fuzz suites: a valid request or rule
// line, changed a little, reaches deeper than random text does.
import fc from 'fast-check';

const SPECIAL = ['', ' ', '\n', '\r', '\t', '"', '\\', '{', '}', '[', ']', ',', ':', '-', '0', '-1', '1e309', '4294967296',
  'null', 'true', '\u0000', '\u2028', '\ud800', 'é', '::', '.', '/'];

/** The text with a few edits: characters replaced, inserted or deleted, a slice repeated or cut. */
export function mutatedText(text: string): fc.Arbitrary<string> {
  const edit = fc.tuple(fc.nat(), fc.nat({ max: 8 }), fc.constantFrom(...SPECIAL), fc.constantFrom('put', 'insert', 'delete', 'repeat', 'truncate'));
  return fc.array(edit, { minLength: 1, maxLength: 4 }).map((edits) => {
    let t = text;
    for (const [at, len, s, kind] of edits) {
      const i = t.length === 0 ? 0 : at % t.length;
      if (kind === 'put') t = t.slice(0, i) + s + t.slice(i + 1);
      else if (kind === 'insert') t = t.slice(0, i) + s + t.slice(i);
      else if (kind === 'delete') t = t.slice(0, i) + t.slice(i + len + 1);
      else if (kind === 'repeat') t = t.slice(0, i + len) + t.slice(i, i + len) + t.slice(i + len);
      else t = t.slice(0, i);
    }
    return t;
  });
}

/** Paths to every value inside `v` (objects and arrays). */
function paths(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) paths(x, [...at, Array.isArray(v) ? Number(k) : k], out);
  }
  return out;
}

const odd = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1.5, 2 ** 31, 2 ** 32, -(2 ** 53), Number.MAX_SAFE_INTEGER + 2, '', 'x', '198.18.0.1',
    '2001:db8::1', '[::1]:80', 'tcp', 'rr', 'masq', [], {}, [[]], { protocol: 'tcp' }),
  fc.anything({ maxDepth: 2 }),
);

/** `v` with one to three values inside replaced by odd ones, or deleted. */
export function mutatedValue(v: object): fc.Arbitrary<unknown> {
  const all = paths(v);
  return fc.array(fc.tuple(fc.nat({ max: all.length - 1 }), odd, fc.boolean()), { minLength: 1, maxLength: 3 }).map((edits) => {
    const copy = structuredClone(v) as Record<string | number, unknown>;
    let root: unknown = copy;
    for (const [p, value, remove] of edits) {
      const path = all[p];
      // Odd values may be shared constants: insert copies, so no edit can make a cycle.
      if (path.length === 0) { root = structuredClone(value); continue; }
      let o: unknown = root;
      for (const k of path.slice(0, -1)) o = o !== null && typeof o === 'object' ? (o as Record<string | number, unknown>)[k] : undefined;
      if (o === null || typeof o !== 'object') continue;
      const last = path[path.length - 1];
      if (remove) delete (o as Record<string | number, unknown>)[last];
      else (o as Record<string | number, unknown>)[last] = structuredClone(value);
    }
    return root;
  });
}
