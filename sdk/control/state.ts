// The daemon's state file: ipvsadm -S rules (state form, see cli/save.ts),
// replaced atomically: write a temporary file, fsync it, rename it over the
// old one, fsync the directory. A crash leaves either the old or the new file.
import { openSync, writeSync, fsyncSync, closeSync, renameSync, readFileSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

export function writeStateFile(path: string, text: string): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
  const dfd = openSync(dir, 'r');
  try { fsyncSync(dfd); } finally { closeSync(dfd); }
}

/** The file's text, or null when it does not exist yet. */
export function readStateFile(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/**
 * The state file as a snapshot plus a journal: accepted changes are appended
 * (one fsync per request, before the reply) as the -R lines that replay them,
 * and the file is rewritten atomically from the live state once the journal
 * outgrows the snapshot. Replaying the file therefore always rebuilds the
 * acknowledged state; a torn last line (crash mid-append) was never acknowledged.
 */
export class StateStore {
  private snapshotLines = 0;
  private journalLines = 0;
  private compactPending = false;

  constructor(readonly path: string, private readonly render: () => string, private readonly minJournal = 4096) {}

  rewrite(): void {
    const text = this.render();
    writeStateFile(this.path, text);
    this.snapshotLines = countLines(text);
    this.journalLines = 0;
  }

  /**
   * The whole configuration is `head` (the timeouts line, if any) plus the
   * journal of changes applied to an empty one: write exactly that, atomically,
   * instead of appending a journal that outgrows the snapshot and rendering a
   * compaction after it (one write for a big -R into an empty daemon).
   */
  replace(head: string, journal: readonly string[]): void {
    const text = head + (journal.length ? journal.join('\n') + '\n' : '');
    writeStateFile(this.path, text);
    this.snapshotLines = countLines(text);
    this.journalLines = 0;
  }

  /** Record accepted changes; null journal = rewrite now. */
  record(journal: readonly string[] | null): void {
    if (journal === null) { this.rewrite(); return; }
    if (journal.length === 0) return;
    const fd = openSync(this.path, 'a', 0o600);
    try {
      writeSync(fd, journal.join('\n') + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.journalLines += journal.length;
    if (this.journalLines > Math.max(this.minJournal, this.snapshotLines) && !this.compactPending) {
      this.compactPending = true;
      // After the reply has gone out: compaction is housekeeping, not part of the change.
      setImmediate(() => { this.compactPending = false; this.rewrite(); });
    }
  }
}

function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
}
