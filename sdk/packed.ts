// The packed form of the common configuration commands (so that a big
// wasmvsadm -R travels and applies without one object per line). A record is
// PACKED_WORDS u32 words; only IPv4 address services without persistence,
// flags or tunnel options fit, everything else travels as a ConfigCmd.
// Pure (no core, no node:), shared by the CLI, the daemon and the SDK.
import { layout as L } from './core/abi.gen.js';
import { METHOD_NAMES, PROTOCOLS } from './spec.js';
import { schedulerName } from './schedulers.js';
import type { ServiceKey, DestOptions, Protocol, SchedulerName } from './types.js';

/** Words per record: op|proto<<8|method<<16, vaddr, vport, sched, raddr, rport, weight, u, l. */
export const PACKED_WORDS = 9;
export const P_OP = 0, P_VADDR = 1, P_VPORT = 2, P_SCHED = 3, P_RADDR = 4, P_RPORT = 5, P_WEIGHT = 6, P_U = 7, P_L = 8;

/** Operation codes: the core's BULK_* values (table/bulk.ts). */
export const PACKED_OPS = {
  'add-service': L.BULK_ADD_SERVICE, 'edit-service': L.BULK_EDIT_SERVICE, 'delete-service': L.BULK_DELETE_SERVICE,
  'add-server': L.BULK_ADD_DEST, 'edit-server': L.BULK_EDIT_DEST, 'delete-server': L.BULK_DELETE_DEST,
} as const;
export type PackedOp = keyof typeof PACKED_OPS;
const OP_NAMES: (PackedOp | undefined)[] = [];
for (const [k, v] of Object.entries(PACKED_OPS)) OP_NAMES[v] = k as PackedOp;

export const packedOpName = (code: number): PackedOp | undefined => OP_NAMES[code];
export const isServiceOp = (code: number): boolean => code <= L.BULK_DELETE_SERVICE;

/** A growable list of packed records. */
export class PackedWriter {
  words: Uint32Array;
  count = 0;

  /** `capacity`: records expected (a hint: the writer grows as needed). */
  constructor(capacity = 1024) {
    this.words = new Uint32Array(PACKED_WORDS * Math.max(16, Math.min(capacity, 1 << 22)));
  }

  /** The next record's words, zeroed; fill them in place. */
  next(): number {
    const at = this.count * PACKED_WORDS;
    if (at + PACKED_WORDS > this.words.length) {
      const w = new Uint32Array(this.words.length * 2);
      w.set(this.words);
      this.words = w;
    }
    const w = this.words;
    for (let i = at; i < at + PACKED_WORDS; i++) w[i] = 0;
    this.count++;
    return at;
  }

  /** Append whole records. */
  append(records: Uint32Array): void {
    const at = this.count * PACKED_WORDS;
    if (at + records.length > this.words.length) {
      const w = new Uint32Array(Math.max(this.words.length * 2, at + records.length));
      w.set(this.words.subarray(0, at));
      this.words = w;
    }
    this.words.set(records, at);
    this.count += records.length / PACKED_WORDS;
  }

  /** The records so far (a view), then start over. */
  take(): Uint32Array {
    const out = this.words.slice(0, this.count * PACKED_WORDS);
    this.count = 0;
    return out;
  }
}

const PROTO_BY_NUMBER = new Map<number, Protocol>(Object.entries(PROTOCOLS).map(([k, v]) => [v, k as Protocol]));

export const ipv4Text = (w: number): string => `${w >>> 24}.${(w >>> 16) & 255}.${(w >>> 8) & 255}.${w & 255}`;

/** The protocol of a record, or undefined when the word does not name one. */
export function packedProtocol(w0: number): Protocol | undefined {
  return PROTO_BY_NUMBER.get((w0 >>> 8) & 0xff);
}

/** Record i as the ConfigCmd it stands for (tests, and backends without a packed path). */
export function packedToCmd(words: Uint32Array, i: number):
  { op: PackedOp; svc: ServiceKey; opts?: { scheduler: SchedulerName }; dest?: DestOptions } {
  const p = i * PACKED_WORDS;
  const w0 = words[p + P_OP];
  const op = packedOpName(w0 & 0xff);
  const protocol = packedProtocol(w0);
  if (op === undefined || protocol === undefined) throw new Error(`bad packed record ${i}`);
  const svc: ServiceKey = { protocol, address: ipv4Text(words[p + P_VADDR]), port: words[p + P_VPORT] };
  if (op === 'add-service' || op === 'edit-service') return { op, svc, opts: { scheduler: schedulerName(words[p + P_SCHED]) as SchedulerName } };
  if (op === 'delete-service') return { op, svc };
  const address = ipv4Text(words[p + P_RADDR]);
  const port = words[p + P_RPORT];
  if (op === 'delete-server') return { op, svc, dest: { address, port } };
  const dest: DestOptions = { address, port, weight: words[p + P_WEIGHT], method: METHOD_NAMES[(w0 >>> 16) & 0xff] };
  if (words[p + P_U]) dest.uThreshold = words[p + P_U];
  if (words[p + P_L]) dest.lThreshold = words[p + P_L];
  if (dest.method === 'tunnel') dest.tunnel = { type: 'ipip', csum: 'nocsum' };
  return { op, svc, dest };
}
