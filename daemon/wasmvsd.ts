// The daemon behind wasmvsd: owns one Director, serves the control socket,
// keeps the state file, and runs the data path of its mode (proxy or gateway),
// which it gets from the program (cli/wasmvsd.ts) through the DataPath interface.
import { readFileSync, unlinkSync } from 'node:fs';
import { totalmem, hostname } from 'node:os';
import { Director } from '../sdk/director.js';
import { version } from '../sdk/core/abi.gen.js';
import type { CoreExports } from '../sdk/core/exports.js';
import { ControlHandler } from './handler.js';
import { listedChanges } from '../ipvsadm/packed-wire.js';
import { listenControl } from './server.js';
import { StateStore, readStateFile, completeLines } from './state.js';
import { commitApply, type ServerHooks } from './server-core.js';
import { socketPath, statePath } from './paths.js';
import { loadDataPath, noopDataPath, type DataPath, type DataPaths } from './datapath.js';
import type { DaemonArgs, Mode } from './options.js';
import { scanRestore } from '../ipvsadm/restore.js';
import { startSync } from './sync.js';
import { PackedWriter, PACKED_WORDS } from '../sdk/packed.js';
import { parseArgs } from '../ipvsadm/parse.js';
import type { ConfigCmd } from '../ipvsadm/protocol.js';
import { underNpmExec, watchLauncher } from './launcher.js';
import { explainStartError } from './install-hints.js';
import { attachEtcd, reloadThroughEtcd, revisionLine, savedRevision } from './store-live.js';

/** Membership name: the host, and the socket when it is not the default one. */
const defaultName = (socket?: string) => (socket ? `${hostname()}:${socket}` : hostname());

/**
 * The core's memory budget when --memory-limit is not given: a quarter of the machine's memory, at
 * most wasm's 4 GiB. A flood then meets counted refusals and the automatic defenses, not the OOM killer.
 */
export function defaultMemoryLimitMiB(totalBytes = totalmem()): number {
  return Math.max(64, Math.min(4095, Math.floor(totalBytes / 4 / 2 ** 20)));
}

const log = (m: string) => process.stderr.write(`wasmvsd: ${m}\n`);

function startError(e: unknown, mode: Mode): unknown {
  const clear = explainStartError(e, mode);
  return clear === null ? e : new Error(clear);
}

/**
 * Apply saved rules in line order; a bad line is reported and skipped. Lines
 * of the -R fast shape go in as packed records (a 10^5-line state file loads
 * in well under a second), the others through parseArgs.
 */
function load(handler: ControlHandler, text: string, origin: string): void {
  const packed = new PackedWriter();
  const slow = scanRestore(text, packed);
  const words = packed.words.subarray(0, packed.count * PACKED_WORDS);
  let sent = 0;
  const upTo = (at: number) => {
    if (at <= sent) return;
    const r = handler.applyPacked(words.subarray(sent * PACKED_WORDS, at * PACKED_WORDS), at - sent, false);
    r.failures.forEach((f) => log(`${origin}: ${f.error.message} (rule skipped)`));
    sent = at;
  };
  for (const l of slow) {
    upTo(l.at);
    let cmd: ConfigCmd | null = null;
    try {
      const { parsed } = parseArgs(l.argv, { inRestore: true });
      if (parsed.kind === 'apply') cmd = parsed.cmd;
    } catch (e) {
      log(`${origin}:${l.line}: ${e instanceof Error ? e.message : String(e)} (line skipped)`);
    }
    if (cmd === null) continue;
    const { results } = handler.apply([cmd], false);
    results.forEach((r) => { if (!r.ok) log(`${origin}: ${r.error.message} (rule skipped)`); });
  }
  upTo(packed.count);
}

/**
 * Runs the daemon in `args.mode` with that mode's data path from `dataPaths`
 * (cli/wasmvsd.ts builds both); resolves with the exit status once stopped.
 */
export async function runDaemon(args: DaemonArgs, dataPaths: DataPaths): Promise<number> {
  const sock = socketPath(args.socket);
  const stateFile = statePath(args.state);
  // The data path first: it may bring the core the director runs on (the proxy's native core, which its threads share).
  const dp: DataPath = (await loadDataPath(dataPaths, args.mode, {
    mode: args.mode, configFile: args.config, options: args.dataPathOptions, socket: sock, connSync: args.sync !== undefined, log,
    apply: (cmds) => apply(cmds),
  })
    .catch((e: unknown) => { throw startError(e, args.mode); })) ?? noopDataPath;
  const own = dp.coreExports?.() ?? null;
  const director = await Director.create({ connTabBits: args.connTabBits, ...(own ? { exports: own.exports as CoreExports, clock: own.clock } : {}) });
  const memoryLimitMiB = args.memoryLimitMiB ?? defaultMemoryLimitMiB();
  director.setOptions({ memoryLimit: memoryLimitMiB * 2 ** 20 });
  // Holds a copy of the configuration only while an atomic request is tried on it.
  const newScratch = () => Director.create({ seed: 1, connections: false });
  const scratch = await newScratch();
  // SIGHUP reloads: acknowledged only once durable, like a request on the socket.
  const apply = (cmds: ConfigCmd[]) => {
    // With --store the reload goes through etcd to every director.
    if (etcd) return reloadThroughEtcd(etcd, cmds, log);
    const r = handler.apply(cmds, false);
    const refused = commitApply(r, hooks);
    return refused ? cmds.map(() => ({ ok: false as const, error: refused })) : r.results;
  };
  const handler = new ControlHandler(director, {
    size: 2 ** args.connTabBits, mode: args.mode, dataPath: dp.name, abiVersion: version.ABI_VERSION,
    drain: dp.drain ? (req) => dp.drain!(req) : undefined, beforeRead: dp.beforeRead ? () => dp.beforeRead!() : undefined,
    beforeReadAsync: dp.beforeReadAsync ? () => dp.beforeReadAsync!() : undefined,
    scratch, renewScratch: newScratch,
  });
  const saved = readStateFile(stateFile);
  // With --store etcd: the state file also records the etcd revision it holds (a comment line).
  let etcdRevision = args.store && saved !== null ? savedRevision(completeLines(saved).text) : 0;
  const store = new StateStore(stateFile, () => handler.stateText() + (etcdRevision ? revisionLine(etcdRevision) + '\n' : ''), { log });
  if (saved !== null) {
    const { text, torn } = completeLines(saved);
    if (torn !== null) log(`${stateFile}: torn last line ignored (never acknowledged): ${JSON.stringify(torn.slice(0, 80))}`);
    load(handler, text, stateFile);
    if (args.config) log(`${stateFile}: restored; --config ${args.config} is not applied at start (delete the state file to start from it)`);
  } else if (args.config) load(handler, readFileSync(args.config, 'utf8'), args.config);
  try {
    store.rewrite();
  } catch (e) {
    // Serve anyway: every change is refused until the state file can be written again.
    store.markDirty();
    log(`cannot write the state file ${stateFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; changes are refused until it can be written`);
  }
  // Once per accepted request, however many commands it carried: the data path coalesces.
  const hooks: ServerHooks = {
    persist(journal, fresh) {
      if (fresh && journal !== null && journal.length > 64) store.replace(handler.stateHead(), journal);
      else store.record(journal);
    },
    changed: (journal) => dp.configChanged(listedChanges(journal)),
    log,
  };
  const etcd = args.store ? await attachEtcd({
    url: args.store, name: args.name ?? defaultName(args.socket), mode: args.mode, handler, hooks, newScratch, revision: etcdRevision,
    setRevision: (rev) => { etcdRevision = rev; }, markDirty: () => store.markDirty(), log,
  }) : null;
  // With --sync-*: a peer's connection snapshot is imported before the daemon is ready.
  const sync = await startSync(args.sync ?? {}, director, args.name ?? defaultName(args.socket), log, args.store);
  const server = await listenControl(sock, handler, hooks);
  try {
    await dp.start(director);
  } catch (e) {
    // Nothing is served: leave no socket behind for wasmvsadm to find.
    server.close();
    try { unlinkSync(sock); } catch { /* already gone */ }
    throw startError(e, args.mode);
  }
  if (dp === noopDataPath) log(`no ${args.mode} data path is installed in this build: rules are kept, no traffic is forwarded`);
  log(`${args.mode}: pid ${process.pid}, control socket ${sock}, state file ${stateFile}, ${director.services().length} services`);
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async (sig: string) => {
      if (stopping) return;
      stopping = true;
      log(`${sig}: shutting down`);
      // No new control clients from here (each one is closed at once), but the socket
      // stays bound until the data path has stopped: closing a Unix server unlinks its
      // path, and "socket gone" must mean the gateway's rules and sysctls are back.
      server.maxConnections = 0;
      await dp.stop(5000);
      await etcd?.close();
      await sync?.close();
      server.close();
      try { unlinkSync(sock); } catch { /* already gone */ }
      resolve(0);
    };
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));
    if (underNpmExec()) {
      watchLauncher((why) => {
        log(`${why}: stopping with it (npx forwards only SIGINT and SIGTERM; to reload, send SIGHUP to pid ${process.pid}, not to npx)`);
        void stop('launcher gone');
      });
    }
  });
}
