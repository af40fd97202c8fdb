// DR's policy routing: a request accepted with a dest's mark must leave
// towards that real server still addressed to the VIP. Two things make it so:
//   - per dest, `ip rule pref 31337 fwmark M lookup M` with `default via RIP`
//     in table M;
//   - the `local` table must not see marked packets first. On an IPVS-style
//     director the VIP is a local address, and the rule `0: from all lookup
//     local` would deliver the request to the director's own stack (which
//     answers with a RST) before any fwmark rule is consulted. IPVS avoids
//     this by hooking after routing and transmitting itself; we keep the
//     kernel's forwarding and instead replace each plain `lookup local` rule
//     by `not fwmark BASE/MASK lookup local` at the same preference, so only
//     packets carrying one of our DR marks skip it.
// Both are recognisable by their content alone (the preference, the mark
// range), so the next start or a cleanup restores them after a crash.
import { layout as L } from '../../sdk/core/abi.gen.js';
import type { AsyncExec, Exec } from './rules.js';

/** ip rule preference of every DR rule (ours alone; cleanup deletes all rules at it). */
export const RULE_PREF = 31337;

/** The DR marks as one fwmark/mask selector: BASE + (dest id & SLOT_MASK). */
export const DR_MARK_SELECTOR = `0x${(L.GW_DR_MARK_BASE >>> 0).toString(16)}/0x${(~L.GW_DR_SLOT_MASK >>> 0).toString(16)}`;

export interface DrRoute { mark: number; via: string }

interface Rule { priority: number; table?: string; src?: string; not?: null; fwmark?: string; fwmask?: string; [k: string]: unknown }

function rules(ip: readonly string[], exec: Exec): Rule[] {
  try {
    return JSON.parse(exec('ip', [...ip, '-j', 'rule', 'show']) || '[]') as Rule[];
  } catch {
    return [];
  }
}

const isPlainLocal = (r: Rule) => r.table === 'local' && Object.keys(r).every((k) => k === 'priority' || k === 'table' || (k === 'src' && r.src === 'all'));
const isOurLocal = (r: Rule) => r.table === 'local' && 'not' in r &&
  `${r.fwmark}/${r.fwmask}` === DR_MARK_SELECTOR;

/** Puts the plain `lookup local` rules back where ours are (plain first, then ours deleted). */
function restoreLocal(ip: readonly string[], exec: Exec): void {
  for (const r of rules(ip, exec).filter(isOurLocal)) {
    const pref = String(r.priority);
    try {
      exec('ip', [...ip, 'rule', 'add', 'pref', pref, 'lookup', 'local']);
    } catch { /* the plain rule is still there */ }
    exec('ip', [...ip, 'rule', 'del', 'pref', pref, 'not', 'fwmark', DR_MARK_SELECTOR, 'lookup', 'local']);
  }
}

/**
 * Removes every ip rule at RULE_PREF, flushes the tables they pointed to and
 * puts the `local` rules back (cleanup: ours or a crashed run's).
 */
export function deleteRoutes(ip: readonly string[], exec: Exec): void {
  const tables = new Set<string>();
  for (let i = 0; i < 4096; i++) {
    let line: string;
    try {
      line = exec('ip', [...ip, 'rule', 'show', 'pref', String(RULE_PREF)]).split('\n').find((l) => l.trim() !== '') ?? '';
    } catch {
      break;
    }
    if (!line) break;
    const t = /lookup (\S+)/.exec(line);
    if (t) tables.add(t[1]);
    exec('ip', [...ip, 'rule', 'del', 'pref', String(RULE_PREF)]);
  }
  for (const t of tables) {
    try { exec('ip', [...ip, 'route', 'flush', 'table', t]); } catch { /* already empty */ }
  }
  restoreLocal(ip, exec);
}

/** The DR routes of one family as installed since the last cleanup. */
export class RouteState {
  /** mark → real server with a route in table `mark` and the fwmark rule to it. */
  readonly routes = new Map<number, string>();
  /** Preferences where ours replaced a plain `lookup local` rule; null: not swapped. */
  bypass: number[] | null = null;
  get size(): number { return this.routes.size; }
}

/** One line of an `ip -batch` and what its failure means. */
interface Line { text: string; mark?: number; via?: string }

/**
 * Brings the DR routes of one family from `st` to `want` by diff, in one
 * `ip -force -batch` (plus one `ip rule show` when the local table is first
 * bypassed, and one more batch to undo the rules of routes that failed).
 * Order within the batch keeps the invariants of the synchronous path: a
 * route before its rule, our local rule before the plain one is deleted, the
 * plain one back before ours goes. Returns the routes that failed, as
 * messages; they are left out of `st` so the next change retries them.
 */
export async function syncRoutes(ip: readonly string[], st: RouteState, want: readonly DrRoute[], run: AsyncExec): Promise<string[]> {
  const wanted = new Map(want.map((r) => [r.mark, r.via]));
  const lines: Line[] = [];
  const pref = String(RULE_PREF);
  for (const mark of st.routes.keys()) {
    if (wanted.has(mark)) continue;
    lines.push({ text: `rule del pref ${pref} fwmark ${mark} table ${mark}` }, { text: `route flush table ${mark}` });
  }
  const added: number[] = [];
  for (const [mark, via] of wanted) {
    if (st.routes.get(mark) === via) continue;
    lines.push({ text: `route replace default via ${via} table ${mark}`, mark, via });
    if (!st.routes.has(mark)) {
      lines.push({ text: `rule add pref ${pref} fwmark ${mark} table ${mark}` });
      added.push(mark);
    }
  }
  let bypass = st.bypass;
  if (wanted.size && !st.bypass) {
    let list: Rule[] = [];
    try { list = JSON.parse(await run('ip', [...ip, '-j', 'rule', 'show']) || '[]') as Rule[]; } catch { /* none to swap */ }
    bypass = list.filter(isPlainLocal).map((r) => r.priority);
    for (const p of bypass) {
      lines.push({ text: `rule add pref ${p} not fwmark ${DR_MARK_SELECTOR} lookup local` }, { text: `rule del pref ${p} lookup local` });
    }
  } else if (!wanted.size && st.bypass) {
    for (const p of st.bypass) {
      lines.push({ text: `rule add pref ${p} lookup local` }, { text: `rule del pref ${p} not fwmark ${DR_MARK_SELECTOR} lookup local` });
    }
    bypass = null;
  }
  if (!lines.length) return [];
  const failed = await batch(ip, lines.map((l) => l.text), run);
  for (const mark of [...st.routes.keys()]) if (!wanted.has(mark)) st.routes.delete(mark);
  st.bypass = bypass;
  const errors: string[] = [];
  const undo: string[] = [];
  lines.forEach((l, i) => {
    if (l.mark === undefined) return;
    const why = failed.get(i);
    if (why === undefined) {
      st.routes.set(l.mark, l.via!);
      return;
    }
    errors.push(`DR real server ${l.via}: no route on a connected segment (${why})`);
    // Its rule (new or old) must not lead to an empty or stale table.
    if (st.routes.delete(l.mark) || added.includes(l.mark)) {
      undo.push(`rule del pref ${pref} fwmark ${l.mark} table ${l.mark}`, `route flush table ${l.mark}`);
    }
  });
  if (undo.length) await batch(ip, undo, run);
  return errors;
}

/** Runs one `ip -force -batch -`; returns the failed lines (0-based) with ip's message. */
async function batch(ip: readonly string[], lines: readonly string[], run: AsyncExec): Promise<Map<number, string>> {
  const failed = new Map<number, string>();
  try {
    await run('ip', [...ip, '-force', '-batch', '-'], lines.join('\n') + '\n');
  } catch (e) {
    // ip prints each failure's message, then "Command failed -:LINE" (1-based).
    const err = String((e as { stderr?: string }).stderr ?? (e as Error).message).split('\n');
    let any = false;
    err.forEach((l, i) => {
      const m = /^Command failed -:(\d+)/.exec(l.trim());
      if (!m) return;
      any = true;
      failed.set(Number(m[1]) - 1, (err[i - 1] ?? '').trim());
    });
    if (!any) throw e;
  }
  return failed;
}

/** What the kernel's route towards one tunnel real server gives the outer header. */
export interface TunnelRoute { src: string; mtu: number }

/**
 * The route towards each address (`ip route get`, one `ip -batch` for all):
 * its preferred source and its MTU (the route's own mtu metric, else the
 * device's). Addresses with no route are left out.
 */
export async function tunnelRoutes(addresses: readonly string[], run: AsyncExec, deviceMtu: (dev: string) => number): Promise<Map<string, TunnelRoute>> {
  const out = new Map<string, TunnelRoute>();
  if (!addresses.length) return out;
  let text: string;
  try {
    text = await run('ip', ['-j', '-force', '-batch', '-'], addresses.map((a) => `route get ${a}\n`).join(''));
  } catch (e) {
    text = String((e as { stdout?: string }).stdout ?? ''); // the answers for the addresses that have a route
  }
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let routes: Array<{ dst?: string; dev?: string; prefsrc?: string; metrics?: Array<{ mtu?: number }> }>;
    try { routes = JSON.parse(line); } catch { continue; }
    for (const r of routes) {
      if (!r.dst || !r.prefsrc) continue;
      const metric = r.metrics?.find((m) => m.mtu !== undefined)?.mtu;
      out.set(r.dst, { src: r.prefsrc, mtu: (metric ?? (r.dev ? deviceMtu(r.dev) : 0)) || 1500 });
    }
  }
  return out;
}

/**
 * The default tunnel source and MTU (gwConfig), for a server whose own route
 * (gwDestTunnel, set per server from the same cache) is not known yet: the
 * smallest MTU (never too big for any) and the source most servers' routes
 * use, the previous one while some still use it. `mismatched` lists the
 * servers whose own source differs from that default.
 */
export function tunnelConfig(order: readonly string[], routes: ReadonlyMap<string, TunnelRoute>, previous?: string): { src: string; mtu: number; mismatched: string[] } | null {
  const known = order.filter((a) => routes.has(a));
  if (!known.length) return null;
  const uses = new Map<string, number>();
  for (const a of known) uses.set(routes.get(a)!.src, (uses.get(routes.get(a)!.src) ?? 0) + 1);
  const src = previous !== undefined && uses.has(previous) ? previous : [...uses].sort((x, y) => y[1] - x[1])[0][0];
  return {
    src,
    mtu: Math.min(...known.map((a) => routes.get(a)!.mtu)),
    mismatched: known.filter((a) => routes.get(a)!.src !== src),
  };
}

/**
 * The routes towards the tunnel real servers, cached per address: a new
 * server is looked up when it appears, every one again on refresh (routes and
 * MTUs change under us). update() says whether anything the core uses changed.
 */
export class TunnelRouteCache {
  private readonly routes = new Map<string, TunnelRoute>();
  private last = '';
  constructor(private readonly run: AsyncExec, private readonly deviceMtu: (dev: string) => number) {}

  async update(addresses: readonly string[], refresh = false): Promise<{ src: string; mtu: number; mismatched: string[] } | null> {
    for (const a of [...this.routes.keys()]) if (!addresses.includes(a)) this.routes.delete(a);
    const look = refresh ? addresses : addresses.filter((a) => !this.routes.has(a));
    for (const [a, r] of await tunnelRoutes(look, this.run, this.deviceMtu)) this.routes.set(a, r);
    return tunnelConfig(addresses, this.routes, this.src);
  }

  private src: string | undefined;

  /** True once per distinct configuration (so the core and the log hear of each change once). */
  changed(c: { src: string; mtu: number; mismatched: string[] } | null): boolean {
    const key = JSON.stringify(c);
    if (key === this.last) return false;
    this.last = key;
    this.src = c?.src;
    return true;
  }

  /** The cached route towards one real server, if looked up. */
  route(address: string): TunnelRoute | undefined {
    return this.routes.get(address);
  }

  reset(): void {
    this.routes.clear();
    this.last = '';
    this.src = undefined;
  }
}
