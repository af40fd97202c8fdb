// Prepared flows: a FlowInput checked and encoded once (addresses parsed,
// ports and flags checked, the core's flow record built), for hosts that
// schedule the same flow shapes again and again. Director.schedule writes a
// prepared flow's words into the core as they are, with no check per call.
import { flowSpec } from './spec.js';
import { PROTOCOLS } from './spec.js';
import { formatAddr } from './address.js';
import { InvalidOperationError } from './errors.js';
import type { Endpoint, FlowInput, Protocol } from './types.js';

/** Only prepareFlow makes PreparedFlows: schedule() trusts their words. */
const MINT = Symbol('prepareFlow');

const PROTO_NAMES = new Map<number, Protocol>(Object.entries(PROTOCOLS).map(([k, v]) => [v, k as Protocol]));

/**
 * A flow checked and encoded once by `prepareFlow`; pass it to
 * `Director.schedule` (any director) as often as you like. Immutable. Its
 * fields say what it holds, in canonical form (addresses as the SDK formats
 * them, `tcpFlags` with the SYN default applied).
 */
export class PreparedFlow {
  readonly protocol: Protocol;
  readonly client: Readonly<Endpoint>;
  readonly virtual: Readonly<Endpoint>;
  readonly fwmark: number;
  readonly tcpFlags: number;
  /** The input's `now`: the time schedule() uses when it is not given one (then the director's clock). */
  readonly now: number | undefined;
  // The core's flow record (abi FLOW_*), word by word: af | proto << 8 | tcpflags << 16,
  // fwmark, client address ×4, virtual address ×4, cport | vport << 16 (length 0).
  readonly #w0: number;
  readonly #mark: number;
  readonly #c0: number; readonly #c1: number; readonly #c2: number; readonly #c3: number;
  readonly #v0: number; readonly #v1: number; readonly #v2: number; readonly #v3: number;
  readonly #ports: number;

  /** Use prepareFlow(flow). */
  constructor(mint: symbol, flow: FlowInput) {
    if (mint !== MINT) throw new InvalidOperationError('a PreparedFlow comes from prepareFlow(flow)');
    const f = flowSpec(flow);
    this.protocol = PROTO_NAMES.get(f.proto) as Protocol;
    this.client = Object.freeze({ address: formatAddr(f.af, f.caddr[0], f.caddr[1], f.caddr[2], f.caddr[3]), port: f.cport });
    this.virtual = Object.freeze({ address: formatAddr(f.af, f.vaddr[0], f.vaddr[1], f.vaddr[2], f.vaddr[3]), port: f.vport });
    this.fwmark = f.fwmark;
    this.tcpFlags = f.tcpflags;
    this.now = flow.now;
    this.#w0 = (f.af & 0xff) | ((f.proto & 0xff) << 8) | ((f.tcpflags & 0xff) << 16);
    this.#mark = f.fwmark >>> 0;
    this.#c0 = f.caddr[0] >>> 0; this.#c1 = f.caddr[1] >>> 0; this.#c2 = f.caddr[2] >>> 0; this.#c3 = f.caddr[3] >>> 0;
    this.#v0 = f.vaddr[0] >>> 0; this.#v1 = f.vaddr[1] >>> 0; this.#v2 = f.vaddr[2] >>> 0; this.#v3 = f.vaddr[3] >>> 0;
    this.#ports = ((f.cport & 0xffff) | ((f.vport & 0xffff) << 16)) >>> 0;
    Object.freeze(this);
  }

  /**
   * Write the record at u32 index `w` of `u` (the core's memory), as
   * writeFlowWords does (FLOW_DIR, read by the packet export only, is 0).
   * @internal
   */
  writeRecord(u: Uint32Array, w: number): void {
    u[w] = this.#w0;
    u[w + 1] = this.#mark;
    u[w + 2] = this.#c0; u[w + 3] = this.#c1; u[w + 4] = this.#c2; u[w + 5] = this.#c3;
    u[w + 6] = this.#v0; u[w + 7] = this.#v1; u[w + 8] = this.#v2; u[w + 9] = this.#v3;
    u[w + 10] = this.#ports;
    u[w + 11] = 0;
  }
}

/**
 * Check and encode a flow once (the checks and errors of
 * `Director.schedule(flow)`), for `Director.schedule(prepared, now?)`, which
 * then skips parsing and checking: the fast path for hosts that see the same
 * flows (or a known set of them) many times.
 */
export function prepareFlow(flow: FlowInput): PreparedFlow {
  return new PreparedFlow(MINT, flow);
}
