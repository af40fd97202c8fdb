// ipvsadm's command line → a typed command, with ipvsadm's checks in
// ipvsadm's order (option effects as they appear, then the legality matrix,
// then the per-command semantics). Pure: no I/O, name lookups injected.
import { OPT, type CmdName } from './options.js';
import { scan } from './tokens.js';
import { checkCommandOptions, checkTunnelOptions } from './matrix.js';
import { CliError } from './messages.js';
import type { Resolver } from './values.js';
import { applyOption, newEntry, type Entry } from './entry.js';
import { commandOf, type Parsed } from './command.js';

export type { Parsed, ListFormat, ListWhat } from './command.js';

export interface ParseOptions extends Resolver {
  /** Program name for the "Try … -h" message. */
  program?: string;
  /** True for lines read by -R (a nested -R is refused). */
  inRestore?: boolean;
}

export interface ParseResult { parsed: Parsed; socket?: string }

const MAX_TIMEOUT = 86400 * 31;

/** Remove `--socket PATH` / `--socket=PATH` (wasmvs's daemon selector, legal anywhere). */
export function takeSocket(argv: readonly string[]): { argv: string[]; socket?: string } {
  const out: string[] = [];
  let socket: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const w = argv[i];
    if (w === '--') { out.push(...argv.slice(i)); break; }
    if (w === '--socket' && i + 1 < argv.length) { socket = argv[++i]; continue; }
    if (w.startsWith('--socket=')) { socket = w.slice('--socket='.length); continue; }
    out.push(w);
  }
  return { argv: out, socket };
}

/** Parse one ipvsadm command line (argv without the program name). Throws CliError. */
export function parseArgs(argvIn: readonly string[], po: ParseOptions = {}): ParseResult {
  const program = po.program ?? 'wasmvsadm';
  const { argv, socket } = takeSocket(argvIn);
  if (argv.length === 0 && !po.inRestore) {
    return { socket, parsed: commandOf('list', newEntry(), new Set(), po) };
  }
  const { tokens, args } = scan(argv);
  const first = tokens[0];
  if (!first || first.type === 'error' || !first.spec.cmd) throw CliError.tryHelp(program);
  const cmd = first.spec.cmd;
  if (cmd === 'help' || cmd === 'version') return { socket, parsed: { kind: cmd } };
  if (cmd === 'restore' && po.inRestore) throw CliError.tryHelp(program);
  const ce = newEntry();
  if (cmd === 'start-daemon' || cmd === 'stop-daemon') {
    if (first.value !== 'master' && first.value !== 'backup') {
      throw CliError.local(cmd === 'start-daemon' ? 'illegal start-daemon parameter specified' : 'illegal start_daemon specified');
    }
    ce.daemon.state = first.value;
  }
  const options = new Set<number>();
  for (const t of tokens.slice(1)) {
    if (t.type === 'error') throw CliError.popt(t.word, t.message);
    if (t.spec.cmd) throw CliError.local('multiple commands specified');
    applyOption(ce, options, t.spec.key!, t.value, po);
  }
  const rest = [...args];
  if (cmd === 'set') {
    if (rest.length < 3) throw CliError.local('--set option requires 3 timeout values');
    const [tcp, tcpfin, udp] = rest.splice(0, 3).map(parseTimeout0);
    ce.timeouts = { tcp, tcpfin, udp };
  }
  if (rest.length > 0) throw CliError.local(`unexpected argument ${rest[0]}`);
  if (ce.schedFlagsArg !== undefined) ce.svc.flags = parseSchedFlags(ce.svc.scheduler || 'wlc', ce.schedFlagsArg);
  checkCommandOptions(cmd, options);
  semantics(cmd, ce, options);
  return { socket, parsed: commandOf(cmd, ce, options, po) };
}

function parseTimeout0(text: string): number {
  const n = /^[ \t\n\v\f\r]*[+-]?[0-9]+$/.test(text) ? Number(text.trim()) : NaN;
  if (!Number.isSafeInteger(n) || n < 0 || n > MAX_TIMEOUT) throw CliError.local(`invalid timeout value \`${text}' specified`);
  return n;
}

const SCHED_FLAGS = ['flag-1', 'flag-2', 'flag-3', 'sh-fallback', 'sh-port', 'mh-fallback', 'mh-port'];

// ipvsadm's parse_sched_flags: strtok on ','; sh- and mh- flags only with their own scheduler.
function parseSchedFlags(sched: string, arg: string): string[] {
  const flags = arg.split(',').filter((f) => f !== '');
  if (flags.length === 0) throw CliError.local("invalid scheduler flag `'");
  for (const f of flags) {
    if (!SCHED_FLAGS.includes(f)) throw CliError.local(`invalid scheduler flag \`${f}'`);
    const owner = f.startsWith('sh-') ? 'sh' : f.startsWith('mh-') ? 'mh' : null;
    if (owner !== null && owner !== sched) throw CliError.local(`incompatible scheduler flag \`${f}'`);
  }
  return [...new Set(flags)];
}

/** What ipvsadm's process_options checks after the matrix. */
function semantics(cmd: CmdName, ce: Entry, options: ReadonlySet<number>): void {
  if (cmd === 'add-service' || cmd === 'edit-service') {
    const s = ce.svc;
    if (!s.fwmark && !s.port && s.persistent === 0) throw CliError.local('Zero port specified for non-persistent service');
    if (s.ops && !s.fwmark && s.proto !== 'udp') throw CliError.local('One-Packet Scheduling is only for UDP virtual services');
    if (!s.scheduler) s.scheduler = 'wlc';
  }
  if (cmd === 'add-server' || cmd === 'edit-server') {
    const d = ce.dest;
    // DR and TUN cannot change the port: the packet still carries the VIP's.
    if (!ce.svc.fwmark && (d.method === 'route' || d.method === 'tunnel')) d.port = ce.svc.port;
    if (d.af !== ce.svc.af && d.method !== 'tunnel') throw CliError.local('Different address family is allowed only for tunneling servers');
    const tun = [OPT['tun-type'], OPT['tun-port'], OPT['tun-nocsum'], OPT['tun-csum'], OPT['tun-remcsum']];
    if (tun.some((o) => options.has(o)) && d.method !== 'tunnel') throw CliError.local('Tunnel options conflict with forward method');
    checkTunnelOptions(d.tunType, options);
  }
  if (cmd === 'list') {
    const has = (n: keyof typeof OPT) => options.has(OPT[n]);
    if (((has('connection') || has('timeout') || has('daemon')) && (has('stats') || has('rate') || has('thresholds')))
      || ((has('timeout') || has('daemon')) && has('persistent-conn'))) {
      throw CliError.local('options conflicts in the list command');
    }
  }
}
