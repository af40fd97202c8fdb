// `wasmvsd gateway`'s own options, as data for wasmvsd's table (daemon/options.ts):
// its parser and --help read them without loading the gateway or the addon.
import { layout as L } from '../../sdk/core/abi.gen.js';
import { integer, oneOf, parseHostArgs, OptionError, type HostOptions, type Option, type OptionValues } from '../../daemon/options.js';
import type { GatewayOptions } from './gateway.js';

export const GATEWAY_DEFAULTS: GatewayOptions = { first: 0, last: 0, failOpen: true, burst: 64, stride: L.GW_STRIDE_PACKED };

/** --queue N|A:B: one queue, or a range of at most 64 for the kernel to balance over. */
function queues(v: string | undefined, name: string): { first: number; last: number } {
  const [a, b] = (v ?? '').split(':');
  const first = integer(0, 65535)(a, name);
  return { first, last: b === undefined ? first : integer(first, Math.min(65535, first + 63))(b, name) };
}

const OPTIONS: readonly Option[] = [
  { name: '--cleanup', modes: 'gateway', help: 'remove what a gateway killed without its cleanup left (rules, routes, recorded sysctls) and exit; nothing is touched while a daemon answers on --socket' },
  { name: '--queue', arg: 'N|A:B', modes: 'gateway', parse: queues, help: 'NFQUEUE number or range (default 0)' },
  { name: '--fail-open', modes: 'gateway', key: 'failOpen', set: true, help: 'while no consumer is bound the kernel accepts VIP packets (default)' },
  { name: '--fail-closed', modes: 'gateway', key: 'failOpen', set: false, help: 'while no consumer is bound the kernel drops them' },
  { name: '--burst', arg: 'N', modes: 'gateway', parse: integer(1, L.MAX_BATCH), help: 'packets read and decided per burst (default 64)' },
  { name: '--stride', arg: 'BYTES', modes: 'gateway', parse: integer(256, 65536), help: 'bytes per packet record, a multiple of 4 (default: packed records, each as long as its packet, up to 65531)' },
  { name: '--verdict', arg: 'batch|per-packet', modes: 'gateway', parse: oneOf(['batch', 'per-packet'] as const), help: 'verdicts batched per burst (default) or one message per packet' },
  { name: '--fast-path', arg: 'on|off', modes: 'gateway', parse: (v, name) => oneOf(['on', 'off'] as const)(v, name) === 'on', help: 'IPv4 and IPv6 NAT and DR services: queue only new flows, the kernel carries the rest (NAT: conntrack + an nftables DNAT map; DR: an nftables flow map); TUN and fwmark services stay on the userspace path (default on where nft and ctnetlink work, else a warn line says why and every packet crosses userspace; docs/gateway.md)' },
  { name: '--queue-threads', arg: 'on|off', modes: 'gateway', parse: (v, name) => oneOf(['on', 'off'] as const)(v, name) === 'on', help: 'each queue read and decided on a thread of its own, on the native core; Node\'s thread sees only the bursts it hands over (default on where the addon has the native core, built with wasm2c, else an info line says why; docs/gateway.md)' },
];

export const GATEWAY_OPTIONS: HostOptions = { mode: 'gateway', options: OPTIONS, settle: gatewayOptions };

/**
 * The gateway's settings as `wasmvsd gateway` runs it: GATEWAY_DEFAULTS with
 * the fast path on, and the values given (--cleanup is wasmvsd's, not the
 * gateway's), checked together.
 */
export function gatewayOptions(values: OptionValues): GatewayOptions {
  const o: GatewayOptions = { ...GATEWAY_DEFAULTS, fastPath: true };
  const q = values.queue as { first: number; last: number } | undefined;
  if (q) { o.first = q.first; o.last = q.last; }
  if (values.failOpen !== undefined) o.failOpen = values.failOpen as boolean;
  if (values.burst !== undefined) o.burst = values.burst as number;
  if (values.stride !== undefined) o.stride = values.stride as number;
  if (values.verdict !== undefined) o.verdict = values.verdict as GatewayOptions['verdict'];
  if (values.fastPath !== undefined) o.fastPath = values.fastPath as boolean;
  if (values.queueThreads !== undefined) o.queueThreads = values.queueThreads as boolean;
  if (o.stride % 4 !== 0) throw new OptionError(`--stride must be a multiple of 4, got ${o.stride}`);
  if (o.stride !== L.GW_STRIDE_PACKED && o.burst * o.stride > L.REGION_PACKETS_SIZE) {
    throw new OptionError(`--burst ${o.burst} × --stride ${o.stride} exceeds the core's packet region (${L.REGION_PACKETS_SIZE} bytes)`);
  }
  return o;
}

const USAGE = `gateway options: ${OPTIONS.filter((o) => o.name !== '--cleanup').map((o) => o.name + (o.arg ? ` ${o.arg}` : '')).join(', ')}`;

/** The gateway's options from an argv of its own (the Gateway used without wasmvsd); throws with a clear message. */
export function parseGatewayArgs(argv: readonly string[]): GatewayOptions {
  let values: OptionValues;
  try {
    values = parseHostArgs(argv, GATEWAY_OPTIONS, (raw) => `unknown gateway option ${raw}`);
  } catch (e) {
    throw e instanceof OptionError ? new Error(`${e.message}; ${USAGE}`) : e;
  }
  return gatewayOptions(values);
}
