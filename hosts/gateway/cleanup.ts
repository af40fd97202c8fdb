// `wasmvsd gateway --cleanup`: removes everything a gateway of this network
// namespace left after a crash or a kill -9 (the netfilter chains and jumps,
// the DR ip rules and routes, the `local`-table rule swap, the sysctls it
// recorded) without binding a queue or starting a daemon. Loaded by wasmvsd
// on demand, like the data path, so the SDK does not depend on the gateway.
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { removeMadeTables, removeRules, run, type Exec } from './rules.js';
import { removeFast } from './fastpath.js';
import { restoreRecorded, SysctlRecordFile, type SysctlRecord } from './sysctl-record.js';

/** True when a daemon answers on the control socket: its rules are live, not left over. */
export function socketAnswers(path: string, ms = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const timer = setTimeout(() => { s.destroy(); resolve(true); }, ms); // a daemon too busy to accept is still there
    s.once('connect', () => { clearTimeout(timer); s.destroy(); resolve(true); });
    s.once('error', () => { clearTimeout(timer); resolve(false); });
  });
}

export interface CleanupDeps { exec?: Exec; write?: (path: string, value: string) => void; record?: SysctlRecord }

/**
 * Removes a dead gateway's rules and routes and restores its recorded sysctls.
 * Returns the exit status: 0 when everything left is gone, 1 when something
 * could not be removed or restored (each said in the log) or when a daemon
 * still answers on `socket` (nothing is touched then).
 */
export async function cleanupGateway(socket: string, recordPath: string, log: (m: string) => void, deps: CleanupDeps = {}): Promise<number> {
  if (await socketAnswers(socket)) {
    log(`cleanup: a daemon answers on ${socket}; stop it (SIGTERM) instead, it removes its own rules`);
    return 1;
  }
  let status = 0;
  try {
    removeRules(deps.exec ?? run);
    const fast = removeFast(deps.exec ?? run);
    if (fast.length) log(`cleanup: removed the fast-path nftables table${fast.length > 1 ? 's' : ''} ${fast.join(', ')}`);
    log('cleanup: no gateway chain, jump, DR rule or route left; the plain `lookup local` rules are back');
  } catch (e) {
    log(`cleanup: cannot remove the gateway's rules: ${(e as Error).message}`);
    status = 1;
  }
  const { restored, problems, tables } = restoreRecorded(deps.record ?? new SysctlRecordFile(recordPath), deps.write ?? ((p, v) => writeFileSync(p, v)));
  log(restored.length ? `cleanup: sysctls restored: ${restored.join(' ')}` : `cleanup: no sysctl to restore (${recordPath} holds none)`);
  // The iptables-nft tables the dead run made, now that our chains are gone (empty but hooked otherwise).
  const gone = removeMadeTables(tables, deps.exec ?? run);
  if (gone.length) log(`cleanup: removed the empty iptables tables the gateway had made: ${gone.join(', ')}`);
  for (const m of problems) log(`cleanup: ${m}`);
  return problems.length ? 1 : status;
}
