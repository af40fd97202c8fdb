// Rules for the state-file journal: after a command succeeds, the line that
// replays it, rendered from the resulting state (so it is exactly what the
// daemon holds, whoever sent the command). null = "rewrite the whole file".
import type { Director } from '../sdk/director.js';
import type { ServiceKey } from '../sdk/types.js';
import { parseAddr, formatAddr } from '../sdk/address.js';
import { ruleService, serviceRule, destRule } from '../ipvsadm/save.js';
import { NUMERIC, endpointName } from '../ipvsadm/names.js';
import type { ConfigCmd } from '../ipvsadm/protocol.js';

function canonical(address: string): { af: 4 | 6; text: string } | null {
  const a = parseAddr(address);
  return a ? { af: a.af, text: formatAddr(a.af, a.w[0], a.w[1], a.w[2], a.w[3]) } : null;
}

function keyRule(key: ServiceKey): string | null {
  if ('fwmark' in key) return ruleService({ fwmark: key.fwmark, af: key.af ?? 4, protocol: null, address: null, port: 0 }, NUMERIC);
  const a = canonical(key.address);
  return a ? ruleService({ fwmark: 0, af: a.af, protocol: key.protocol, address: a.text, port: key.port }, NUMERIC) : null;
}

const METHOD_OPT: Record<string, string> = { masq: '-m', tunnel: '-i', route: '-g', local: '-g' };

/** The replay line straight from a fully specified -a/-e (what wasmvsadm sends); null otherwise. */
function destLineFromCmd(c: Extract<ConfigCmd, { op: 'add-server' | 'edit-server' }>): string | null {
  const k = keyRule(c.svc);
  const a = canonical(c.dest.address);
  const t = c.dest.tunnel;
  if (!k || !a || c.dest.port === undefined || (t !== undefined && c.dest.method !== 'tunnel')) return null;
  let line = `${c.op === 'add-server' ? '-a' : '-e'} ${k} -r ${endpointName(a.af, a.text, c.dest.port, 'tcp', NUMERIC)}`;
  line += ` ${METHOD_OPT[c.dest.method ?? 'route']} -w ${c.dest.weight ?? 1}`;
  if (c.dest.method === 'tunnel' && t) {
    const type = t.type ?? 'ipip';
    if (type === 'gue') line += ` --tun-type gue --tun-port ${t.port} --tun-${t.csum ?? 'nocsum'}`;
    else if (type === 'gre') line += ` --tun-type gre --tun-${t.csum ?? 'nocsum'}`;
    else line += ' --tun-type ipip';
  }
  if (c.dest.uThreshold) line += ` -x ${c.dest.uThreshold}`;
  if (c.dest.lThreshold) line += ` -y ${c.dest.lThreshold}`;
  return line;
}

export function journalLine(d: Director, c: ConfigCmd): string | null | '' {
  switch (c.op) {
    case 'add-service': case 'edit-service': {
      const s = d.service(c.svc);
      return serviceRule({ ...s, dests: [] }, ruleService(s, NUMERIC), c.op === 'add-service' ? '-A' : '-E');
    }
    case 'delete-service': { const k = keyRule(c.svc); return k && `-D ${k}`; }
    case 'flush': return '-C';
    case 'add-server': case 'edit-server': {
      const fast = destLineFromCmd(c);
      if (fast !== null) return fast;
      const s = d.service(c.svc);
      const a = canonical(c.dest.address);
      const port = c.dest.port ?? s.port;
      const dest = a && d.dests(c.svc).find((x) => x.address === a.text && x.port === port);
      if (!dest) return null;
      return destRule(s, dest, ruleService(s, NUMERIC), NUMERIC, true, c.op === 'add-server' ? '-a' : '-e');
    }
    case 'delete-server': {
      const k = keyRule(c.svc);
      const a = canonical(c.dest.address);
      const port = c.dest.port ?? d.service(c.svc).port;
      return k && a && `-d ${k} -r ${endpointName(a.af, a.text, port, 'tcp', NUMERIC)}`;
    }
    case 'set': return `--set ${c.tcp} ${c.tcpfin} ${c.udp}`;
    default: return '';
  }
}
