// Shared test helpers: a fresh Director on the debug core, and flow builders.
import { Director } from '../sdk/index.js';
import type { ServiceKey, FlowInput, Protocol } from '../sdk/index.js';

export async function director(seed = 1, opts: { connections?: boolean | 'count' } = {}): Promise<Director> {
  return Director.create({ seed, flavor: 'debug', ...opts });
}

export const VIP = '198.18.0.1';
export const tcp80: ServiceKey = { protocol: 'tcp', address: VIP, port: 80 };

/** A flow from client 198.18.<x>.<y>:port to the VIP. */
export function flowFrom(client: string, cport = 40000, vport = 80, protocol: Protocol = 'tcp', vip = VIP): FlowInput {
  return { protocol, client: { address: client, port: cport }, virtual: { address: vip, port: vport }, now: 0 };
}

let nextPort = 10000;

/**
 * Pick `n` times, each from a client port never used before (wrapping after
 * 55000 picks), so no existing connection entry answers instead of the
 * scheduler; returns the chosen addresses ('-' when none).
 */
export function picks(d: Director, n: number, client = '198.18.9.9', vport = 80): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    nextPort = nextPort >= 65000 ? 10000 : nextPort + 1;
    out.push(d.schedule(flowFrom(client, nextPort, vport))?.dest.address ?? '-');
  }
  return out;
}
