// Helpers for the connection-table tests: a director with tracking on, packets
// by flag string, and counter snapshots.
import { Director } from '../../sdk/index.js';
import type { Method, ServiceOptions, PacketResult, ConnInfo, Protocol } from '../../sdk/index.js';

export const VIP = '198.18.0.1';
export const CLIENT = '198.18.9.9';
export const RS = ['198.18.1.1', '198.18.1.2', '198.18.1.3'];

export interface Bed {
  d: Director;
  svc: { protocol: Protocol; address: string; port: number };
  /** dest id by address */
  ids: Map<string, number>;
}

/** The test build of the core (assembly/testing.ts): the shipped exports plus connForceState. */
export const TEST_CORE = new URL('../../build/wasmvs.test.wasm', import.meta.url);

export async function bed(opts: {
  method?: Method; n?: number; service?: ServiceOptions; protocol?: Protocol; port?: number; seed?: number;
  /** Run on the test build of the core (TEST_CORE) instead of the shipped one. */
  testCore?: boolean;
} = {}): Promise<Bed> {
  // WASMVS_TEST_WASM: run the suite against another core build (mutation checks).
  const wasm = process.env.WASMVS_TEST_WASM ?? (opts.testCore ? TEST_CORE : undefined);
  const d = await Director.create({ seed: opts.seed ?? 7, flavor: 'debug', wasm });
  const svc = { protocol: opts.protocol ?? 'tcp', address: VIP, port: opts.port ?? 80 };
  d.addService(svc, { scheduler: 'rr', ...opts.service });
  const ids = new Map<string, number>();
  for (const a of RS.slice(0, opts.n ?? 1)) ids.set(a, d.addDest(svc, { address: a, method: opts.method ?? 'masq' }));
  return { d, svc, ids };
}

const FLAG_BITS: Record<string, number> = { F: 0x01, S: 0x02, R: 0x04, A: 0x10 };

/** 'S', 'SA', 'A', 'F', 'FA', 'R', '' → TCP flag bits. */
export function flags(s: string): number {
  let v = 0;
  for (const c of s) v |= FLAG_BITS[c];
  return v;
}

/** A client → VIP packet. */
export function pin(b: Bed, cport: number, f: string, now: number, len = 60, client = CLIENT, vport?: number): PacketResult {
  return b.d.packet({
    protocol: b.svc.protocol, direction: 'in', client: { address: client, port: cport },
    virtual: { address: VIP, port: vport ?? b.svc.port }, flags: flags(f), length: len,
  }, now)[0];
}

/** A reply from real server `rs` (NAT) or from the VIP (DR view) to the client. */
export function pout(b: Bed, cport: number, f: string, now: number, rs = RS[0], len = 60, client = CLIENT): PacketResult {
  return b.d.packet({
    protocol: b.svc.protocol, direction: 'out', client: { address: client, port: cport },
    virtual: { address: rs, port: b.svc.port }, flags: flags(f), length: len,
  }, now)[0];
}

export function counts(b: Bed, addr = RS[0]): [number, number, number] {
  const x = b.d.destById(b.ids.get(addr)!);
  return [x.activeconns, x.inactconns, x.persistconns];
}

export function conn(b: Bed, cport: number, now: number, client = CLIENT): ConnInfo | undefined {
  return b.d.connections(now).find((c) => !c.template && c.client.port === cport && c.client.address === client);
}

export function templates(b: Bed, now: number): ConnInfo[] {
  return b.d.connections(now).filter((c) => c.template);
}

export const STATES = [
  'NONE', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT', 'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'SYNACK',
] as const;
