// The gateway's own counters, as numbers (for the stop/SIGUSR1 line) and as
// Prometheus series next to the proxy's (same registry, names and labels for
// services and real servers). Everything is read at scrape time: the core's
// counters, the addon's socket counters, and the kernel's per-queue counters
// in /proc/net/netfilter/nfnetlink_queue. Nothing is counted on the data path
// here.
import { Counter, Gauge, type Registry } from 'prom-client';
import { counters as C } from '../../sdk/core/abi.gen.js';
import type { NfQueueStats } from '../../native/addon.js';

/** One queue as the kernel reports it (its own namespace's file). */
export interface KernelQueue {
  queue: number;
  /** Packets waiting for a verdict now. */
  waiting: number;
  /** Dropped because the queue was at its maximum length (fail-open accepts them instead and still counts). */
  queueFull: number;
  /** Dropped because our netlink socket's buffer was full (the reader saw ENOBUFS). */
  socketFull: number;
}

/**
 * Parses /proc/net/netfilter/nfnetlink_queue: "queue portid waiting
 * copy_mode copy_range queue_dropped user_dropped id_sequence 1" per line.
 */
export function parseKernelQueues(text: string): KernelQueue[] {
  const out: KernelQueue[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/).map(Number);
    if (f.length < 7 || f.some((x) => !Number.isFinite(x))) continue;
    out.push({ queue: f[0], waiting: f[2], queueFull: f[5], socketFull: f[6] });
  }
  return out;
}

/** Core counter per packet verdict (every queued packet gets exactly one). */
export const VERDICTS = { forwarded: C.CNT_GW_FORWARDED, passed: C.CNT_GW_PASSED, dropped: C.CNT_GW_DROPPED } as const;

/** Core counter per reason a packet was malformed (dropped and counted, never fatal). */
export const MALFORMED = {
  bad_ip_header: C.CNT_PKT_MALFORMED_IP,
  truncated_l4: C.CNT_PKT_TRUNC_L4,
  bad_checksum: C.CNT_PKT_BAD_CSUM,
  truncated_record: C.CNT_GW_TRUNCATED,
} as const;

/** What the series read; the Gateway provides it. */
export interface GatewaySource {
  counter(index: number): number;
  /** Per bound queue: its number and the addon's socket counters. */
  queues(): { queue: number; stats: NfQueueStats }[];
  /** The kernel's view of the namespace's queues ([] when unreadable). */
  kernelQueues(): KernelQueue[];
  failedBursts(): number;
  /** Verdicts that waited for their real server's rules, and those that found the wait full (held.ts). */
  heldForRules?(): { held: number; full: number };
  /** SYNs that met a live connection entry no new connection may take over; their burst read the conntrack events first. */
  staleSyns?(): number;
}

function counter(registry: Registry, name: string, help: string, labelNames: string[], rows: () => { labels: Record<string, string | number>; value: number }[]): void {
  new Counter({
    name, help, labelNames, registers: [registry],
    collect() {
      this.reset();
      for (const r of rows()) this.inc(r.labels, r.value);
    },
  });
}

/** Registers the gateway's series on `registry` (the proxy's Metrics registry). */
export function registerGatewayMetrics(registry: Registry, src: GatewaySource): void {
  const ours = () => {
    const bound = new Set(src.queues().map((q) => q.queue));
    return src.kernelQueues().filter((k) => bound.has(k.queue));
  };
  counter(registry, 'wasmvs_gateway_packets_total', 'Queued packets by verdict: forwarded (rewritten, marked or encapsulated), passed (accepted untouched), dropped',
    ['verdict'], () => Object.entries(VERDICTS).map(([verdict, i]) => ({ labels: { verdict }, value: src.counter(i) })));
  counter(registry, 'wasmvs_gateway_nat_replies_total', 'NAT replies rewritten to come from the virtual service', [],
    () => [{ labels: {}, value: src.counter(C.CNT_GW_REPLIES) }]);
  counter(registry, 'wasmvs_gateway_malformed_packets_total', 'Packets dropped as malformed, by reason', ['reason'],
    () => Object.entries(MALFORMED).map(([reason, i]) => ({ labels: { reason }, value: src.counter(i) })));
  counter(registry, 'wasmvs_gateway_icmp_sent_total', 'ICMP errors the gateway answered with (TUN frag-needed)', [],
    () => [{ labels: {}, value: src.counter(C.CNT_GW_ICMP_SENT) }]);
  counter(registry, 'wasmvs_gateway_failed_bursts_total', 'Bursts the core refused, answered with the fail verdict', [],
    () => [{ labels: {}, value: src.failedBursts() }]);
  counter(registry, 'wasmvs_gateway_held_for_rules_total', 'Verdicts that waited for their real server\'s rules (held) or found the wait full and went out as the core decided (full)',
    ['outcome'], () => {
      const h = src.heldForRules?.() ?? { held: 0, full: 0 };
      return [{ labels: { outcome: 'held' }, value: h.held }, { labels: { outcome: 'full' }, value: h.full }];
    });
  counter(registry, 'wasmvs_gateway_stale_syns_total', 'Fast path: SYNs that met a live connection entry no new connection may take over (a retransmission, or a reused client port whose old flow\'s end had not reached the core); their burst read the pending conntrack destroy events first',
    [], () => [{ labels: {}, value: src.staleSyns?.() ?? 0 }]);
  counter(registry, 'wasmvs_gateway_enobufs_total', 'Reads that found the queue socket overrun (ENOBUFS): the kernel dropped packets', ['queue'],
    () => src.queues().map((q) => ({ labels: { queue: q.queue }, value: q.stats.enobufs })));
  counter(registry, 'wasmvs_gateway_netlink_errors_total', 'Error answers from the kernel to verdicts', ['queue'],
    () => src.queues().map((q) => ({ labels: { queue: q.queue }, value: q.stats.nlErrors })));
  counter(registry, 'wasmvs_gateway_foreign_messages_total', 'Netlink messages on the queue socket not sent by the kernel, dropped', ['queue'],
    () => src.queues().map((q) => ({ labels: { queue: q.queue }, value: q.stats.foreign ?? 0 })));
  counter(registry, 'wasmvs_gateway_queue_drops_total', 'Packets the kernel did not queue: queue_full (at its maximum length), socket_full (socket buffer full)',
    ['queue', 'reason'], () => ours().flatMap((k) => [
      { labels: { queue: k.queue, reason: 'queue_full' }, value: k.queueFull },
      { labels: { queue: k.queue, reason: 'socket_full' }, value: k.socketFull },
    ]));
  new Gauge({
    name: 'wasmvs_gateway_queue_waiting', help: 'Packets waiting in the kernel queue for a verdict', labelNames: ['queue'], registers: [registry],
    collect() {
      this.reset();
      for (const k of ours()) this.set({ queue: k.queue }, k.waiting);
    },
  });
}
