// SIGHUP: re-read the --config file and apply only the difference, so
// untouched services and real servers keep their counters, connections and
// scheduler state. The wanted state is built by restoring the file into a
// scratch Director (the same parser and rules as wasmvsd's start-up load).
import { Director } from '../sdk/director.js';
import { ControlHandler, keyOf } from './handler.js';
import type { ConfigCmd, ServiceEntry, DestEntry, Timeouts } from '../ipvsadm/protocol.js';
import type { ServiceOptions, DestOptions } from '../sdk/types.js';
import { restoreLines } from '../ipvsadm/restore.js';
import { parseArgs } from '../ipvsadm/parse.js';

export interface Wanted { services: ServiceEntry[]; timeouts: Timeouts | null; errors: string[] }

/** The configuration a rules text describes; bad lines are listed, not fatal. */
export async function wantedState(text: string, origin: string): Promise<Wanted> {
  const scratch = await Director.create({ seed: 1 });
  const h = new ControlHandler(scratch, { size: 4096, mode: 'proxy', dataPath: 'none', abiVersion: 0 });
  const errors: string[] = [];
  const cmds: ConfigCmd[] = [];
  for (const l of restoreLines(text)) {
    try {
      const { parsed } = parseArgs(l.argv, { inRestore: true });
      if (parsed.kind === 'apply') cmds.push(parsed.cmd);
    } catch (e) {
      errors.push(`${origin}:${l.line}: ${(e as Error).message}`);
    }
  }
  h.apply(cmds, false).results.forEach((r) => { if (!r.ok) errors.push(`${origin}: ${r.error.message}`); });
  // Timeouts only when the file sets them: a file without --set leaves the running ones alone.
  let timeouts: Timeouts | null = null;
  if (cmds.some((c) => c.op === 'set')) { try { timeouts = h.timeouts(); } catch { timeouts = null; } }
  return { services: h.list(), timeouts, errors };
}

const svcId = (s: ServiceEntry) => JSON.stringify(keyOf(s));
const destId = (d: DestEntry) => `${d.address}|${d.port}`;

function serviceOptions(s: ServiceEntry): ServiceOptions {
  const o: ServiceOptions = { scheduler: s.scheduler as ServiceOptions['scheduler'], flags: [...s.flags].sort(), ops: s.ops };
  if (s.persistent) { o.persistent = s.persistent; o.netmask = s.netmask; }
  if (s.scheduler === 'mh') o.mhTableSize = s.mhTableSize;
  return o;
}

function destOptions(d: DestEntry): DestOptions {
  const o: DestOptions = { address: d.address, port: d.port, weight: d.weight, method: d.method, uThreshold: d.uThreshold, lThreshold: d.lThreshold };
  if (d.method === 'tunnel') o.tunnel = { ...d.tunnel };
  return o;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function destDiff(cur: ServiceEntry, want: ServiceEntry): ConfigCmd[] {
  const svc = keyOf(want);
  const out: ConfigCmd[] = [];
  const have = new Map(cur.dests.map((d) => [destId(d), d]));
  const need = new Set(want.dests.map(destId));
  for (const d of cur.dests) if (!need.has(destId(d))) out.push({ op: 'delete-server', svc, dest: { address: d.address, port: d.port } });
  // Oldest first, so new dests end up in the file's list order.
  for (const d of want.dests.slice().reverse()) {
    const h = have.get(destId(d));
    if (!h) out.push({ op: 'add-server', svc, dest: destOptions(d) });
    else if (!same(destOptions(h), destOptions(d))) out.push({ op: 'edit-server', svc, dest: destOptions(d) });
  }
  return out;
}

/** Commands turning `current` into `wanted`, touching nothing that is already equal. */
export function configDiff(current: readonly ServiceEntry[], curTimeouts: Timeouts | null, wanted: Wanted): ConfigCmd[] {
  const out: ConfigCmd[] = [];
  const have = new Map(current.map((s) => [svcId(s), s]));
  const need = new Set(wanted.services.map(svcId));
  for (const s of current) if (!need.has(svcId(s))) out.push({ op: 'delete-service', svc: keyOf(s) });
  for (const s of wanted.services) {
    const h = have.get(svcId(s));
    if (!h) {
      out.push({ op: 'add-service', svc: keyOf(s), opts: serviceOptions(s) });
      out.push(...destDiff({ ...s, dests: [] }, s));
      continue;
    }
    if (!same(serviceOptions(h), serviceOptions(s))) out.push({ op: 'edit-service', svc: keyOf(s), opts: serviceOptions(s) });
    out.push(...destDiff(h, s));
  }
  const t = wanted.timeouts;
  if (t && curTimeouts && !same(t, curTimeouts)) out.push({ op: 'set', tcp: t.tcp, tcpfin: t.tcpfin, udp: t.udp });
  return out;
}
