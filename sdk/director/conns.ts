// Director's connection table: timers, listings, socket events, packets,
// timeouts and options (the work is in ../conns.ts). A layer of Director (see
// services.ts for the chain).
import type { Core } from '../core/core.js';
import { errorFromStatus } from '../errors.js';
import * as conns from '../conns.js';
import type { ConnInfo, ConnEventName, ConnState, ConnOptions, Timeouts, PacketInput, PacketResult } from '../conns.js';
import { DirectorServices } from './services.js';
import type { EndpointCache } from './scheduling.js';

export abstract class DirectorConns extends DirectorServices {
  readonly #core: Core;

  protected constructor(core: Core, endpoints: EndpointCache) {
    super(core, endpoints);
    this.#core = core;
  }

  /** Seconds as the core sees them (u32); Director's clock. */
  abstract now(at?: number): number;

  /** Run timers up to `now` (expiry, template re-arm, estimator, scheduler tick); returns entries expired. */
  advance(now?: number): number {
    const n = this.#core.x.advance(this.now(now));
    if (n < 0) throw errorFromStatus(n, 'other');
    return n;
  }

  /** Every live connection and persistence template (ipvsadm -Lc), in table order. */
  connections(now?: number): ConnInfo[] {
    return conns.listConns(this.#core, this.now(now));
  }

  /**
   * The same entries a page (up to ~1,000) at a time: a host that serves
   * listings of millions of connections can yield between pages instead of
   * building one array. Not a snapshot: see conns.connPages.
   */
  connectionPages(now?: number): Generator<ConnInfo[]> {
    return conns.connPages(this.#core, this.now(now));
  }

  /** One entry by id, or null once it has expired. */
  connection(id: number, now?: number): ConnInfo | null {
    return conns.getConn(this.#core, id, this.now(now));
  }

  /** Live entries (connections + templates). */
  connectionCount(): number {
    return this.#core.x.connCount();
  }

  /** Socket lifecycle for hosts that see sockets (the proxy); returns the new state. */
  connEvent(id: number, event: ConnEventName, now?: number): ConnState {
    return conns.connEvent(this.#core, id, event, this.now(now));
  }

  /** Packets through the connection table (the gateway); one result per packet. */
  packet(list: PacketInput | readonly PacketInput[], now?: number): PacketResult[] {
    return conns.packets(this.#core, Array.isArray(list) ? list : [list as PacketInput], this.now(now));
  }

  /** ipvsadm --set tcp tcpfin udp: omitted or 0 leaves a value unchanged. */
  setTimeouts(t: Partial<Timeouts>): void {
    conns.setTimeouts(this.#core, t);
  }

  /** ipvsadm --list --timeout: { tcp, tcpfin, udp } (default 900 120 300). */
  timeouts(): Timeouts {
    return conns.getTimeouts(this.#core);
  }

  /** IPVS sysctls of the connection table plus the connection limit. */
  setOptions(o: ConnOptions): void {
    conns.setConnOptions(this.#core, o);
  }

  options(): Required<ConnOptions> {
    return conns.getConnOptions(this.#core);
  }

  /** conn_tab_size as ipvsadm prints it ("size=4096"). */
  connTabSize(): number {
    return this.#core.x.connTabSize();
  }
}
