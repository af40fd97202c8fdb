// wasmvsadm --drain (wasmvs, not ipvsadm): drain a real server of the proxy
// data path as a state, with progress.
//   wasmvsadm --drain -t|-u VIP:PORT -r RIP[:PORT] [--deadline S] [--wait] [--json]
//   wasmvsadm --drain -t|-u VIP:PORT -r RIP[:PORT] --cancel
//   wasmvsadm --drain                       (progress of every drain)
// Exit codes follow wasmvsadm's: 2 for local errors, 255 for daemon refusals.
import type { Request, Reply, DrainInfo } from '../ipvsadm/protocol.js';
import type { ServiceKey } from '../sdk/types.js';
import { CliError, EXIT, kernelText } from '../ipvsadm/messages.js';
import { parseHostPort } from '../ipvsadm/values.js';

export interface DrainArgs {
  svc?: ServiceKey & { protocol: 'tcp' | 'udp' };
  dest?: { address: string; port: number };
  deadline: number | null;
  cancel: boolean;
  wait: boolean;
  json: boolean;
}

export interface DrainIo {
  request(req: Omit<Request, 'id'>): Promise<Reply>;
  out(text: string): void;
  err(text: string): void;
  sleep(ms: number): Promise<void>;
}

function endpoint(text: string | undefined, what: string): { address: string; port?: number } {
  const hp = text === undefined ? null : parseHostPort(text, 'tcp', {});
  if (!hp) throw CliError.local(`Illegal ${what} address[:port] specified`);
  return { address: hp.addr, port: hp.port };
}

export function parseDrainArgs(argv: readonly string[]): DrainArgs {
  const a: DrainArgs = { deadline: null, cancel: false, wait: false, json: false };
  let svcText: string | undefined, proto: 'tcp' | 'udp' = 'tcp', destText: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const w = argv[i];
    if (w === '--drain') continue;
    else if (w === '-t' || w === '--tcp-service' || w === '-u' || w === '--udp-service') { svcText = argv[++i]; proto = w === '-u' || w === '--udp-service' ? 'udp' : 'tcp'; }
    else if (w === '-r' || w === '--real-server') destText = argv[++i];
    else if (w === '--deadline') {
      const v = argv[++i];
      if (v === undefined || !/^\d+$/.test(v)) throw CliError.local(`Illegal deadline ${v ?? ''}: seconds expected`);
      a.deadline = Number(v);
    } else if (w === '--cancel') a.cancel = true;
    else if (w === '--wait') a.wait = true;
    else if (w === '--json') a.json = true;
    else throw new CliError(`${w}: unknown option for --drain`, EXIT.KERNEL);
  }
  if (svcText === undefined && destText === undefined) return a;
  const s = endpoint(svcText, 'virtual service');
  if (s.port === undefined) throw CliError.local('Illegal virtual service address[:port] specified');
  const d = endpoint(destText, 'real server');
  a.svc = { protocol: proto, address: s.address, port: s.port };
  a.dest = { address: d.address, port: d.port ?? s.port };
  return a;
}

export function drainLine(d: DrainInfo): string {
  const [proto, addr, port] = d.service.split('|');
  const left = `${d.open} open (ActiveConn ${d.activeconns}, InActConn ${d.inactconns})`;
  const when = d.status === 'draining' && d.deadlineIn !== null ? `, deadline in ${d.deadlineIn} s` : '';
  const rest = d.atDeadline === 'kept' ? 'the rest keep their connection entries' : 'the rest was reset';
  const forced = d.forced ? ` (deadline reached, ${rest})` : '';
  return `${proto.toUpperCase()} ${addr}:${port} -> ${d.dest}: ${d.status}${forced}, ${left}${when}\n`;
}

async function ask(io: DrainIo, req: Omit<Request, 'id'>): Promise<DrainInfo[]> {
  const r = await io.request(req);
  if (!r.ok) throw new CliError(kernelText(r.error), EXIT.KERNEL);
  return (r as { drains: DrainInfo[] }).drains;
}

/** Run one --drain command; returns the exit code (errors printed as wasmvsadm prints them). */
export async function runDrain(argv: readonly string[], io: DrainIo): Promise<number> {
  try {
    return await drain(argv, io);
  } catch (e) {
    if (!(e instanceof CliError)) throw e;
    io.err(`${e.message}\n`);
    return e.exit;
  }
}

async function drain(argv: readonly string[], io: DrainIo): Promise<number> {
  const a = parseDrainArgs(argv);
  const show = (ds: DrainInfo[]) => io.out(a.json ? JSON.stringify({ schema: 1, drains: ds }) + '\n' : ds.map(drainLine).join(''));
  if (!a.svc || !a.dest) { show(await ask(io, { op: 'drains' })); return EXIT.OK; }
  const req = { op: 'drain' as const, svc: a.svc, dest: a.dest, deadline: a.deadline, cancel: a.cancel };
  let ds = await ask(io, req);
  show(ds);
  if (!a.wait || a.cancel) return EXIT.OK;
  const mine = (list: DrainInfo[]) => list.find((d) => d.dest === ds[0].dest && d.service === ds[0].service);
  // Bounded: the deadline (plus a margin) or one day without one.
  const maxPolls = a.deadline !== null ? a.deadline + 10 : 86400;
  let last = drainLine(ds[0]);
  for (let i = 0; i < maxPolls && mine(ds)?.status === 'draining'; i++) {
    await io.sleep(1000);
    ds = await ask(io, { op: 'drains' });
    const d = mine(ds);
    if (d && drainLine(d) !== last) { last = drainLine(d); show([d]); }
  }
  return mine(ds)?.status === 'drained' ? EXIT.OK : EXIT.LISTING;
}
