// The sysctls a gateway changed and the values they had before, kept in a
// small file beside the control socket. Chains, ip rules and routes are
// recognisable by their content (rules.ts, routes.ts); a sysctl is not: after
// a crash, ip_forward=1 looks like any other ip_forward=1. So the original
// value is written down (atomically, fsync'ed) before the first change, and
// the record removed once the values are back at a clean stop. The next start
// or `wasmvsd gateway --cleanup` restores whatever a run that died recorded.
// The file lives in the runtime directory (/run/wasmvs as root): sysctls do
// not survive a reboot, and neither does the record.
import { closeSync, fsyncSync, openSync, readFileSync, readlinkSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** The network namespace we run in (net:[inode]); '' where /proc cannot tell. */
export function currentNetns(): string {
  try { return readlinkSync('/proc/self/ns/net'); } catch { return ''; }
}

export interface RecordedSysctls {
  /** The namespace whose sysctls these are: another namespace's values are never written here. */
  netns: string;
  /**
   * /proc/sys path → its value before the gateway changed it; and `nft:FAMILY NAME` → `absent` for an
   * iptables-nft table (rules.ts BASE_TABLES) that did not exist before it started (removed again once empty).
   */
  sysctl: Record<string, string>;
}

/** The record's key of a table the gateway may have made (RecordedSysctls). */
export const TABLE_KEY = 'nft:';

/** Where the originals are kept; tests pass an in-memory one. */
export interface SysctlRecord {
  /** The record a previous run left, or null when there is none (or it cannot be read). */
  load(): RecordedSysctls | null;
  /** Durable before it returns: the caller changes the sysctls only after. */
  save(values: ReadonlyMap<string, string>): void;
  remove(): void;
  readonly where: string;
}

/** The record as a file: rewritten whole (temporary file, fsync, rename, fsync of the directory). */
export class SysctlRecordFile implements SysctlRecord {
  constructor(readonly where: string, private readonly netns = currentNetns()) {}

  load(): RecordedSysctls | null {
    let text: string;
    try { text = readFileSync(this.where, 'utf8'); } catch { return null; }
    try {
      const r = JSON.parse(text) as RecordedSysctls;
      if (typeof r.netns !== 'string' || typeof r.sysctl !== 'object' || r.sysctl === null) return null;
      return r;
    } catch {
      return null; // never complete: rename publishes whole files only, so this is not ours
    }
  }

  save(values: ReadonlyMap<string, string>): void {
    const body: RecordedSysctls = { netns: this.netns, sysctl: Object.fromEntries(values) };
    const tmp = `${this.where}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, `${JSON.stringify(body)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.where);
    syncDir(dirname(this.where));
  }

  remove(): void {
    try { unlinkSync(this.where); } catch { return; }
    syncDir(dirname(this.where));
  }
}

function syncDir(dir: string): void {
  let fd = -1;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch { /* some filesystems refuse a directory fsync; the rename is still atomic */ } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/**
 * Puts back the values a previous run recorded in this namespace and removes
 * the record. Returns what was restored as `name=value` (net.ipv4.ip_forward=0),
 * and the record's problems as messages. A record of another namespace (the
 * same runtime directory seen from two) is left alone.
 */
export function restoreRecorded(record: SysctlRecord, write: (path: string, value: string) => void, netns = currentNetns()):
  { restored: string[]; problems: string[]; tables: string[] } {
  const r = record.load();
  if (!r) return { restored: [], problems: [], tables: [] };
  if (r.netns !== netns) {
    return { restored: [], problems: [`${record.where}: recorded in network namespace ${r.netns || '(unknown)'}, not this one (${netns || 'unknown'}); not restored`], tables: [] };
  }
  const restored: string[] = [];
  const problems: string[] = [];
  // The tables that run made: the caller removes them once our chains are gone (rules.ts removeMadeTables).
  const tables: string[] = [];
  for (const [path, value] of Object.entries(r.sysctl)) {
    if (path.startsWith(TABLE_KEY)) {
      if (value === 'absent') tables.push(path.slice(TABLE_KEY.length));
      continue;
    }
    if (!path.startsWith('/proc/sys/')) { problems.push(`${record.where}: ${path} is not a sysctl; ignored`); continue; }
    try {
      write(path, value);
      restored.push(`${path.slice('/proc/sys/'.length).replace(/\//g, '.')}=${value}`);
    } catch (e) {
      problems.push(`cannot restore ${path} to ${value}: ${(e as Error).message}`);
    }
  }
  record.remove();
  return { restored, problems, tables };
}
