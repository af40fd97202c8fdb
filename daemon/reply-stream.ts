// A reply as the pieces it is written in. A listing (services, connections)
// is serialized a slice of entries at a time, so a million entries never
// become one string and the writer can wait for 'drain' and let other work
// run between pieces. The pieces joined are exactly JSON.stringify(reply) +
// '\n': the wire format does not change. Pure: no node: imports.
import type { Reply } from '../ipvsadm/protocol.js';

/**
 * A list produced a page at a time (a connection listing straight from the
 * core): streamed page by page, and serialized whole by JSON.stringify
 * (toJSON) where a caller wants the plain reply.
 */
export class PagedList<T> {
  constructor(readonly pages: () => Iterable<T[]>) {}
  toJSON(): T[] {
    const all: T[] = [];
    for (const p of this.pages()) for (const x of p) all.push(x);
    return all;
  }
}

/** Reply fields that can hold a long list; a reply has at most one of them. */
const LIST_KEYS = ['connections', 'services'] as const;
/** Lists up to this long go out as one piece. */
const SMALL_LIST = 256;
const MARK = '\u0000wasmvs-list\u0000';

/** The list a reply carries when it is long enough to stream (or paged), and its key. */
function longList(reply: Reply): { key: string; pages: Iterable<unknown[]> } | null {
  if (!reply.ok) return null;
  for (const key of LIST_KEYS) {
    const v = (reply as Record<string, unknown>)[key];
    if (v instanceof PagedList) return { key, pages: v.pages() };
    if (Array.isArray(v) && v.length > SMALL_LIST) return { key, pages: [v] };
  }
  return null;
}

/** True when `reply` goes out in more than one piece. */
export function isStreamed(reply: Reply): boolean {
  return longList(reply) !== null;
}

/**
 * The pieces of `reply`, each about `chunkBytes` characters (a single entry
 * may be longer). Entries per piece adapt to the size of the last piece.
 */
export function* replyPieces(reply: Reply, chunkBytes: number): Generator<string> {
  const list = longList(reply);
  if (list === null) {
    yield JSON.stringify(reply) + '\n';
    return;
  }
  // The reply with a marker in place of the list: its other fields, in their order, around it.
  const frame = JSON.stringify({ ...reply, [list.key]: MARK });
  const quoted = JSON.stringify(MARK);
  const at = frame.indexOf(quoted);
  let n = 64;
  let head = frame.slice(0, at) + '[';
  let first = true;
  for (const items of list.pages) {
    for (let i = 0; i < items.length;) {
      const end = Math.min(items.length, i + n);
      const body = JSON.stringify(items.slice(i, end));
      yield (first ? head : ',') + body.slice(1, -1);
      first = false;
      n = Math.max(1, Math.min(1 << 16, Math.floor(((end - i) * chunkBytes) / Math.max(1, body.length))));
      i = end;
    }
  }
  yield (first ? head : '') + ']' + frame.slice(at + quoted.length) + '\n';
}
