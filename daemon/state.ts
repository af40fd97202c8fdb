// The daemon's state file: ipvsadm -S rules (state form, see cli/save.ts),
// replaced atomically: write a temporary file whole, fsync it, rename it over
// the old one, fsync the directory. A crash leaves either the old or the new file.
import * as nodeFs from 'node:fs';
import { dirname, basename, join } from 'node:path';

/** The file operations the store uses: node:fs in production, a failing fake in unit tests. */
export type StateFs = Pick<typeof nodeFs, 'openSync' | 'writeSync' | 'fsyncSync' | 'closeSync' | 'renameSync'
  | 'unlinkSync' | 'mkdirSync' | 'fstatSync' | 'ftruncateSync'>;

const errno = (e: unknown): string => (e as NodeJS.ErrnoException)?.code ?? (e instanceof Error ? e.message : String(e));

/**
 * Write all of `text` at the file's position. writeSync may write less than
 * asked (a filling disk); loop until every byte is down. Each pass writes at
 * least one byte or throws, so there are at most `bytes.length` passes.
 */
function writeAll(fs: StateFs, fd: number, text: string): void {
  const bytes = Buffer.from(text, 'utf8');
  for (let off = 0; off < bytes.length;) {
    const n = fs.writeSync(fd, bytes, off, bytes.length - off);
    if (!(n > 0)) throw Object.assign(new Error('write made no progress'), { code: 'EIO' });
    off += n;
  }
}

/** Atomic replace. Throws when the new text is not known to be durable (the old file is then intact unless `renamed`). */
export function writeStateFile(path: string, text: string, fs: StateFs = nodeFs): void {
  const dir = dirname(path);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    writeAll(fs, fd, text);
    fs.fsyncSync(fd);
  } catch (e) {
    try { fs.closeSync(fd); } catch { /* the write error is the one to report */ }
    // Give the space back: a half-written temporary file must never be renamed.
    try { fs.unlinkSync(tmp); } catch { /* already gone */ }
    throw e;
  }
  fs.closeSync(fd);
  try {
    fs.renameSync(tmp, path);
  } catch (e) {
    try { fs.unlinkSync(tmp); } catch { /* already gone */ }
    throw e;
  }
  const dfd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(dfd);
  } catch (e) {
    throw Object.assign(e as Error, { renamed: true });
  } finally {
    fs.closeSync(dfd);
  }
}

/** The file's text, or null when it does not exist yet. */
export function readStateFile(path: string): string | null {
  try {
    return nodeFs.readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/**
 * The state file's complete lines. Every write ends with '\n', so a last line
 * without one was torn by a crash or a full disk mid-append and was never
 * acknowledged: it is dropped (and returned so the caller can log it); the
 * lines before it are kept.
 */
export function completeLines(text: string): { text: string; torn: string | null } {
  if (text === '' || text.endsWith('\n')) return { text, torn: null };
  const end = text.lastIndexOf('\n') + 1;
  return { text: text.slice(0, end), torn: text.slice(end) };
}

export interface StateStoreOptions {
  /** Journal lines allowed before compaction, at least (default 4096). */
  minJournal?: number;
  fs?: StateFs;
  log?(message: string): void;
}

/**
 * The state file as a snapshot plus a journal: accepted changes are appended
 * (one fsync per request, before the reply) as the -R lines that replay them,
 * and the file is rewritten atomically from the live state once the journal
 * outgrows the snapshot. Replaying the file therefore always rebuilds the
 * acknowledged state; a torn last line (crash mid-append) was never acknowledged.
 *
 * Every write either completes (all bytes, fsync) or throws with the file
 * holding exactly what it held before; the caller then refuses the change.
 * When that cannot be promised (a failed append could not be cut back, the
 * directory fsync after a rename failed) the store is `dirty`: its next write
 * rewrites the whole file from the live state instead of appending.
 * Compaction is housekeeping: its failures are logged and counted, never thrown.
 */
export class StateStore {
  private snapshotLines = 0;
  private journalLines = 0;
  private compactPending = false;
  /** Journal length at which a compaction that failed is tried again. */
  private retryAt = 0;
  private dirty = false;
  private readonly minJournal: number;
  private readonly fs: StateFs;
  private readonly log: (message: string) => void;
  /** Failed writes of accepted changes (each one refused), and failed compactions. */
  readonly failures = { writes: 0, compactions: 0 };

  constructor(readonly path: string, private readonly render: () => string, opts: StateStoreOptions = {}) {
    this.minJournal = opts.minJournal ?? 4096;
    this.fs = opts.fs ?? nodeFs;
    this.log = opts.log ?? (() => {});
  }

  /** The next write must replace the whole file (e.g. it ends in a torn line). */
  markDirty(): void { this.dirty = true; }

  rewrite(): void {
    this.writeWhole(this.render());
  }

  /**
   * The whole configuration is `head` (the timeouts line, if any) plus the
   * journal of changes applied to an empty one: write exactly that, atomically,
   * instead of appending a journal that outgrows the snapshot and rendering a
   * compaction after it (one write for a big -R into an empty daemon).
   */
  replace(head: string, journal: readonly string[]): void {
    this.writeWhole(head + (journal.length ? journal.join('\n') + '\n' : ''));
  }

  /** Record accepted changes; null journal = rewrite now. Throws when they are not durable. */
  record(journal: readonly string[] | null): void {
    if (journal === null || (this.dirty && journal.length)) { this.rewrite(); return; }
    if (journal.length === 0) return;
    this.append(journal.join('\n') + '\n');
    this.journalLines += journal.length;
    if (this.journalLines > Math.max(this.minJournal, this.snapshotLines, this.retryAt) && !this.compactPending) {
      this.compactPending = true;
      // After the reply has gone out: compaction is housekeeping, not part of the change.
      setImmediate(() => this.compact());
    }
  }

  /** Rewrite from the live state; on failure the journal stays valid and is compacted later. */
  compact(): void {
    this.compactPending = false;
    try {
      this.rewrite();
    } catch (e) {
      this.failures.compactions++;
      // Retry once the journal has grown by a quarter more: not on every change of a full disk.
      this.retryAt = this.journalLines + (this.journalLines >> 2);
      this.log(`state file compaction failed: ${errno(e)}; the journal is intact, retried after more changes`);
    }
  }

  private writeWhole(text: string): void {
    try {
      writeStateFile(this.path, text, this.fs);
    } catch (e) {
      this.failures.writes++;
      // Renamed but the directory fsync failed: the file may hold the new text or the old one.
      if ((e as { renamed?: boolean }).renamed) this.dirty = true;
      throw e;
    }
    this.snapshotLines = countLines(text);
    this.journalLines = 0;
    this.retryAt = 0;
    this.dirty = false;
  }

  private append(text: string): void {
    const fs = this.fs;
    const fd = fs.openSync(this.path, 'a', 0o600);
    try {
      const size = fs.fstatSync(fd).size;
      try {
        writeAll(fs, fd, text);
        fs.fsyncSync(fd);
      } catch (e) {
        this.failures.writes++;
        this.cutBack(fd, size);
        throw e;
      }
    } finally {
      // After a successful fsync the bytes are durable: a close error changes nothing.
      try { fs.closeSync(fd); } catch { /* see above */ }
    }
  }

  /** Remove a partial append, so the file again ends after its last acknowledged line. */
  private cutBack(fd: number, size: number): void {
    try {
      this.fs.ftruncateSync(fd, size);
      this.fs.fsyncSync(fd);
    } catch (e) {
      this.dirty = true;
      this.log(`state file: cannot remove a partial write (${errno(e)}); the next change rewrites the file`);
    }
  }
}

function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
}
