// Runs parsed ipvsadm commands against a Backend (the daemon client, or an
// in-process handler in tests and the playground) and returns the exit code.
// Pure: output goes through `io`, names through `resolveNames`.
import type { ConfigCmd, CmdResult, ServiceEntry, ConnEntry, Timeouts, DaemonInfo, ErrorInfo } from './protocol.js';
import type { ServiceKey } from '../sdk/types.js';
import { parseArgs, type Parsed, type ParseOptions } from './parse.js';
import { CliError, EXIT, kernelText } from './messages.js';
import { formatTable, formatService, formatConnections, formatTimeouts, formatDaemons } from './format.js';
import { jsonTable, jsonConnections, jsonTimeouts, jsonDaemons } from './json.js';
import { saveRules } from './save.js';
import { RestoreScanner, restoreBytes, lineEnd, type RestoreLine, type SlowLine } from './restore.js';
import { usageText, versionText } from './usage.js';
import { NUMERIC, type Names } from './names.js';
import { PackedWriter, packedToCmd, PACKED_WORDS } from '../sdk/packed.js';
import { PACKED_BATCH, PACKED_JOURNAL_MIN, type PackedResults } from './packed-wire.js';

export interface Backend {
  apply(cmds: ConfigCmd[], atomic?: boolean): Promise<CmdResult[]>;
  /** Packed records (the fast form of -R); backends without it get ConfigCmds. */
  /** `more`: further packed requests of the same -R follow at once (the data path may wait for the last). */
  applyPacked?(words: Uint32Array, count: number, atomic?: boolean, more?: boolean): Promise<PackedResults>;
  list(svc?: ServiceKey): Promise<{ size: number; services: ServiceEntry[] }>;
  connections(): Promise<ConnEntry[]>;
  timeouts(): Promise<Timeouts>;
  daemons(): Promise<DaemonInfo[]>;
}

/** A whole request refused by the daemon (e.g. -L of a missing service). */
export class RemoteError extends Error {
  constructor(readonly info: ErrorInfo) { super(info.message); }
}

export interface Io {
  out(text: string): void;
  err(text: string): void;
  program?: string;
  /** -R input (bytes as read are UTF-8: the scanner never decodes a big input). */
  readStdin?(): Promise<string | Uint8Array>;
  /** Before -R parses its lines: resolve the host names they use (sets `parse`). */
  prepareRestore?(lines: readonly RestoreLine[]): Promise<void>;
  /** Names for listings without -n; numeric when absent. */
  resolveNames?(services: readonly ServiceEntry[] | readonly ConnEntry[]): Promise<Names>;
  parse?: ParseOptions;
}

/** Largest number of commands sent in one request during a non-atomic -R. */
export const RESTORE_BATCH = 32768;

async function names(io: Io, numeric: boolean, items: readonly ServiceEntry[] | readonly ConnEntry[]): Promise<Names> {
  return numeric || !io.resolveNames ? NUMERIC : io.resolveNames(items);
}

async function list(p: Extract<Parsed, { kind: 'list' }>, b: Backend, io: Io): Promise<number> {
  const f = p.format;
  try {
    if (p.what === 'connections') {
      const c = await b.connections();
      io.out(p.json ? jsonConnections(c) : formatConnections(c, f, await names(io, f.numeric, c)));
    } else if (p.what === 'timeout') {
      const t = await b.timeouts();
      io.out(p.json ? jsonTimeouts(t) : formatTimeouts(t));
    } else if (p.what === 'daemon') {
      const d = await b.daemons();
      io.out(p.json ? jsonDaemons(d) : formatDaemons(d));
    } else {
      const r = await b.list(p.svc);
      if (p.json) io.out(jsonTable(r.services, r.size, f.nosort));
      else if (p.what === 'service') io.out(formatService(r.services[0], f, await names(io, f.numeric, r.services)));
      else io.out(formatTable(r.services, r.size, f, await names(io, f.numeric, r.services)));
    }
    return EXIT.OK;
  } catch (e) {
    if (e instanceof RemoteError) { io.err(kernelText(e.info) + '\n'); return EXIT.LISTING; }
    throw e;
  }
}

async function save(numeric: boolean, b: Backend, io: Io): Promise<number> {
  try {
    const r = await b.list();
    io.out(saveRules(r.services, { names: await names(io, numeric, r.services) }));
    return EXIT.OK;
  } catch (e) {
    if (e instanceof RemoteError) { io.err(kernelText(e.info) + '\n'); return EXIT.LISTING; }
    throw e;
  }
}

/** Print each failed result as ipvsadm does; the status of the last one is returned. */
function report(results: readonly CmdResult[], io: Io): number {
  let last: number = EXIT.OK;
  for (const r of results) {
    if (r.ok) last = EXIT.OK;
    else { io.err(kernelText(r.error) + '\n'); last = EXIT.KERNEL; }
  }
  return last;
}

async function applyOrThrow(b: Backend, cmds: ConfigCmd[], atomic: boolean): Promise<CmdResult[]> {
  try {
    return await b.apply(cmds, atomic);
  } catch (e) {
    // The whole request was refused (e.g. the state file could not be written): say so once.
    if (e instanceof RemoteError) return [{ ok: false, error: e.info }];
    throw e;
  }
}

/** Run one command line; CliError for local failures propagates to the caller. */
export async function runParsed(p: Parsed, b: Backend, io: Io): Promise<number> {
  switch (p.kind) {
    case 'help': io.out(usageText(io.program ?? 'wasmvsadm')); return EXIT.OK;
    case 'version': io.out(versionText()); return EXIT.OK;
    case 'list': return list(p, b, io);
    case 'save': return save(p.numeric, b, io);
    case 'restore': return restore(p.atomic, b, io);
    case 'apply': return report(await applyOrThrow(b, [p.cmd], false), io);
  }
}

async function applyPackedOrThrow(b: Backend, words: Uint32Array, count: number, atomic: boolean, more = false): Promise<PackedResults> {
  try {
    return await b.applyPacked!(words, count, atomic, more);
  } catch (e) {
    // The whole request was refused: one failure, reported once, as the last record's.
    if (e instanceof RemoteError) return { done: count, failures: [{ index: count - 1, error: e.info }] };
    throw e;
  }
}

/** Print the failures of a packed request; the status of its last record. */
function reportPacked(r: PackedResults, count: number, io: Io): number {
  for (const f of r.failures) io.err(kernelText(f.error) + '\n');
  const last = r.failures[r.failures.length - 1];
  return last !== undefined && last.index === count - 1 ? EXIT.KERNEL : EXIT.OK;
}

async function restoreAtomic(packed: PackedWriter, slow: readonly SlowLine[], b: Backend, io: Io): Promise<number> {
  const cmds: ConfigCmd[] = [];
  for (const l of slow) {
    const { parsed } = parseArgs(l.argv, { ...io.parse, program: io.program, inRestore: true });
    if (parsed.kind !== 'apply') throw CliError.local(`line ${l.line}: --atomic restore takes configuration commands only`);
    cmds.push(parsed.cmd);
  }
  const words = packed.take();
  const count = words.length / PACKED_WORDS;
  if (cmds.length === 0 && count === 0) return EXIT.OK;
  if (cmds.length === 0 && count <= PACKED_BATCH) {
    // All or nothing: the first failure is the one reported.
    const r = await applyPackedOrThrow(b, words, count, true);
    if (r.failures.length === 0) return EXIT.OK;
    io.err(kernelText(r.failures[0].error) + '\n');
    return EXIT.KERNEL;
  }
  // Mixed input: one ConfigCmd list in line order.
  const all: ConfigCmd[] = [];
  let next = 0;
  slow.forEach((l, i) => {
    while (next < l.at) all.push(packedToCmd(words, next++) as ConfigCmd);
    all.push(cmds[i]);
  });
  while (next < count) all.push(packedToCmd(words, next++) as ConfigCmd);
  const results = await applyOrThrow(b, all, true);
  const failed = results.find((r) => !r.ok);
  return failed ? report([failed], io) : EXIT.OK;
}

/** Records per request while a non-atomic -R streams: the daemon applies one while the next is read. */
export const STREAM_RECORDS = 32768;
/**
 * The first streamed request of a big -R (RAMP_BYTES of input or more): small,
 * so the daemon starts (and warms up) while the rest is parsed; the next ones
 * double up to STREAM_RECORDS. Not below PACKED_JOURNAL_MIN: smaller requests
 * are journaled as rendered lines, and a smaller -R is not split this way (a
 * request of 8,192 records and a rest of 4,000 would journal 4,000 lines).
 */
const FIRST_STREAM_RECORDS = PACKED_JOURNAL_MIN;
const RAMP_BYTES = 4 << 20;
/**
 * Characters of -R input scanned between turns of the event loop once records
 * are in flight: the socket writes only in those turns, so without them a
 * request sent early would reach the daemon only after the whole input is read.
 */
const SEGMENT = 128 << 10;

// run.ts also runs in the browser playground, which has no setImmediate.
const later: (f: () => void) => void = typeof setImmediate === 'function' ? (f) => setImmediate(f) : (f) => setTimeout(f, 0);
const turn = () => new Promise<void>((resolve) => later(resolve));

type Settled = { ok: PackedResults; n: number } | { error: unknown };

/**
 * Sends -R's work in line order: packed records by range, parsed commands in
 * batches. Packed ranges may be sent ahead (`sendAhead`), without waiting for
 * their answers; answers are reported in order before anything else is sent.
 */
class RestoreSender {
  sent = 0;
  /** Requests sent ahead so far. */
  requests = 0;
  private cmds: ConfigCmd[] = [];
  private inflight: Promise<Settled>[] = [];
  status: number = EXIT.OK;
  constructor(private readonly b: Backend, private readonly io: Io, private readonly packed: PackedWriter) {}

  private range(from: number, n: number): Uint32Array {
    return this.packed.words.subarray(from * PACKED_WORDS, (from + n) * PACKED_WORDS);
  }

  /** Send packed records up to `at` now; their answers are reported by the next settle(). */
  sendAhead(at: number): void {
    while (this.sent < at) {
      const n = Math.min(at - this.sent, PACKED_BATCH);
      // The request is encoded before this returns: later records may move the writer's words.
      this.inflight.push(applyPackedOrThrow(this.b, this.range(this.sent, n), n, false, true).then((ok) => ({ ok, n }), (error) => ({ error })));
      this.sent += n;
      this.requests++;
    }
  }

  /** Report the answers of what was sent ahead, in order. */
  async settle(): Promise<void> {
    for (const p of this.inflight.splice(0)) {
      const r = await p;
      if ('error' in r) throw r.error;
      this.status = reportPacked(r.ok, r.n, this.io);
    }
  }

  /** Everything before packed record `at` (commands first: they came earlier). */
  async upTo(at: number): Promise<void> {
    await this.settle();
    if (at <= this.sent) return;
    await this.flushCmds();
    while (this.sent < at) {
      const n = Math.min(at - this.sent, PACKED_BATCH);
      this.status = reportPacked(await applyPackedOrThrow(this.b, this.range(this.sent, n), n, false), n, this.io);
      this.sent += n;
    }
  }

  async add(cmd: ConfigCmd): Promise<void> {
    this.cmds.push(cmd);
    if (this.cmds.length >= RESTORE_BATCH) await this.flushCmds();
  }

  async flushCmds(): Promise<void> {
    await this.settle();
    if (this.cmds.length) this.status = report(await applyOrThrow(this.b, this.cmds, false), this.io);
    this.cmds = [];
  }
}

async function restore(atomic: boolean, b: Backend, io: Io): Promise<number> {
  const text = restoreBytes(io.readStdin ? await io.readStdin() : '');
  // About one record per 40 bytes of a big -R (`-a -t A:P -r B:P -m -w N` is 45-50): no regrowing on the way.
  const packed = new PackedWriter(text.length / 40);
  const writer = b.applyPacked ? packed : null;
  const scanner = new RestoreScanner();
  const slow: SlowLine[] = [];
  const send = new RestoreSender(b, io, packed);
  const first = text.length >= RAMP_BYTES ? FIRST_STREAM_RECORDS : STREAM_RECORDS;
  let a = 0;
  if (!atomic && writer) {
    // Stream while every line is of the fast shape: records go out in requests
    // of STREAM_RECORDS while the rest is still being read. A line for the full
    // parser ends streaming (names in it are resolved before any is parsed).
    while (a < text.length && slow.length === 0) {
      const nl = lineEnd(text, Math.min(a + SEGMENT, text.length), text.length);
      const to = Math.min(nl + 1, text.length);
      scanner.scan(text, a, to, writer, slow);
      a = to;
      if (slow.length === 0 && packed.count - send.sent >= Math.min(STREAM_RECORDS, first * 2 ** send.requests)) send.sendAhead(packed.count);
      // Let the socket write what was queued.
      if (send.sent > 0) await turn();
    }
  }
  scanner.scan(text, a, text.length, writer, slow);
  if (io.prepareRestore && slow.length) await io.prepareRestore(slow);
  if (atomic) return restoreAtomic(packed, slow, b, io);
  for (const l of slow) {
    await send.upTo(l.at);
    let parsed: Parsed;
    try {
      parsed = parseArgs(l.argv, { ...io.parse, program: io.program, inRestore: true }).parsed;
    } catch (e) {
      await send.flushCmds();
      // popt errors end only their line; every other local error ends the run.
      if (e instanceof CliError && e.lineOnly) {
        io.err(e.message + '\n'); send.status = EXIT.KERNEL; continue;
      }
      throw e;
    }
    if (parsed.kind === 'apply') { await send.add(parsed.cmd); continue; }
    await send.flushCmds();
    send.status = await runParsed(parsed, b, io);
    if (send.status === EXIT.LISTING) return send.status;
  }
  await send.upTo(packed.count);
  await send.flushCmds();
  return send.status;
}

/** Parse and run one invocation; local errors are printed with their exit code. */
export async function runArgv(argv: readonly string[], b: () => Backend, io: Io): Promise<number> {
  try {
    const { parsed } = parseArgs(argv, { ...io.parse, program: io.program });
    return await runParsed(parsed, b(), io);
  } catch (e) {
    if (e instanceof CliError) { io.err(e.message + '\n'); return e.exit; }
    throw e;
  }
}
