// A scenario is everything needed to replay a run bit for bit: configuration
// (ipvsadm commands), traffic model, seed and timed events. It round-trips
// through the URL fragment.
export type DurationKind = 'fixed' | 'exp' | 'pareto';

export interface Traffic {
  /** New connections per simulated second. */
  rate: number;
  /** Connection duration model, mean in seconds. */
  duration: { kind: DurationKind; mean: number };
  /** Number of distinct client addresses (198.18.128.0/17 is used for clients). */
  clients: number;
  protocol: 'tcp' | 'udp';
}

export interface TimedEvent { at: number; cmd: string }

export interface Scenario {
  seed: number;
  config: string[];
  traffic: Traffic;
  events: TimedEvent[];
  /** Simulated seconds a "run" covers. */
  seconds: number;
}

export const DEFAULT_SCENARIO: Scenario = {
  seed: 42,
  config: [
    '-A -t 198.18.0.1:80 -s wlc',
    '-a -t 198.18.0.1:80 -r 198.18.1.1:80 -m -w 1',
    '-a -t 198.18.0.1:80 -r 198.18.1.2:80 -m -w 2',
    '-a -t 198.18.0.1:80 -r 198.18.1.3:80 -m -w 3',
  ],
  traffic: { rate: 20, duration: { kind: 'exp', mean: 5 }, clients: 500, protocol: 'tcp' },
  events: [],
  seconds: 60,
};

function toBase64Url(s: string): string {
  const bytes = new TextEncoder().encode(s);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64Url(s: string): string {
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/'));
  return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
}

export function encodeScenario(s: Scenario): string {
  return toBase64Url(JSON.stringify(s));
}

/** Decode and validate; throws an Error with a readable message on bad input. */
export function decodeScenario(text: string): Scenario {
  let v: unknown;
  try {
    v = JSON.parse(fromBase64Url(text));
  } catch {
    throw new Error('the shared scenario in this link is not readable');
  }
  const s = v as Scenario;
  const num = (x: unknown, lo: number, hi: number) => typeof x === 'number' && Number.isFinite(x) && x >= lo && x <= hi;
  const ok = s && typeof s === 'object' && num(s.seed, 0, 2 ** 32) && Array.isArray(s.config)
    && s.config.every((c) => typeof c === 'string') && s.traffic && num(s.traffic.rate, 0, 10000)
    && num(s.traffic.clients, 1, 1_000_000) && (s.traffic.protocol === 'tcp' || s.traffic.protocol === 'udp')
    && s.traffic.duration && ['fixed', 'exp', 'pareto'].includes(s.traffic.duration.kind)
    && num(s.traffic.duration.mean, 0, 86400) && Array.isArray(s.events)
    && s.events.every((e) => e && num(e.at, 0, 1e7) && typeof e.cmd === 'string') && num(s.seconds, 1, 86400);
  if (!ok) throw new Error('the shared scenario in this link is incomplete or out of range');
  return s;
}
