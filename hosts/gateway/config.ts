// The gateway's --config file, read as the proxy reads it: rules in -S form
// (loaded by wasmvsd at start) plus `# wasmvs-proxy` directives, the same
// syntax with the same meaning. SIGHUP re-reads both and applies only the
// rules' difference, so untouched services and real servers keep their
// counters, connections and scheduler state.
import { readFileSync } from 'node:fs';
import type { Director } from '../../sdk/director.js';
import { ControlHandler } from '../../daemon/handler.js';
import type { ConfigCmd, CmdResult } from '../../ipvsadm/protocol.js';
import { wantedState, configDiff } from '../../daemon/reload.js';
import { parseSettings, type ProxySettings } from '../../daemon/settings.js';
import type { Logger } from '../../daemon/logger.js';

const EMPTY: ProxySettings = { health: [], proxyProtocol: [], options: {} };

/**
 * The directives of `file` (none without one). The proxy-only ones (PROXY
 * protocol towards backends, socket limits) have no meaning for a packet
 * forwarder: each is reported once per load and ignored.
 */
export function loadSettings(file: string | undefined, log: Logger): ProxySettings {
  if (!file) return EMPTY;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    log.error(`cannot read ${file}: ${(e as Error).message}`);
    return EMPTY;
  }
  const s = parseSettings(text, (m) => log.warn(`${file}: ${m}`));
  if (s.proxyProtocol.length) log.warn({ file }, 'proxy-protocol directives are ignored by the gateway (it forwards packets, it opens no connection to real servers)');
  if (s.limits && Object.keys(s.limits).length) log.warn({ file }, 'limits directives are ignored by the gateway (they bound the proxy\'s sockets; the core\'s memory limit bounds the table)');
  return s;
}

/**
 * SIGHUP's rules half: the commands turning the running configuration into
 * the file's, applied through `apply` (wasmvsd's: state file written,
 * configChanged called) or straight to the Director without one. Returns the
 * number of commands; refused ones and bad lines are logged.
 */
export async function reloadRules(director: Director, file: string, log: Logger, apply?: (cmds: ConfigCmd[]) => CmdResult[]): Promise<number> {
  const wanted = await wantedState(readFileSync(file, 'utf8'), file);
  for (const e of wanted.errors) log.error(`${e} (skipped)`);
  const handler = new ControlHandler(director, { size: 0, mode: 'gateway', dataPath: 'gateway', abiVersion: 0 });
  let timeouts = null;
  try { timeouts = handler.timeouts(); } catch { timeouts = null; }
  const cmds = configDiff(handler.list(), timeouts, wanted);
  const results = apply ? apply(cmds) : handler.apply(cmds, false).results;
  // Accepted changes are logged from wasmvsd's journal (configChanged); here only what it refused.
  results.forEach((r, i) => {
    if (!r.ok) log.error({ change: cmds[i] }, `config change refused: ${r.error.message}`);
    else if (!apply) log.info({ change: cmds[i] }, 'config change');
  });
  return cmds.length;
}
