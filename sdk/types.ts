// Public shapes of the SDK (names follow ipvsadm/IPVS).
import type { SchedulerName, SchedFlag } from './schedulers.js';

export type Protocol = 'tcp' | 'udp' | 'sctp';
export type Method = 'route' | 'masq' | 'tunnel' | 'local';
export type { SchedulerName, SchedFlag };

/** A virtual service: protocol + VIP + port, or a firewall mark. */
export type ServiceKey =
  | { protocol: Protocol; address: string; port: number }
  | { fwmark: number; af?: 4 | 6 };

export interface ServiceOptions {
  /** IPVS scheduler name; default 'wlc'. */
  scheduler?: SchedulerName;
  /** Persistence: true for 360 s, or a timeout in seconds (1..2678400); default none. */
  persistent?: boolean | number;
  /** Persistence granularity: IPv4 dotted mask, or IPv6 prefix length. */
  netmask?: string | number;
  /** Scheduler flags (-b). */
  flags?: SchedFlag[];
  /** One-packet scheduling (-o), UDP and fwmark services only. */
  ops?: boolean;
  /** Maglev table size M for mh (a prime IPVS supports); default 4093. */
  mhTableSize?: number;
}

export interface TunnelOptions {
  type?: 'ipip' | 'gue' | 'gre';
  port?: number;
  csum?: 'nocsum' | 'csum' | 'remcsum';
}

export interface DestOptions {
  address: string;
  /** Real port; default the service's port (0 for fwmark services). */
  port?: number;
  /** 0..65535, default 1. */
  weight?: number;
  /** Forwarding method; default 'route' (ipvsadm -g). */
  method?: Method;
  /** Upper connection threshold (-x), 0 = none. */
  uThreshold?: number;
  /** Lower connection threshold (-y), 0 = none. */
  lThreshold?: number;
  tunnel?: TunnelOptions;
}

export interface ServiceInfo {
  id: number;
  protocol: Protocol | null;
  af: 4 | 6;
  address: string | null;
  port: number;
  fwmark: number;
  scheduler: SchedulerName | string;
  flags: SchedFlag[];
  /** Persistence timeout in seconds, or 0 when not persistent. */
  persistent: number;
  netmask: string | number;
  ops: boolean;
  mhTableSize: number;
  destCount: number;
  /** Traffic counters since the last -Z (ipvsadm --stats). */
  stats: StatsCounters;
  /** Rate estimates (ipvsadm --rate). */
  rates: StatsRates;
}

export interface DestInfo {
  id: number;
  address: string;
  af: 4 | 6;
  port: number;
  weight: number;
  method: Method;
  uThreshold: number;
  lThreshold: number;
  tunnel: Required<TunnelOptions>;
  available: boolean;
  overloaded: boolean;
  activeconns: number;
  inactconns: number;
  persistconns: number;
  /** Traffic counters since the last -Z (ipvsadm --stats); kept while in the trash. */
  stats: StatsCounters;
  /** Rate estimates (ipvsadm --rate). */
  rates: StatsRates;
}

/** A destination's configuration and state without its counters (Director.configuration()). */
export type DestConfig = Omit<DestInfo, 'stats' | 'rates'>;

/** A service's configuration without its counters, with its destinations (Director.configuration()). */
export interface ServiceConfig extends Omit<ServiceInfo, 'stats' | 'rates'> {
  dests: DestConfig[];
}

export interface Endpoint { address: string; port: number }

export interface FlowInput {
  protocol: Protocol;
  client: Endpoint;
  virtual: Endpoint;
  /** Packet firewall mark (fwmark services). */
  fwmark?: number;
  /** Seconds; default the director's clock. */
  now?: number;
  /** TCP flag bits of the packet (FIN 0x01, SYN 0x02, RST 0x04, ACK 0x10); default SYN. */
  tcpFlags?: number;
}

export interface Decision {
  /** Connection handle, 0 when none is kept (one-packet scheduling). */
  id: number;
  dest: Endpoint;
  destId: number;
  method: Method;
}

export type BatchResult =
  | ({ ok: true } & Decision)
  | { ok: false; reason: BatchFailure; status: number };

/**
 * Why a flow got no decision: no usable dest, no service, port mismatch, a TCP
 * packet that cannot start a connection (no SYN, or RST), the connection's dest
 * was deleted (dropped), the connection limit, or bad input.
 */
export type BatchFailure =
  | 'no-destination' | 'not-ours' | 'port-mismatch' | 'no-connection' | 'drop' | 'full' | 'invalid';

/**
 * IPVS traffic counters, after the -Z baseline (exact up to 2^53; the core
 * keeps them as 64-bit integers). outpkts/outbytes count only replies that
 * pass the director (NAT), as in IPVS.
 */
export interface StatsCounters { conns: number; inpkts: number; outpkts: number; inbytes: number; outbytes: number }

/** IPVS rate estimates per second, rounded exactly as ipvsadm --rate shows them. */
export interface StatsRates { cps: number; inpps: number; outpps: number; inbps: number; outbps: number }

export interface StatsSnapshot { stats: StatsCounters; rates: StatsRates }
