// wasmvsadm: ipvsadm's command line for a running wasmvsd. Loads only the
// parser, the formatters and the socket client (never the core or a data path).
import { readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { runArgv, type Io } from '../ipvsadm/run.js';
import { takeSocket } from '../ipvsadm/parse.js';
import { argResolver, hostNamesIn, listingNames } from './resolve.js';
import { socketPath, unsafeDir } from '../daemon/paths.js';
import { ControlClient } from './client.js';
import type { Request } from '../ipvsadm/protocol.js';
import { runDrain } from './drain.js';
import { runDirectors } from './directors.js';
import { runDryRun } from './dryrun.js';

async function readStdin(): Promise<Uint8Array> {
  // One blocking read to the end: a big -R arrives without a stream event per 64 KiB,
  // and stays bytes (the -R scanner reads UTF-8 as it is, no decoded copy).
  // A stdin that cannot be read that way (non-blocking: EAGAIN) is read as a stream.
  try {
    return readFileSync(0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
  }
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function write(stream: NodeJS.WriteStream, text: string): void {
  stream.write(text);
}

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  const program = basename(process.argv[1] ?? 'wasmvsadm').replace(/\.js$/, '');
  const path = socketPath(takeSocket(argv).socket);
  // Never send requests to a socket another user could have planted (a root daemon's dir is root's).
  let why: string | null = null;
  // -h and -v talk to no daemon, so no socket can make them fail.
  const infoOnly = /^(-h|--help|-v|--version)$/.test(takeSocket(argv).argv[0] ?? '');
  try { if (!infoOnly) why = unsafeDir(dirname(path), [process.getuid?.() ?? 0, 0], path); } catch { /* missing: the connect error says so */ }
  if (why) { process.stderr.write(`wasmvsadm: refusing the control socket ${path}: ${why}\n`); return 2; }
  let client: ControlClient | null = null;
  const io: Io = {
    program,
    out: (t) => write(process.stdout, t),
    err: (t) => write(process.stderr, t),
    resolveNames: (items) => listingNames(items),
    parse: await argResolver(hostNamesIn(argv)),
  };
  io.readStdin = readStdin;
  io.prepareRestore = async (lines) => {
    const hosts = new Set<string>();
    for (const l of lines) for (const h of hostNamesIn(l.argv)) hosts.add(h);
    if (hosts.size) io.parse = await argResolver([...hosts]);
  };
  try {
    if (argv.includes('--drain')) {
      const c = (client ??= new ControlClient(path));
      return await runDrain(takeSocket(argv).argv, {
        request: (r) => c.request(r as Request), out: io.out, err: io.err, sleep: (ms) => new Promise((res) => setTimeout(res, ms)),
      });
    }
    if (argv.includes('--dry-run')) {
      const c = (client ??= new ControlClient(path));
      return await runDryRun(takeSocket(argv).argv, { request: (r) => c.request(r as Request), out: io.out, err: io.err, parse: io.parse, program });
    }
    if (argv.includes('--directors')) {
      const c = (client ??= new ControlClient(path));
      return await runDirectors(takeSocket(argv).argv, { request: (r) => c.request(r as Request), out: io.out, err: io.err });
    }
    return await runArgv(argv, () => (client ??= new ControlClient(path)), io);
  } finally {
    (client as ControlClient | null)?.close();
  }
}

/** Run and exit once stdout and stderr are flushed (pending DNS lookups must not hold the process). */
export async function runMain(): Promise<void> {
  let code: number;
  try {
    code = await main();
  } catch (e) {
    process.stderr.write(`wasmvsadm: ${e instanceof Error ? e.message : String(e)}\n`);
    code = 1;
  }
  await new Promise<void>((r) => process.stdout.write('', () => r()));
  await new Promise<void>((r) => process.stderr.write('', () => r()));
  process.exit(code);
}
