// wasmvsd --store etcd://HOST:PORT/PREFIX: the configuration lives in etcd
// (layout: etcd-config.ts, docs/many-directors.md). A write is checked on a
// scratch copy, turned into key changes and committed as one etcd
// transaction; every director (the writer included) applies changes from its
// watch of PREFIX/config/, and the local state file keeps the last applied
// configuration and its revision, so a director serves it while etcd is away
// and resumes from that revision when it comes back.
// Loaded only with --store (the etcd3 client is an optional dependency).
import { hostname } from 'node:os';
import { Etcd3, type Watcher, type Lease, type IKeyValue, type IRequestOp } from 'etcd3';
import type { Director } from '../sdk/director.js';
import { WasmvsError } from '../sdk/errors.js';
import { PACKED_WORDS } from '../sdk/packed.js';
import { ControlHandler, errorInfo } from './handler.js';
import { copyConfig, keyOf, optionsOf, destOptionsOf } from '../sdk/commands.js';
import { decodePacked } from '../ipvsadm/packed-wire.js';
import type { ConfigCmd, Reply, Request, DirectorEntry } from '../ipvsadm/protocol.js';
import { CONFIG, DIRECTORS, WRITE, isDestKey, serviceOfDest, layoutOf, layoutPart, serviceKey, diffLayouts, layoutCmds, type Layout } from './etcd-config.js';

/** Key changes in one transaction besides the write marker (etcd's default --max-txn-ops is 128). */
export const CHUNK_OPS = 126;
/** Bytes of keys and values in one transaction (etcd's default --max-request-bytes is 1.5 MiB). */
export const CHUNK_BYTES = 1 << 20;
/** How long a write waits for etcd before it is refused (ms). */
const WRITE_DEADLINE_MS = 3000;
/** Membership: lease TTL (s) and how often a director refreshes its entry (ms). */
const LEASE_TTL = 10;
const BEAT_MS = 2000;
/** Tries of a write that finds another director's write in its way. */
const WRITE_TRIES = 20;
/** How long a writer waits for its own watch to apply what it wrote before replying (ms). */
const APPLY_WAIT_MS = 5000;

export interface EtcdUrl { hosts: string[]; prefix: string }

/** etcd://HOST:PORT[,HOST:PORT…]/PREFIX → hosts and a prefix ending in '/'. */
export function parseEtcdUrl(url: string): EtcdUrl | string {
  const m = /^etcd:\/\/([^/]+)(\/.*)?$/.exec(url);
  if (!m) return `--store ${url}: expected etcd://HOST:PORT/PREFIX`;
  const hosts = m[1].split(',');
  for (const h of hosts) if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(h)) return `--store ${url}: bad host:port ${JSON.stringify(h)}`;
  let prefix = m[2] ?? '/wasmvs/';
  if (prefix === '/') return `--store ${url}: a prefix is required (etcd://HOST:PORT/PREFIX)`;
  if (!prefix.endsWith('/')) prefix += '/';
  return { hosts: hosts.map((h) => `http://${h}`), prefix };
}

export class StoreError extends WasmvsError {
  constructor(message: string) { super('ESTORE', message); }
}

export interface EtcdHost {
  /** The live configuration. */
  handler: ControlHandler;
  /** A fresh Director without connections, for checking a write. */
  newScratch(): Promise<Director>;
  /** Apply commands that came from etcd at `revision` to the live Director (persisted with the revision, data path told). */
  applyLocal(cmds: ConfigCmd[], revision: number): void;
  /** This director's connection count, for the membership entry. */
  connections(): number;
  log(message: string): void;
}

export interface EtcdStoreOptions {
  url: string;
  /** Revision the local state file says it holds (0: load everything). */
  revision: number;
  /** Membership name (default: host name, plus the socket path when it is not the default). */
  name?: string;
  mode: string;
}

type ApplyReq = Extract<Request, { op: 'apply' }>;
const enc = (s: string) => Buffer.from(s, 'utf8');
const rangeEnd = (prefix: string) => {
  const b = enc(prefix);
  b[b.length - 1]++;
  return b;
};
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class EtcdStore {
  /** The last revision of PREFIX/config/ applied to the live Director. */
  revision: number;
  private mirror: Layout | null = null;
  private readonly client: Etcd3;
  private readonly prefix: string;
  private readonly where: string;
  private watcher: Watcher | null = null;
  private lease: Lease | null = null;
  private beatTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private resyncing = false;
  private reachable = true;
  private writes: Promise<unknown> = Promise.resolve();
  /** The scratch Director of small writes, reused (cleared each time: it holds a few services). */
  private small: Director | null = null;
  private waiters: { rev: number; resolve: () => void }[] = [];
  readonly name: string;
  private readonly since = new Date().toISOString();

  constructor(private readonly host: EtcdHost, private readonly opts: EtcdStoreOptions, url: EtcdUrl) {
    // No circuit breaker per host (etcd3's default keeps a host shut for 5 s after 3 failures):
    // a director must notice at once that etcd is back. Calls are bounded by their deadlines.
    const passThrough = { execute: async <T>(fn: (ctx: { signal: AbortSignal }) => Promise<T>) => fn({ signal: new AbortController().signal }) };
    this.client = new Etcd3({ hosts: url.hosts, dialTimeout: 2000, faultHandling: { host: () => passThrough as never } });
    this.prefix = url.prefix;
    this.where = url.hosts.map((h) => h.replace('http://', '')).join(',');
    this.revision = opts.revision;
    this.name = opts.name ?? hostname();
  }

  /** Connect and follow PREFIX/config/. Never throws for an unreachable etcd: the local configuration is served meanwhile. */
  async start(): Promise<void> {
    if (this.revision > 0) {
      // Resume: the live Director holds what the state file recorded at `revision`.
      this.mirror = layoutOf(this.host.handler.director);
      let current = -1;
      try {
        current = Number((await this.client.kv.range({ key: enc(this.prefix + WRITE) }, { deadline: Date.now() + WRITE_DEADLINE_MS })).header.revision);
      } catch (e) {
        this.host.log(`etcd at ${this.where} unreachable (${this.why(e)}): serving the local configuration of revision ${this.revision}`);
      }
      // etcd holds less history than we applied: it was reset; take its configuration whole.
      if (current >= 0 && current < this.revision) { await this.resync('etcd revision is behind the state file', true); }
      else {
        this.host.log(`etcd ${this.where}: following changes after revision ${this.revision} (the state file's)`);
        this.watchFrom(this.revision + 1);
      }
    } else {
      // The first load is waited for a little; an unreachable etcd does not keep the daemon from serving.
      await Promise.race([this.resync('no revision in the state file', true), sleep(5000)]);
    }
    this.beat();
  }

  private why(e: unknown): string {
    // grpc's messages run on ("… Last error: … Resolution note: …"): the first sentence says it.
    return (e instanceof Error ? e.message : String(e)).split('\n')[0].replace(/\. Last error:.*$/, '').replace(/^\d+ /, '');
  }

  /** Load PREFIX/config/ whole at one revision, make the live Director match it, then follow changes. Retries until it succeeds. */
  private async resync(reason: string, seed = false): Promise<void> {
    if (this.resyncing || this.closed) return;
    this.resyncing = true;
    if (this.watcher) { const w = this.watcher; this.watcher = null; void w.cancel().catch(() => {}); }
    try {
      for (let attempt = 0; !this.closed; attempt++) {
        try {
          const { layout, revision, written } = await this.loadAll();
          const from = layoutOf(this.host.handler.director);
          // First start with --store: a prefix nobody ever wrote takes this director's configuration
          // (its state file's) rather than emptying it; if another director seeds first, its wins.
          if (seed && !written && layout.size === 0 && from.size > 0) {
            seed = false;
            try {
              // Rank by rank (services, then each one's first server, second…): the servers' creation
              // revisions then give every director this director's list order.
              const ranks: [string, string][][] = [];
              const seen = new Map<string, number>();
              for (const [k, e] of from) {
                const r = isDestKey(k) ? (seen.get(serviceOfDest(k)) ?? 0) + 1 : 0;
                if (isDestKey(k)) seen.set(serviceOfDest(k), r);
                (ranks[r] ??= []).push([k, e.value]);
              }
              let last = 0;
              for (const puts of ranks) if (puts) ({ last } = await this.commit({ puts, deletes: [], rangeDeletes: [] }, last));
              this.host.log(`etcd ${this.where}: ${this.prefix} was empty: seeded with the local configuration (${from.size} keys) up to revision ${last}`);
            } catch (e) {
              if (!(e instanceof Conflict)) throw e;
            }
            continue;
          }
          const cmds = layoutCmds(from, layout, (k, why) => this.host.log(`etcd ${this.prefix}${k}: ${why} (ignored)`));
          this.host.applyLocal(cmds, revision);
          this.mirror = layout;
          this.host.log(`etcd ${this.where}: configuration loaded at revision ${revision} (${reason}; ${cmds.length} changes)`);
          this.applied(revision);
          this.watchFrom(revision + 1);
          return;
        } catch (e) {
          if (attempt === 0) this.host.log(`etcd at ${this.where} unreachable (${this.why(e)}): serving the local configuration; retrying`);
          await sleep(Math.min(1000 * (attempt + 1), 5000));
        }
      }
    } finally {
      this.resyncing = false;
    }
  }

  /** Everything under PREFIX/config/ at one revision, in pages (a reply is limited to 4 MiB). */
  private async loadAll(): Promise<{ layout: Layout; revision: number; written: boolean }> {
    const layout: Layout = new Map();
    const base = this.prefix + CONFIG;
    const end = rangeEnd(base);
    let key = enc(base);
    let revision = 0;
    for (;;) {
      const res = await this.client.kv.range({ key, range_end: end, limit: 5000, ...(revision ? { revision } : {}) },
        { deadline: Date.now() + 10000 });
      if (!revision) revision = Number(res.header.revision);
      for (const kv of res.kvs) layout.set(kv.key.toString('utf8').slice(this.prefix.length), { value: kv.value.toString('utf8'), create: Number(kv.create_revision) });
      if (!res.more || res.kvs.length === 0) break;
      key = Buffer.concat([res.kvs[res.kvs.length - 1].key, Buffer.from([0])]);
    }
    const written = layout.delete(WRITE);
    return { layout, revision, written };
  }

  private watchFrom(rev: number): void {
    if (this.closed) return;
    const w = this.client.watch().prefix(this.prefix + CONFIG).startRevision(String(rev)).watcher();
    this.watcher = w;
    w.on('data', (res) => { if (this.watcher === w) this.onEvents(res.events.map((e) => ({ type: e.type, kv: e.kv }))); });
    w.on('disconnected', (e) => {
      if (this.reachable) this.host.log(`etcd at ${this.where} unreachable (${this.why(e)}): serving the configuration of revision ${this.revision}`);
      this.reachable = false;
    });
    w.on('connected', () => {
      if (!this.reachable) this.host.log(`etcd at ${this.where} reachable again: following changes after revision ${this.revision}`);
      this.reachable = true;
    });
    // Canceled by etcd (e.g. the revision was compacted): load everything again.
    w.on('error', (e) => { if (this.watcher === w) void this.resync(`watch ended: ${this.why(e)}`); });
  }

  /** Apply watch events, one revision (one transaction) at a time. */
  private onEvents(events: { type: string | number; kv: IKeyValue }[]): void {
    const mirror = this.mirror;
    if (!mirror) return;
    for (let i = 0; i < events.length;) {
      const rev = Number(events[i].kv.mod_revision);
      const from: Layout = new Map();
      const to: Layout = new Map();
      for (; i < events.length && Number(events[i].kv.mod_revision) === rev; i++) {
        const { type, kv } = events[i];
        const k = kv.key.toString('utf8').slice(this.prefix.length);
        if (k === WRITE) continue;
        if (!from.has(k) && !to.has(k)) { const old = mirror.get(k); if (old) from.set(k, old); }
        if (type === 'Put' || type === 0) to.set(k, { value: kv.value.toString('utf8'), create: Number(kv.create_revision) });
        else to.delete(k);
      }
      if (rev <= this.revision) continue; // already applied (a resumed watch may repeat)
      const cmds = layoutCmds(from, to, (k, why) => this.host.log(`etcd ${this.prefix}${k}: ${why} (ignored)`));
      for (const k of from.keys()) if (!to.has(k)) mirror.delete(k);
      for (const [k, e] of to) mirror.set(k, e);
      this.host.applyLocal(cmds, rev);
      this.applied(rev);
    }
  }

  private applied(rev: number): void {
    if (rev > this.revision) this.nudge();
    this.revision = Math.max(this.revision, rev);
    const ready = this.waiters.filter((w) => w.rev <= this.revision);
    this.waiters = this.waiters.filter((w) => w.rev > this.revision);
    for (const w of ready) w.resolve();
  }

  /** Resolves once `rev` is applied or after `ms` (false). */
  private waitApplied(rev: number, ms: number): Promise<boolean> {
    if (this.revision >= rev) return Promise.resolve(true);
    return new Promise((resolve) => {
      const w = { rev, resolve: () => { clearTimeout(t); resolve(true); } };
      const t = setTimeout(() => { this.waiters = this.waiters.filter((x) => x !== w); resolve(false); }, ms);
      this.waiters.push(w);
    });
  }

  /** A write request, answered once committed to etcd and applied here; one at a time per director. */
  submit(req: ApplyReq): Promise<Reply> {
    const run = this.writes.then(() => this.write(req));
    this.writes = run.catch(() => {});
    return run;
  }

  private async write(req: ApplyReq): Promise<Reply> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.tryWrite(req);
      } catch (e) {
        if (!(e instanceof Conflict) || attempt === WRITE_TRIES) {
          return { id: req.id, ok: false, error: errorInfo(e instanceof Conflict ? new StoreError(`wasmvsd: the configuration in etcd kept changing under this write (${attempt} tries); nothing was changed, try again`) : e) };
        }
        await this.waitApplied(e.revision, 2000);
      }
    }
  }

  private async tryWrite(req: ApplyReq): Promise<Reply> {
    if (!this.mirror) throw new StoreError(`wasmvsd: etcd at ${this.where} unreachable since this director started: the configuration cannot be changed (directors keep serving the last one)`);
    const live = this.host.handler.director;
    // Commands that name their services (no -C, no packed -R) are checked on a copy of those services only,
    // and only their keys are compared: a write costs what it touches, not the size of the configuration.
    const named = req.packed === undefined && req.cmds.every((c) => c.op !== 'flush') ? req.cmds.flatMap((c) => ('svc' in c && c.svc ? [c.svc] : [])) : null;
    const scratch = named ? (this.small ??= await this.host.newScratch()) : await this.host.newScratch();
    // No await from here to the first transaction: the copy, the mirror and `base` are of one revision.
    const base = this.revision;
    // Each service once, however many commands name it.
    const once = <T extends { id: number }>(xs: T[]) => [...new Map(xs.map((x) => [x.id, x])).values()];
    const before = named ? once(named.flatMap((k) => { try { return [live.service(k)]; } catch { return []; } })) : null;
    if (before) {
      scratch.clear();
      for (const s of before) {
        const k = keyOf(s);
        scratch.addService(k, optionsOf(s));
        for (const dest of live.dests(k).reverse()) scratch.addDest(k, destOptionsOf(dest));
      }
      scratch.setTimeouts(live.timeouts());
    } else copyConfig(live, scratch);
    const o = this.host.handler.opts;
    const check = new ControlHandler(scratch, { size: o.size, mode: o.mode, dataPath: o.dataPath, abiVersion: o.abiVersion });
    let body: Record<string, unknown>;
    let zero: ConfigCmd[] = [];
    if (req.packed !== undefined) {
      const words = decodePacked(req.packed);
      if (words === null || words.length !== req.count * PACKED_WORDS) throw new WasmvsError('EBADREQUEST', 'wasmvsd: packed records do not match their count');
      const r = check.applyPacked(words, req.count, req.atomic === true);
      body = r.rolledBack ? { done: r.done, failures: r.failures, rolledBack: true } : { done: r.done, failures: r.failures };
    } else {
      const r = check.apply(req.cmds, req.atomic === true);
      body = r.rolledBack ? { results: r.results, rolledBack: true } : { results: r.results };
      // Counters are each director's own: -Z is applied here, not stored.
      if (!r.rolledBack) zero = req.cmds.filter((c, i) => c.op === 'zero' && r.results[i].ok);
    }
    let diff;
    if (named && before) {
      const after = once(named.flatMap((k) => { try { return [scratch.service(k)]; } catch { return []; } }));
      const keys = new Set([...before, ...after].map(serviceKey));
      diff = diffLayouts(layoutPart(this.mirror, keys), layoutOf(scratch, after));
    } else diff = diffLayouts(this.mirror, layoutOf(scratch));
    const { parts, last } = await this.commit(diff, base);
    if (parts && !(await this.waitApplied(last, APPLY_WAIT_MS))) {
      this.host.log(`etcd: revision ${last} written but not applied here after ${APPLY_WAIT_MS} ms`);
    }
    if (zero.length) this.host.applyLocal(zero, 0);
    return { id: req.id, ok: true, ...body } as Reply;
  }

  /**
   * Write key changes as one transaction, or in ordered chunks (docs/many-directors.md), if nothing
   * was written since revision `base`; Conflict when something was. Returns the last revision.
   */
  private async commit(diff: ReturnType<typeof diffLayouts>, base: number): Promise<{ parts: number; last: number }> {
    const chunks = this.chunks(diff);
    let last = base;
    for (let i = 0; i < chunks.length; i++) {
      const marker: IRequestOp = { request_put: { key: enc(this.prefix + WRITE), value: enc(JSON.stringify({ by: this.name, at: new Date().toISOString(), part: [i + 1, chunks.length] })) } };
      // First chunk: nobody wrote since the revision this copy was made from. Later ones: nobody since the previous chunk.
      const compare = i === 0
        ? { key: enc(this.prefix + WRITE), target: 'Mod' as const, result: 'Less' as const, mod_revision: base + 1 }
        : { key: enc(this.prefix + WRITE), target: 'Mod' as const, result: 'Equal' as const, mod_revision: last };
      let res;
      try {
        res = await this.client.kv.txn({ compare: [compare], success: [...chunks[i], marker], failure: [{ request_range: { key: enc(this.prefix + WRITE) } }] },
          { deadline: Date.now() + WRITE_DEADLINE_MS });
      } catch (e) {
        const done = i === 0 ? 'nothing was changed' : `${i} of ${chunks.length} parts were written and are applied (see docs/many-directors.md)`;
        throw new StoreError(`wasmvsd: etcd at ${this.where} unreachable (${this.why(e)}): ${done}; directors keep serving the last configuration`);
      }
      if (!res.succeeded) {
        const other = Number(res.responses[0]?.response_range?.kvs?.[0]?.mod_revision ?? 0);
        if (i === 0) throw new Conflict(other);
        throw new StoreError(`wasmvsd: another write reached etcd between parts of this one: ${i} of ${chunks.length} parts were written`);
      }
      last = Number(res.header.revision);
    }
    return { parts: chunks.length, last };
  }

  /** Key changes in transactions of at most CHUNK_OPS operations and CHUNK_BYTES bytes, deletes first. */
  private chunks(diff: ReturnType<typeof diffLayouts>): IRequestOp[][] {
    const ops: [IRequestOp, number][] = [];
    for (const k of diff.rangeDeletes) ops.push([{ request_delete_range: { key: enc(this.prefix + k), range_end: rangeEnd(this.prefix + k) } }, k.length]);
    for (const k of diff.deletes) ops.push([{ request_delete_range: { key: enc(this.prefix + k) } }, k.length]);
    for (const [k, v] of diff.puts) ops.push([{ request_put: { key: enc(this.prefix + k), value: enc(v) } }, k.length + v.length]);
    const out: IRequestOp[][] = [];
    let cur: IRequestOp[] = [];
    let bytes = 0;
    for (const [op, n] of ops) {
      if (cur.length >= CHUNK_OPS || (cur.length && bytes + n > CHUNK_BYTES)) { out.push(cur); cur = []; bytes = 0; }
      cur.push(op);
      bytes += n + this.prefix.length;
    }
    if (cur.length) out.push(cur);
    return out;
  }

  // --- membership ---------------------------------------------------------------

  private entry(): DirectorEntry {
    return { name: this.name, pid: process.pid, host: hostname(), mode: this.opts.mode, revision: this.revision,
      connections: this.host.connections(), since: this.since, updated: new Date().toISOString() };
  }

  /** Refresh the membership entry soon (a new revision applied), not only on the next beat. */
  private nudge(): void {
    if (this.beatTimer === null || this.closed) return;
    clearTimeout(this.beatTimer);
    this.beatTimer = setTimeout(() => this.beat(), 50);
  }

  /** Refresh this director's leased entry; a lost lease (etcd away longer than its TTL) is granted again. */
  private beat(): void {
    this.beatTimer = null;
    if (this.closed) return;
    const lease = this.lease && !this.lease.revoked() ? this.lease : this.newLease();
    lease.put(this.prefix + DIRECTORS + this.name).value(JSON.stringify(this.entry())).options({ deadline: Date.now() + WRITE_DEADLINE_MS })
      .then(() => {}, () => { /* unreachable: logged by the watch */ })
      .finally(() => { if (!this.closed) this.beatTimer = setTimeout(() => this.beat(), BEAT_MS); });
  }

  private newLease(): Lease {
    const lease = this.client.lease(LEASE_TTL, { autoKeepAlive: true });
    lease.on('lost', () => { if (this.lease === lease) this.lease = null; });
    lease.grant().catch(() => {});
    this.lease = lease;
    return lease;
  }

  /** The directors alive (their lease holds), and the revision of the newest configuration change. */
  async directors(id: number): Promise<Reply> {
    try {
      const deadline = Date.now() + WRITE_DEADLINE_MS;
      const [res, newest] = await Promise.all([
        this.client.kv.range({ key: enc(this.prefix + DIRECTORS), range_end: rangeEnd(this.prefix + DIRECTORS) }, { deadline }),
        // The key changed last under config/ (every write puts config/write): its mod revision.
        this.client.kv.range({ key: enc(this.prefix + CONFIG), range_end: rangeEnd(this.prefix + CONFIG), sort_target: 'Mod', sort_order: 'Descend', limit: 1, keys_only: true }, { deadline }),
      ]);
      const list: DirectorEntry[] = [];
      for (const kv of res.kvs) {
        try { list.push(JSON.parse(kv.value.toString('utf8')) as DirectorEntry); } catch { /* not ours */ }
      }
      return { id, ok: true, directors: list, revision: Number(newest.kvs[0]?.mod_revision ?? 0) };
    } catch (e) {
      return { id, ok: false, error: errorInfo(new StoreError(`wasmvsd: etcd at ${this.where} unreachable (${this.why(e)}): membership unknown`)) };
    }
  }

  /** Take requests this store answers itself (writes, the directors listing); null = the handler's. */
  take(req: Request): Promise<Reply> | null {
    if (req.op === 'apply') return this.submit(req);
    if (req.op === 'directors') return this.directors(req.id);
    return null;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.beatTimer) clearTimeout(this.beatTimer);
    for (const w of this.waiters) w.resolve();
    const lease = this.lease;
    try { await this.watcher?.cancel(); } catch { /* closing anyway */ }
    // Leave the membership at once rather than after the TTL.
    try { if (lease) await Promise.race([lease.revoke(), sleep(1000)]); } catch { /* expires */ }
    this.client.close();
  }
}

class Conflict extends Error {
  constructor(readonly revision: number) { super('conflict'); }
}

/** An EtcdStore for `opts.url`, started (an unreachable etcd does not stop it). */
export async function openEtcdStore(host: EtcdHost, opts: EtcdStoreOptions): Promise<EtcdStore> {
  const url = parseEtcdUrl(opts.url);
  if (typeof url === 'string') throw new Error(url);
  const store = new EtcdStore(host, opts, url);
  await store.start();
  return store;
}
