// The proxy as wasmvsd's 'proxy' data path (createDataPath, loaded by
// cli/wasmvsd.ts in proxy mode), with the daemon behaviour that belongs to it: SIGHUP re-reads --config (rules and
// `# wasmvs-proxy` settings) and applies only the difference.
import { readFileSync } from 'node:fs';
import type { DataPathContext, DataPath, DataPathFactory } from '../../daemon/datapath.js';
import { ControlHandler } from '../../daemon/handler.js';
import type { Director } from '../../sdk/director.js';
import { ProxyDataPath } from './proxy.js';
import { wantedState, configDiff } from '../../daemon/reload.js';
import { drainRequest } from '../../daemon/drain-control.js';
import { parseWorkers } from '../../daemon/workers-option.js';
import type { DrainRequest, DrainInfo } from '../../ipvsadm/protocol.js';
import { proxyArgs, parseEngineMode, parseNativeCore } from './options.js';
import { loadNativeCore, type NativeCore } from '../../native/addon.js';
import { svcKeyText } from '../../daemon/settings.js';
import type { ListenerOp } from './listeners.js';

class DaemonProxy implements DataPath {
  readonly name = 'proxy';
  readonly proxy: ProxyDataPath;
  private director: Director | null = null;
  private readonly onHup = () => void this.reload();

  /** The native core the director runs on when the engine's threads decide (coreExports). */
  private readonly native: NativeCore | null = null;

  constructor(private readonly ctx: DataPathContext) {
    const { splice, workers, engine, nativeCore } = proxyArgs(ctx.options ?? {});
    const pumps = workers ?? envWorkers();
    const mode = engine ?? parseEngineMode(process.env.WASMVS_ENGINE, 'WASMVS_ENGINE');
    // --native-core (default $WASMVS_NATIVE_CORE, else on with two pumps or more): with the native engine the
    // director runs on the addon's native core, and every pump decides the clients it accepts there and gives
    // the table their state changes as they happen (docs/proxy.md "The native engine"). With one pump it
    // measured no faster than the main thread deciding (bench/proxy/REPORT.md, 2026-12-07), so it is off there.
    const asked = nativeCore ?? parseNativeCore(process.env.WASMVS_NATIVE_CORE);
    let without: string | null = null;
    if (mode !== 'js' && (asked ?? pumps > 1)) {
      const n = loadNativeCore();
      if (n.exports !== null) this.native = n;
      else without = n.why;
    }
    this.proxy = new ProxyDataPath({ configFile: ctx.configFile, splice, workers: pumps, engine, nativeCore: this.native?.core });
    if (without !== null) {
      const m = `engine: no native core (${without}): the main thread decides every connection on the WebAssembly core`;
      if (asked) this.proxy.log.warn(`--native-core on, but ${m}`);
      else this.proxy.log.info(m);
    }
  }

  /** The core the daemon's director should run on: the native one the engine's threads share, or null (the WebAssembly core). */
  coreExports(): { exports: object; clock: () => number } | null {
    return this.native === null ? null : { exports: this.native.exports, clock: () => performance.now() / 1000 };
  }

  async start(director: Director): Promise<void> {
    this.director = director;
    await this.proxy.start(director);
    process.on('SIGHUP', this.onHup);
  }

  /**
   * A change that adds or deletes services replies once their listeners are open or closed: after
   * `wasmvsadm -A` returns, a client reaches the service, as after `ipvsadm -A`; after `-D` it is
   * refused. Real-server changes reply at once (their listener sync follows within SYNC_DELAY_MS),
   * and so does a change too big to list (null: a -R of more than 4,096 lines), whose
   * listeners follow: 20,000 of them take ~0.65 s here, which would triple a big -R's answer.
   */
  configChanged(journal?: string[] | null): Promise<void> | void {
    this.proxy.logChanges(journal);
    this.proxy.configChanged();
    if (!journal?.some(opensOrCloses)) return;
    // -A and -D name their services: those listeners alone, at once (no pass over 20,000 services
    // before the answer); a -C, or a line not read here, waits for a whole sync, now.
    const ops = listenerOps(journal);
    return ops === null ? this.proxy.sync() : this.proxy.listenersFollow(ops);
  }

  /** SIGHUP: settings first (they may name new services), then the rules' difference. */
  async reload(): Promise<void> {
    const file = this.ctx.configFile;
    const log = this.proxy.log;
    if (!file || !this.director) { log.warn('SIGHUP: no --config file to re-read'); return; }
    try {
      const text = readFileSync(file, 'utf8');
      this.proxy.applySettings(this.proxy.loadSettings());
      const wanted = await wantedState(text, file);
      for (const e of wanted.errors) log.error(`${e} (skipped)`);
      const handler = new ControlHandler(this.director, { size: 0, mode: 'proxy', dataPath: 'proxy', abiVersion: 0 });
      let timeouts = null;
      try { timeouts = handler.timeouts(); } catch { timeouts = null; }
      const cmds = configDiff(handler.list(), timeouts, wanted);
      const results = this.ctx.apply ? this.ctx.apply(cmds) : handler.apply(cmds, false).results;
      // Accepted changes are logged from wasmvsd's journal (configChanged); here only what it refused.
      results.forEach((r, i) => {
        if (!r.ok) log.error({ change: cmds[i] }, `config change refused: ${r.error.message}`);
        else if (!this.ctx.apply) log.info({ change: cmds[i] }, 'config change');
      });
      log.info({ file, changes: cmds.length }, 'SIGHUP: configuration reloaded');
      // Without ctx.apply nobody else tells the proxy; with it configChanged already ran.
      if (!this.ctx.apply) this.proxy.configChanged();
      else await this.proxy.sync();
    } catch (e) {
      log.error(`SIGHUP: cannot reload ${file}: ${(e as Error).message}`);
    }
  }

  drain(req: DrainRequest): DrainInfo[] {
    return drainRequest(this.proxy, req);
  }

  /** A listing shows what the engine's sockets did up to now (its held-back events delivered first). */
  beforeRead(): void {
    this.proxy.engine?.flush();
  }

  async stop(deadlineMs: number): Promise<void> {
    process.off('SIGHUP', this.onHup);
    await this.proxy.stop(deadlineMs);
  }
}

/** A journal line (daemon/journal.ts) that opens or closes listeners: -A, -D, -C. */
const opensOrCloses = (line: string) => line.startsWith('-A ') || line.startsWith('-D ') || line === '-C';

/** -A/-D of a TCP or UDP service as the journal writes it (ipvsadm/save.ts ruleService, numeric). */
const SERVICE_LINE = /^-([AD]) -([tu]) (?:\[([0-9a-f:.]+)\]|([0-9.]+)):(\d+)(?: |$)/;
/** -A/-D of a fwmark or SCTP service: no listener. */
const UNLISTENED_LINE = /^-[AD] (?:-f|--sctp-service) /;

/**
 * The listener changes a journal's -A and -D lines make, in order; null when one of them cannot be
 * read this way or the journal has a -C (the caller then waits for the whole sync). -A/-D of fwmark
 * and SCTP services open nothing (the proxy does not listen for them).
 */
export function listenerOps(journal: readonly string[]): ListenerOp[] | null {
  const ops: ListenerOp[] = [];
  for (const line of journal) {
    if (line === '-C') return null;
    if (!opensOrCloses(line) || UNLISTENED_LINE.test(line)) continue;
    const m = SERVICE_LINE.exec(line);
    if (m === null) return null;
    const protocol = m[2] === 't' ? 'tcp' : 'udp';
    const address = m[3] ?? m[4]!;
    const port = Number(m[5]);
    const key = svcKeyText(protocol, address, port);
    ops.push(m[1] === 'A' ? { open: { key, protocol, address, port } } : { close: key });
  }
  return ops;
}

/** Without --workers: WASMVS_PROXY_WORKERS, else 1. */
function envWorkers(): number {
  const v = process.env.WASMVS_PROXY_WORKERS;
  if (v === undefined || v === '') return 1;
  const n = parseWorkers(v);
  if (typeof n === 'string') throw new Error(`WASMVS_PROXY_WORKERS: ${n}`);
  return n;
}

export const createDataPath: DataPathFactory = (ctx) => new DaemonProxy(ctx);
