// wasmvsd's side of --store etcd://HOST:PORT/PREFIX: what the etcd store
// applies goes to the live Director through the same commit path as a local
// request (state file, then the data path), with the etcd revision recorded
// in the state file so a restart resumes from it.
import type { Director } from '../sdk/director.js';
import type { ControlHandler } from './handler.js';
import { commitApply, type ServerHooks } from './server-core.js';
import type { ConfigCmd, CmdResult } from '../ipvsadm/protocol.js';
import type { EtcdStore } from './store-etcd.js';

export interface EtcdAttach {
  url: string;
  name?: string;
  mode: string;
  handler: ControlHandler;
  hooks: ServerHooks;
  newScratch(): Promise<Director>;
  /** The revision the state file recorded (0: none). */
  revision: number;
  /** Called before a revision's changes are persisted, so a whole rewrite of the state file records it. */
  setRevision(rev: number): void;
  /** The state file could not be written: its next write must be a whole rewrite. */
  markDirty(): void;
  log(message: string): void;
}

/** The state file's comment line that records the etcd revision it holds. */
export const revisionLine = (rev: number) => `# etcd revision ${rev}`;

/** The last revision a state file recorded, or 0. */
export function savedRevision(text: string | null): number {
  let rev = 0;
  for (const m of (text ?? '').matchAll(/^# etcd revision (\d+)$/gm)) rev = Number(m[1]);
  return rev;
}

/** Start following the etcd store; its writes and --directors are answered by it (hooks.take). */
export async function attachEtcd(a: EtcdAttach): Promise<EtcdStore> {
  // Imported here: etcd3 is an optional dependency, needed only with --store.
  const { openEtcdStore } = await import('./store-etcd.js').catch((e: unknown) => {
    throw new Error(`--store ${a.url}: the etcd3 package is not installed (npm install etcd3): ${e instanceof Error ? e.message : String(e)}`);
  });
  const describe = (c: ConfigCmd) => JSON.stringify(c);
  const applyLocal = (cmds: ConfigCmd[], rev: number) => {
    if (cmds.length === 0) return;
    const out = a.handler.apply(cmds, false);
    out.results.forEach((r, i) => { if (!r.ok) a.log(`etcd revision ${rev}: ${r.error.message} (${describe(cmds[i])})`); });
    if (rev) a.setRevision(rev);
    commitApply(out, {
      ...a.hooks,
      take: undefined,
      // etcd is the record: a local write failure is logged and the change kept.
      persist(journal, fresh) {
        try {
          a.hooks.persist?.(journal === null ? null : rev ? [...journal, revisionLine(rev)] : journal, fresh);
        } catch (e) {
          a.markDirty();
          a.log(`state file write failed (${(e as NodeJS.ErrnoException).code ?? String(e)}): etcd revision ${rev} is applied but not saved locally`);
        }
      },
    });
  };
  const store = await openEtcdStore({
    handler: a.handler, newScratch: a.newScratch, applyLocal, log: a.log,
    connections: () => a.handler.director.connectionCount(),
  }, { url: a.url, revision: a.revision, name: a.name, mode: a.mode });
  a.hooks.take = (req) => store.take(req);
  return store;
}

/**
 * SIGHUP's reload with --store: the difference from --config is a write like
 * any other, through etcd to every director (not applied here alone). The
 * data path's reload is synchronous: the changes are reported accepted for
 * writing and the outcome is logged when etcd answers.
 */
export function reloadThroughEtcd(store: EtcdStore, cmds: ConfigCmd[], log: (m: string) => void): CmdResult[] {
  if (cmds.length === 0) return [];
  void store.submit({ id: 0, op: 'apply', cmds, atomic: false }).then((r) => {
    if (!r.ok) { log(`SIGHUP: the reload's ${cmds.length} changes were not written to etcd: ${r.error.message}`); return; }
    const results = (r as { results?: CmdResult[] }).results ?? [];
    results.forEach((x, i) => { if (!x.ok) log(`SIGHUP: change refused: ${x.error.message} (${JSON.stringify(cmds[i])})`); });
    log(`SIGHUP: ${results.filter((x) => x.ok).length} of ${cmds.length} changes written to etcd`);
  });
  return cmds.map(() => ({ ok: true as const }));
}
