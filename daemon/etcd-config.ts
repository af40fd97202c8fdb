// How a configuration is laid out in etcd (docs/many-directors.md), and the
// commands that take a Director from one layout to another. Pure: no I/O.
//
//   PREFIX/config/services/tcp/10.0.0.1:80                 -A -t 10.0.0.1:80 -s rr
//   PREFIX/config/services/tcp/10.0.0.1:80/dests/10.1.1.1:80  -a -t 10.0.0.1:80 -r 10.1.1.1:80 -g -w 1
//   PREFIX/config/services/fwmark/7                        -A -f 7 -s mh
//   PREFIX/config/timeouts                                 --set 900 120 300   (only when not the defaults)
//   PREFIX/config/write                                    {"by":…,"at":…,"part":[1,1]} (every write; the optimistic lock)
//   PREFIX/directors/NAME                                  {"name":…,"revision":…,"connections":…} (leased)
//
// Values are the state-file lines of cli/save.ts, so the values under
// PREFIX/config/services/, in key order, are a valid `wasmvsadm -R` input.
import type { Director } from '../sdk/director.js';
import type { ServiceInfo } from '../sdk/types.js';
import type { ConfigCmd, DestEntry } from '../ipvsadm/protocol.js';
import { ruleService, serviceRule, destRule, DEFAULT_TIMEOUTS } from '../ipvsadm/save.js';
import { NUMERIC, endpointName } from '../ipvsadm/names.js';
import { restoreArgv } from '../ipvsadm/restore.js';
import { parseArgs } from '../ipvsadm/parse.js';
import { keyOf } from '../sdk/commands.js';

export const SERVICES = 'config/services/';
export const TIMEOUTS = 'config/timeouts';
export const WRITE = 'config/write';
export const CONFIG = 'config/';
export const DIRECTORS = 'directors/';
const DESTS = '/dests/';

/** A key's value and the revision that created it (dests added in one revision are ordered by key). */
export interface Entry { value: string; create: number }
/** Keys relative to the prefix → entries: what etcd holds under PREFIX/config/. */
export type Layout = Map<string, Entry>;

export function serviceKey(s: Pick<ServiceInfo, 'fwmark' | 'af' | 'protocol' | 'address' | 'port'>): string {
  if (s.fwmark) return `${SERVICES}${s.af === 6 ? 'fwmark6' : 'fwmark'}/${s.fwmark >>> 0}`;
  return `${SERVICES}${s.protocol ?? 'tcp'}/${endpointName(s.af, s.address ?? '', s.port, 'tcp', NUMERIC)}`;
}

export function destKey(svcKey: string, d: Pick<DestEntry, 'af' | 'address' | 'port'>): string {
  return `${svcKey}${DESTS}${endpointName(d.af, d.address, d.port, 'tcp', NUMERIC)}`;
}

export const isDestKey = (k: string) => k.includes(DESTS);
export const serviceOfDest = (k: string) => k.slice(0, k.indexOf(DESTS));
export const isServiceKey = (k: string) => k.startsWith(SERVICES) && !isDestKey(k);

/** The layout of a Director's configuration, or of `only` these services and the timeouts (create revisions 0: not known). */
export function layoutOf(d: Director, only?: readonly ServiceInfo[]): Layout {
  const out: Layout = new Map();
  const t = d.timeouts();
  if (t.tcp !== DEFAULT_TIMEOUTS.tcp || t.tcpfin !== DEFAULT_TIMEOUTS.tcpfin || t.udp !== DEFAULT_TIMEOUTS.udp) {
    out.set(TIMEOUTS, { value: `--set ${t.tcp} ${t.tcpfin} ${t.udp}`, create: 0 });
  }
  for (const s of only ?? d.services()) {
    const svc = ruleService(s, NUMERIC);
    const k = serviceKey(s);
    out.set(k, { value: serviceRule({ ...s, dests: [] }, svc), create: 0 });
    // Oldest first, as the state file: the order they are added back in.
    for (const dest of d.dests(keyOf(s)).reverse()) out.set(destKey(k, dest), { value: destRule(s, dest, svc, NUMERIC, true), create: 0 });
  }
  return out;
}

/** The entries of `layout` for these service keys (and their servers) and the timeouts. */
export function layoutPart(layout: Layout, svcKeys: ReadonlySet<string>): Layout {
  const out: Layout = new Map();
  const t = layout.get(TIMEOUTS);
  if (t) out.set(TIMEOUTS, t);
  for (const [k, e] of layout) {
    if (svcKeys.has(isDestKey(k) ? serviceOfDest(k) : k)) out.set(k, e);
  }
  return out;
}

/** What a write must do in etcd to turn `from` into `to`: keys to put (in add order) and keys to delete. */
export interface LayoutDiff { puts: [string, string][]; deletes: string[]; rangeDeletes: string[] }

export function diffLayouts(from: Layout, to: Layout): LayoutDiff {
  const puts: [string, string][] = [];
  const deletes: string[] = [];
  const rangeDeletes: string[] = [];
  const goneServices = new Set<string>();
  for (const k of from.keys()) {
    if (to.has(k) || k === WRITE) continue;
    if (isServiceKey(k)) { goneServices.add(k); deletes.push(k); rangeDeletes.push(k + DESTS); }
  }
  for (const k of from.keys()) {
    if (to.has(k) || k === WRITE || isServiceKey(k)) continue;
    if (isDestKey(k) && goneServices.has(serviceOfDest(k))) continue;
    deletes.push(k);
  }
  for (const [k, e] of to) {
    if (from.get(k)?.value !== e.value) puts.push([k, e.value]);
  }
  return { puts, deletes, rangeDeletes };
}

const SVC_EDIT: Record<string, string> = { '-A': '-E', '-a': '-e' };

/** The command a stored value stands for; `edit` turns -A/-a into -E/-e. Throws on a value that is no rule. */
export function valueCmd(value: string, edit: boolean): ConfigCmd {
  const argv = restoreArgv(value);
  if (!argv) throw new Error(`not a rule: ${JSON.stringify(value)}`);
  if (edit && SVC_EDIT[argv[0]]) argv[0] = SVC_EDIT[argv[0]];
  const { parsed } = parseArgs(argv, { inRestore: true });
  if (parsed.kind !== 'apply') throw new Error(`not a configuration rule: ${JSON.stringify(value)}`);
  return parsed.cmd;
}

/**
 * Commands that turn a Director holding `from` into one holding `to`:
 * removed dests, removed services, timeouts, then services and dests added
 * or changed. New dests go in by (create revision, key), so every director
 * builds the same list order whether it followed the changes or loaded them whole.
 * Values that are not rules are reported through `bad` and skipped.
 */
export function layoutCmds(from: Layout, to: Layout, bad: (key: string, why: string) => void = () => {}): ConfigCmd[] {
  const cmds: ConfigCmd[] = [];
  const push = (k: string, value: string, edit: boolean) => {
    try { cmds.push(valueCmd(value, edit)); } catch (e) { bad(k, e instanceof Error ? e.message : String(e)); }
  };
  const goneServices = new Set<string>();
  for (const k of from.keys()) if (isServiceKey(k) && !to.has(k)) goneServices.add(k);
  for (const [k, e] of from) {
    if (!isDestKey(k) || to.has(k) || goneServices.has(serviceOfDest(k))) continue;
    // -d from the -a line: the service and the server are its first four words.
    const argv = restoreArgv(e.value);
    if (!argv) continue;
    push(k, ['-d', ...argv.slice(1, argv.indexOf('-r') + 2)].join(' '), false);
  }
  for (const k of goneServices) {
    const argv = restoreArgv(from.get(k)!.value);
    if (argv) push(k, ['-D', ...argv.slice(1, argv.indexOf('-s'))].join(' '), false);
  }
  const t = to.get(TIMEOUTS)?.value ?? (from.has(TIMEOUTS) ? `--set ${DEFAULT_TIMEOUTS.tcp} ${DEFAULT_TIMEOUTS.tcpfin} ${DEFAULT_TIMEOUTS.udp}` : undefined);
  if (t !== undefined && t !== from.get(TIMEOUTS)?.value) push(TIMEOUTS, t, false);
  const changed = (k: string, e: Entry) => from.get(k)?.value !== e.value;
  for (const [k, e] of to) if (isServiceKey(k) && changed(k, e)) push(k, e.value, from.has(k));
  const dests = [...to].filter(([k, e]) => isDestKey(k) && changed(k, e));
  dests.sort(([ka, a], [kb, b]) => (from.has(ka) ? 0 : a.create) - (from.has(kb) ? 0 : b.create) || (ka < kb ? -1 : ka > kb ? 1 : 0));
  for (const [k, e] of dests) push(k, e.value, from.has(k));
  return cmds;
}
