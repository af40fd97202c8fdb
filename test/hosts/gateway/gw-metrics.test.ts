// The gateway's Prometheus series (no root needed): the kernel's queue file
// parsed, every counter read at scrape time from the core, the addon and the
// kernel, only for the gateway's own queues.
import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { counters as C } from '../../../sdk/core/abi.gen.js';
import { parseKernelQueues, registerGatewayMetrics, type GatewaySource } from '../../../hosts/gateway/metrics.js';

const PROC = [
  '    0  12345     0 2 65531     0     0        0  1',
  '    7  23456     3 2  4076    11     5     1234  1',
  '    8  23457     0 2  4076     0     2      999  1',
].join('\n');

describe('gateway metrics', () => {
  it('parses /proc/net/netfilter/nfnetlink_queue: waiting, queue-full and socket-full drops per queue', () => {
    expect(parseKernelQueues(PROC)).toEqual([
      { queue: 0, waiting: 0, queueFull: 0, socketFull: 0 },
      { queue: 7, waiting: 3, queueFull: 11, socketFull: 5 },
      { queue: 8, waiting: 0, queueFull: 0, socketFull: 2 },
    ]);
    expect(parseKernelQueues('')).toEqual([]);
    expect(parseKernelQueues('garbage line\n')).toEqual([]);
  });

  it('packets by verdict, malformed by reason, queue drops and ENOBUFS of our queues only, read at scrape time', async () => {
    const values = new Map<number, number>([[C.CNT_GW_FORWARDED, 40], [C.CNT_GW_PASSED, 2], [C.CNT_GW_DROPPED, 5],
      [C.CNT_PKT_TRUNC_L4, 3], [C.CNT_GW_REPLIES, 17]]);
    const stats = { packets: 0, enobufs: 4, nlErrors: 0, malformed: 0, verdictMsgs: 0, sends: 0, foreign: 2 };
    const src: GatewaySource = {
      counter: (i) => values.get(i) ?? 0,
      queues: () => [{ queue: 7, stats }, { queue: 8, stats: { ...stats, enobufs: 0 } }],
      kernelQueues: () => parseKernelQueues(PROC),
      failedBursts: () => 1,
      heldForRules: () => ({ held: 6, full: 0 }),
      staleSyns: () => 9,
    };
    const registry = new Registry();
    registerGatewayMetrics(registry, src);
    const text = await registry.metrics();
    const lines = text.split('\n').filter((l) => l && !l.startsWith('#'));
    expect(lines).toEqual(expect.arrayContaining([
      'wasmvs_gateway_packets_total{verdict="forwarded"} 40',
      'wasmvs_gateway_packets_total{verdict="passed"} 2',
      'wasmvs_gateway_packets_total{verdict="dropped"} 5',
      'wasmvs_gateway_nat_replies_total 17',
      'wasmvs_gateway_malformed_packets_total{reason="truncated_l4"} 3',
      'wasmvs_gateway_malformed_packets_total{reason="bad_checksum"} 0',
      'wasmvs_gateway_failed_bursts_total 1',
      'wasmvs_gateway_held_for_rules_total{outcome="held"} 6',
      'wasmvs_gateway_held_for_rules_total{outcome="full"} 0',
      'wasmvs_gateway_stale_syns_total 9',
      'wasmvs_gateway_enobufs_total{queue="7"} 4',
      'wasmvs_gateway_foreign_messages_total{queue="7"} 2',
      'wasmvs_gateway_queue_drops_total{queue="7",reason="queue_full"} 11',
      'wasmvs_gateway_queue_drops_total{queue="7",reason="socket_full"} 5',
      'wasmvs_gateway_queue_drops_total{queue="8",reason="socket_full"} 2',
      'wasmvs_gateway_queue_waiting{queue="7"} 3',
    ]));
    expect(lines.filter((l) => l.includes('queue="0"'))).toEqual([]); // someone else's queue
    values.set(C.CNT_GW_FORWARDED, 41);
    expect(await registry.metrics()).toContain('wasmvs_gateway_packets_total{verdict="forwarded"} 41');
  });
});
