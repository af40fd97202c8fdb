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
import { layout as L } from '../../sdk/src/core/abi.gen.js';
import type { Exec } from './rules.js';

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

/**
 * Makes DR marks skip the `local` table: at each plain `lookup local` rule's
 * preference, ours is added first and the plain one deleted after, so no
 * packet ever sees neither.
 */
function bypassLocal(ip: readonly string[], exec: Exec): void {
  for (const r of rules(ip, exec).filter(isPlainLocal)) {
    const pref = String(r.priority);
    try {
      exec('ip', [...ip, 'rule', 'add', 'pref', pref, 'not', 'fwmark', DR_MARK_SELECTOR, 'lookup', 'local']);
    } catch { /* already there (a crashed run's) */ }
    // Deletes the first `lookup local` at pref in list order: the plain one, older than ours.
    exec('ip', [...ip, 'rule', 'del', 'pref', pref, 'lookup', 'local']);
  }
}

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

/** Installs the DR routes of one family; returns the ones that failed, as messages. */
export function applyRoutes(ip: readonly string[], routes: readonly DrRoute[], exec: Exec): string[] {
  deleteRoutes(ip, exec, routes.length > 0);
  const errors: string[] = [];
  for (const r of routes) {
    try {
      exec('ip', [...ip, 'route', 'replace', 'default', 'via', r.via, 'table', String(r.mark)]);
      exec('ip', [...ip, 'rule', 'add', 'pref', String(RULE_PREF), 'fwmark', String(r.mark), 'table', String(r.mark)]);
    } catch (e) {
      errors.push(`DR real server ${r.via}: no route on a connected segment (${String((e as Error).message).split('\n').slice(-2).join(' ').trim()})`);
    }
  }
  if (routes.length) bypassLocal(ip, exec);
  return errors;
}

/**
 * Removes every ip rule at RULE_PREF and flushes the tables they pointed to;
 * unless `keepLocal` (routes follow at once), puts the `local` rules back.
 */
export function deleteRoutes(ip: readonly string[], exec: Exec, keepLocal = false): void {
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
  if (!keepLocal) restoreLocal(ip, exec);
}
