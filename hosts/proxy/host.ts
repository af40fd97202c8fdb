// What the TCP and UDP paths need from the proxy around them.
import type { Director } from '../../sdk/director.js';
import type { Endpoint } from '../../sdk/types.js';
import type { FlowAccounting } from './account.js';
import type { Logger } from '../../daemon/logger.js';
import type { Limits } from './limits.js';
import type { Splicer } from './splice.js';

/** A listened virtual service: key "proto|address|port". */
export interface VirtualService { key: string; protocol: 'tcp' | 'udp'; address: string; port: number }

/** A live proxied flow to one real server (TCP connection or UDP session). */
export interface Flow {
  readonly protocol: 'tcp' | 'udp';
  /** Its connection-table entry (0: none, a one-packet exchange); the flow ends when the entry expires. */
  readonly connId: number;
  readonly destId: number;
  readonly svcKey: string;
  readonly dest: Endpoint;
  /** Tear it down now (deadline reached, destination deleted with expire_nodest_conn). */
  destroy(): void;
}

/** What listeners may hold of the open-files limit (fdlimit.ts). */
export interface ListenerRoom {
  /** Fds all listeners together may hold. */
  fds: number;
  /** Fds one TCP service's listener holds (one per pump with --engine native). */
  tcp: number;
  /** The open-files limit, and the fds kept free of listeners for wasmvsadm, health checks and metrics. */
  limit: number;
  kept: number;
}

export interface Host {
  /** The core (in a worker process: connection events go to the main process's). */
  readonly director: Pick<Director, 'schedule' | 'connEvent' | 'packet' | 'destById' | 'decisionFor'>;
  readonly account: FlowAccounting;
  readonly log: Logger;
  readonly limits: Limits;
  /** The native splice pump, when TCP bytes move kernel to kernel (splice.ts); null: the JS path. */
  readonly splicer?: Splicer | null;
  /**
   * May a new UDP session (the service holding `svcOpen`) or TCP connection
   * open? A refusal is counted and logged once per spell; the caller drops
   * the datagram or resets the client.
   */
  /** `reservedTcp`: TCP connections to count beyond the open ones (the engine's threads' in flight; Infinity: none left). */
  admit(protocol: 'tcp' | 'udp', svcKey: string, svcOpen: number, reservedTcp?: number): boolean;
  /** PROXY protocol version for this service and real server, if configured. */
  proxyProtocol(svcKey: string, dest: Endpoint): 1 | 2 | undefined;
  schedulingFailed(svcKey: string, reason: string): void;
  /**
   * For the engine's threads (engine.ts): how many more TCP connections admit() would take by the
   * open counts, and whether a thread may decide a client itself (not while a service's spell of
   * refusals is on, whose end admit() sees; not when a PROXY protocol header is to be written).
   * Absent: the threads decide nothing.
   */
  tcpRoom?(): { room: number; threads: boolean };
  /** A connection to a real server failed (`reason`: errno code); logged once per failing spell. */
  connectFailed(svcKey: string, dest: Endpoint, reason: string): void;
  /** A connection to a real server succeeded (ends a failing spell). */
  connectOk(svcKey: string, dest: Endpoint): void;
  /** A TCP connection starts (true) or stops (false) waiting for its real server's answer: the tcp-pending bound. */
  pending(waiting: boolean): void;
  opened(flow: Flow): void;
  closed(flow: Flow): void;
  /**
   * The fds listeners may hold (fdlimit.ts): they hold `held` now, and `want` asks for room for that
   * many (the limit is raised if it must and may be). The flow bounds make room for `held`.
   */
  listenerRoom?(held: number, want: number): ListenerRoom;
  /** With worker processes (workers.ts): TCP listeners open in every worker instead of this process. */
  tcpListen?(vs: VirtualService): Promise<{ close(): void | Promise<void> }>;
}
