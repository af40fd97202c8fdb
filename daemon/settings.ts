// The proxy's own settings (beyond IPVS): health checks, PROXY protocol,
// metrics, conn-table options. They live in the --config file as comment
// lines, so the same file stays valid `wasmvsadm -R` / ipvsadm-restore input:
//
//   # wasmvs-proxy health -t VIP:PORT [-r RIP:PORT] [interval=S] [timeout=S] [rise=N] [fall=N] [send=TEXT] [expect=TEXT] [port=N]
//   # wasmvs-proxy proxy-protocol -t VIP:PORT [-r RIP:PORT] v1|v2
//   # wasmvs-proxy metrics 127.0.0.1:9469
//   # wasmvs-proxy option expire_nodest_conn=1 | expire_quiescent_template=1 | conn_reuse_mode=N | sloppy_tcp=1
//     (sloppy_tcp: gateway only, a proxy's connections always start with a SYN)
//   # wasmvs-proxy limits [udp-sessions=N] [udp-sessions-per-service=N] [tcp-conns=N] [connect-timeout=S]
//
// -u instead of -t for UDP services. send/expect are percent-decoded (%0D%0A).
// A bad directive is reported with its line number and skipped.
import { parseAddr } from '../sdk/address.js';

export interface HealthSettings {
  interval: number; timeout: number; rise: number; fall: number; send?: string; expect?: string;
  /** Probe this port instead of the real server's (e.g. a TCP health port of a UDP service). */
  port?: number;
}

export const HEALTH_DEFAULTS: HealthSettings = { interval: 2, timeout: 1, rise: 2, fall: 3 };

/** Which service (and optionally which dest) a directive applies to: "tcp|1.2.3.4|80". */
export interface Scope { svc: string; dest?: string }

export interface ProxySettings {
  health: { scope: Scope; settings: HealthSettings }[];
  proxyProtocol: { scope: Scope; version: 1 | 2 }[];
  metrics?: { host: string; port: number };
  options: { expireNodestConn?: boolean; expireQuiescentTemplate?: boolean; connReuseMode?: number; sloppyTcp?: boolean };
  /** Session/connection bounds and the connect timeout (limits.ts); unset ones are derived from the fd limit. */
  limits?: LimitSettings;
}

export const svcKeyText = (proto: string, address: string, port: number) => `${proto}|${address}|${port}`;
export const destKeyText = (address: string, port: number) => `${address}|${port}`;

/** "1.2.3.4:80" or "[::1]:80" → address and port; null when malformed. */
export function parseEndpoint(text: string): { address: string; port: number } | null {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  if (!m) return null;
  const a = parseAddr(m[1]);
  const port = Number(m[2]);
  if (!a || port > 65535) return null;
  return { address: m[1], port };
}

function scopeOf(words: string[]): { scope: Scope; rest: string[] } {
  const i = words.findIndex((w) => w === '-t' || w === '-u');
  if (i < 0 || !words[i + 1]) throw new Error('needs -t VIP:PORT or -u VIP:PORT');
  const svc = parseEndpoint(words[i + 1]);
  if (!svc) throw new Error(`bad service address ${words[i + 1]}`);
  const scope: Scope = { svc: svcKeyText(words[i] === '-t' ? 'tcp' : 'udp', svc.address, svc.port) };
  const rest = words.filter((_, k) => k !== i && k !== i + 1);
  const r = rest.indexOf('-r');
  if (r >= 0) {
    const d = rest[r + 1] ? parseEndpoint(rest[r + 1]) : null;
    if (!d) throw new Error(`bad real server address ${rest[r + 1] ?? ''}`);
    scope.dest = destKeyText(d.address, d.port);
    rest.splice(r, 2);
  }
  return { scope, rest };
}

function positive(name: string, v: string, integer: boolean): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)) || n > 86400) throw new Error(`bad ${name}=${v}`);
  return n;
}

function healthOf(rest: string[]): HealthSettings {
  const h: HealthSettings = { ...HEALTH_DEFAULTS };
  for (const w of rest) {
    const eq = w.indexOf('=');
    const [k, v] = eq > 0 ? [w.slice(0, eq), w.slice(eq + 1)] : [w, ''];
    if (k === 'interval' || k === 'timeout') h[k] = positive(k, v, false);
    else if (k === 'rise' || k === 'fall') h[k] = positive(k, v, true);
    else if (k === 'send' || k === 'expect') h[k] = decodeURIComponent(v);
    else if (k === 'port' && /^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 65535) h.port = Number(v);
    else throw new Error(`unknown health setting ${w}`);
  }
  return h;
}

function optionOf(rest: string[], out: ProxySettings['options']): void {
  for (const w of rest) {
    const [k, v] = w.split('=');
    if (k === 'expire_nodest_conn' && (v === '0' || v === '1')) out.expireNodestConn = v === '1';
    else if (k === 'expire_quiescent_template' && (v === '0' || v === '1')) out.expireQuiescentTemplate = v === '1';
    else if (k === 'conn_reuse_mode' && /^[0-3]$/.test(v ?? '')) out.connReuseMode = Number(v);
    else if (k === 'sloppy_tcp' && (v === '0' || v === '1')) out.sloppyTcp = v === '1';
    else throw new Error(`unknown option ${w}`);
  }
}

function directive(words: string[], out: ProxySettings): void {
  const [kind, ...args] = words;
  if (kind === 'health') {
    const { scope, rest } = scopeOf(args);
    out.health.push({ scope, settings: healthOf(rest) });
  } else if (kind === 'proxy-protocol') {
    const { scope, rest } = scopeOf(args);
    if (rest.length !== 1 || (rest[0] !== 'v1' && rest[0] !== 'v2')) throw new Error('proxy-protocol needs v1 or v2');
    out.proxyProtocol.push({ scope, version: rest[0] === 'v1' ? 1 : 2 });
  } else if (kind === 'metrics') {
    const ep = args.length === 1 ? parseEndpoint(args[0]) : null;
    if (!ep) throw new Error('metrics needs ADDRESS:PORT');
    out.metrics = { host: ep.address, port: ep.port };
  } else if (kind === 'option') {
    optionOf(args, out.options);
  } else if (kind === 'limits') {
    const l: LimitSettings = {};
    limitsOf(args, l);
    out.limits = { ...out.limits, ...l };
  } else {
    throw new Error(`unknown directive ${kind ?? ''}`);
  }
}

const PREFIX = /^#\s*wasmvs-proxy\s+/;

/** Settings from a config file's text; `warn` hears about each bad line. */
export function parseSettings(text: string, warn: (msg: string) => void = () => {}): ProxySettings {
  const out: ProxySettings = { health: [], proxyProtocol: [], options: {} };
  text.split('\n').forEach((line, i) => {
    const t = line.trim();
    if (!PREFIX.test(t)) return;
    try {
      directive(t.replace(PREFIX, '').split(/\s+/).filter((w) => w !== ''), out);
    } catch (e) {
      warn(`line ${i + 1}: ${(e as Error).message} (directive skipped)`);
    }
  });
  return out;
}

/** The most specific entry for (svc, dest): a dest match beats a service-wide one. */
export function lookup<T extends { scope: Scope }>(list: readonly T[], svc: string, dest: string): T | undefined {
  let best: T | undefined;
  for (const e of list) {
    if (e.scope.svc !== svc) continue;
    if (e.scope.dest === dest) return e;
    if (e.scope.dest === undefined) best = e;
  }
  return best;
}

/** `# wasmvs-proxy limits ...` values; anything unset takes the derived default. */
export interface LimitSettings {
  udpSessions?: number;
  udpSessionsPerService?: number;
  tcpConns?: number;
  /** TCP connections waiting for their real server's answer (half-open). */
  tcpPending?: number;
  /** Seconds to wait for a real server to accept a TCP connection. */
  connectTimeout?: number;
}

/** Parse `key=value` words of a limits directive into `out` (throws on a bad word). */
export function limitsOf(words: string[], out: LimitSettings): void {
  for (const w of words) {
    const [k, v = ''] = w.split('=');
    const n = Number(v);
    if (!/^\d+(\.\d+)?$/.test(v) || n <= 0) throw new Error(`bad limit ${w}`);
    if (k === 'connect-timeout') {
      if (n > 86400) throw new Error(`bad limit ${w}`);
      out.connectTimeout = n;
      continue;
    }
    if (!Number.isInteger(n) || n > 2 ** 31) throw new Error(`bad limit ${w}`);
    if (k === 'udp-sessions') out.udpSessions = n;
    else if (k === 'udp-sessions-per-service') out.udpSessionsPerService = n;
    else if (k === 'tcp-conns') out.tcpConns = n;
    else if (k === 'tcp-pending') out.tcpPending = n;
    else throw new Error(`unknown limit ${w}`);
  }
}
