// The control protocol between wasmvsadm and wasmvsd: one JSON object per
// line each way. Requests carry an `id` the reply echoes. Pure types and
// shape checks only (no node: imports), so the playground can reuse them.
import type { ServiceKey, ServiceOptions, DestOptions, ServiceInfo, DestInfo } from '../sdk/types.js';

export type { StatsCounters as Counters, StatsRates as Rates } from '../sdk/types.js';

/**
 * Longest request line the daemon accepts (a whole --atomic restore travels
 * as one line: PACKED_BATCH records are about 48 MB of base64). Longer lines
 * are refused by the client before sending, by the daemon while receiving.
 */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

/** A configuration change, one ipvsadm command line after local validation. */
export type { ConfigCmd } from '../sdk/commands.js';
export { PREVIEW_OPS } from '../sdk/commands.js';
export type { DestPreview, ServicePreview, ChangePreview } from '../sdk/preview.js';
import type { ConfigCmd } from '../sdk/commands.js';
import type { ChangePreview } from '../sdk/preview.js';

export type Request =
  | { id: number; op: 'hello' }
  | { id: number; op: 'apply'; cmds: ConfigCmd[]; atomic?: boolean; packed?: undefined }
  /** `count` packed records (control/bulk.ts), base64: the fast form of a big -R. */
  | { id: number; op: 'apply'; packed: string; count: number; cmds?: undefined; atomic?: boolean;
    /**
     * More packed requests of the same -R follow at once (wasmvsadm streams a
     * big restore): each is still applied and made durable before its reply,
     * but the data path is told once, after the last (or when the client goes).
     */
    more?: boolean }
  | { id: number; op: 'list'; svc?: ServiceKey }
  | { id: number; op: 'connections' }
  | { id: number; op: 'timeouts' }
  | { id: number; op: 'daemons' }
  /** The directors sharing this daemon's etcd store (--store etcd://…), with their applied revision. */
  | { id: number; op: 'directors' }
  /** What the commands would move (wasmvsadm --dry-run); nothing is changed. */
  | { id: number; op: 'preview'; cmds: ConfigCmd[] }
  | ({ id: number } & DrainRequest);

/**
 * Drain a real server (wasmvs, proxy data path): no new connections, open
 * ones continue until they end or the deadline (seconds) cuts them; `cancel`
 * ends a drain. op 'drains' only reports progress.
 */
export type DrainRequest =
  | { op: 'drain'; svc: ServiceKey; dest: { address: string; port: number }; deadline?: number | null; cancel?: boolean }
  | { op: 'drains' };

export interface DrainInfo {
  service: string;
  dest: string;
  status: 'draining' | 'drained' | 'cancelled';
  /** Connections still open to the real server (the gateway: its ActiveConn + InActConn). */
  open: number;
  activeconns: number;
  inactconns: number;
  /** Seconds left before the deadline cuts what is open, or null. */
  deadlineIn: number | null;
  forced: boolean;
  /**
   * What the deadline does to the connections left: 'reset' (the proxy,
   * the default when absent) or 'kept' (the gateway terminates no
   * connection: their table entries run on until they expire).
   */
  atDeadline?: 'reset' | 'kept';
}

export interface ErrorInfo { code: string; message: string; detail?: string }
export type CmdResult = { ok: true } | { ok: false; error: ErrorInfo };

/** A service with its destinations (IPVS list order: newest first), as -L needs it. */
export interface ServiceEntry extends ServiceInfo { dests: DestEntry[]; pe?: string }
export type DestEntry = DestInfo;

export interface ConnEntry {
  protocol: 'tcp' | 'udp' | 'sctp' | 'ip' | string;
  client: { address: string; port: number };
  virtual: { address: string; port: number };
  dest: { address: string; port: number };
  state: string;
  expires: number;
  template?: boolean;
  peName?: string;
  peData?: string;
}

export interface Hello { ipvsVersion: string; size: number; abiVersion: number; mode: string; dataPath: string }
export interface Timeouts { tcp: number; tcpfin: number; udp: number }
/** One director registered in etcd (its lease holds while it runs). */
export interface DirectorEntry {
  name: string; pid: number; host: string; mode: string;
  /** Last revision of the configuration it applied. */
  revision: number;
  connections: number;
  since: string; updated: string;
}

export interface DaemonInfo { state: 'master' | 'backup'; mcastIfn: string; syncid: number }

export type ReplyBody =
  | { hello: Hello }
  | { results: CmdResult[]; rolledBack?: boolean }
  | { done: number; failures: { index: number; error: ErrorInfo }[]; rolledBack?: boolean }
  | { size: number; services: ServiceEntry[] }
  | { connections: ConnEntry[] }
  | { timeouts: Timeouts }
  | { daemons: DaemonInfo[] }
  /** revision: of the newest configuration change in etcd (a director that applied it is current). */
  | { directors: DirectorEntry[]; revision: number }
  | { preview: ChangePreview }
  | { drains: DrainInfo[] };

export type Reply = ({ id: number; ok: true } & ReplyBody) | { id: number; ok: false; error: ErrorInfo };

const OPS = new Set(['hello', 'apply', 'list', 'connections', 'timeouts', 'daemons', 'directors', 'preview', 'drain', 'drains']);
const CMD_OPS = new Set(['add-service', 'edit-service', 'delete-service', 'flush', 'add-server', 'edit-server',
  'delete-server', 'zero', 'set', 'start-daemon', 'stop-daemon']);

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Shape check of a decoded request line. Field values are validated later by
 * the SDK (spec.ts), which throws typed errors for anything out of range.
 */
export function checkRequest(v: unknown): Request | string {
  if (!isObj(v)) return 'request is not an object';
  if (typeof v.id !== 'number' || !Number.isSafeInteger(v.id)) return 'request id must be an integer';
  if (typeof v.op !== 'string' || !OPS.has(v.op)) return `unknown request op ${JSON.stringify(v.op)}`;
  if (v.op === 'apply' && v.packed !== undefined) {
    if (typeof v.packed !== 'string') return 'packed must be a base64 string';
    if (typeof v.count !== 'number' || !Number.isSafeInteger(v.count) || v.count < 0) return 'packed needs a record count';
    if (v.atomic !== undefined && typeof v.atomic !== 'boolean') return 'atomic must be a boolean';
    if (v.more !== undefined && typeof v.more !== 'boolean') return 'more must be a boolean';
  } else if (v.op === 'apply' || v.op === 'preview') {
    if (!Array.isArray(v.cmds)) return `${v.op} needs a cmds array`;
    for (const c of v.cmds) {
      if (!isObj(c) || typeof c.op !== 'string' || !CMD_OPS.has(c.op)) return 'bad command in cmds';
      if ('svc' in c && c.svc !== undefined && !isObj(c.svc)) return 'svc must be an object';
      if ('dest' in c && !isObj(c.dest)) return 'dest must be an object';
      if ('opts' in c && !isObj(c.opts)) return 'opts must be an object';
    }
    if (v.atomic !== undefined && typeof v.atomic !== 'boolean') return 'atomic must be a boolean';
  }
  if (v.op === 'list' && v.svc !== undefined && !isObj(v.svc)) return 'svc must be an object';
  if (v.op === 'drain') {
    if (!isObj(v.svc) || !isObj(v.dest)) return 'drain needs svc and dest objects';
    if (v.deadline !== undefined && v.deadline !== null && (typeof v.deadline !== 'number' || !(v.deadline >= 0))) return 'deadline must be a number of seconds';
  }
  return v as unknown as Request;
}
