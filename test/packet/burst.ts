// Runs packets through gwBurst, the gateway's per-burst entry, exactly as the
// NFQUEUE host does (hosts/gateway/gateway.ts): packet records laid out as
// the addon writes them into REGION_PACKETS, one call, verdict records read
// back from REGION_LIST. The fixtures configure a Director (services, real
// servers, gwConfig) and never reach the packet functions any other way.
import { expect } from 'vitest';
import { layout as L, counters as C } from '../../sdk/core/abi.gen.js';
import type { Director } from '../../sdk/index.js';
import { director } from '../helpers.js';
import { coreOf } from '../../sdk/core/index.js';

export const STRIDE = 2048;
/** Verdict values of the addon (NF_DROP, NF_ACCEPT). */
export const DROP = 0, ACCEPT = 1;

export interface Verdict {
  id: number;
  verdict: number;
  /** GW_VF_MARK and GW_VF_PAYLOAD: what the addon sends (GW_VF_NAT_IN apart, below). */
  flags: number;
  mark: number;
  /** A NAT rewrite towards a real server (GW_VF_NAT_IN): the gateway holds it while that server's rules are missing. */
  natIn: boolean;
  /** Its real server's dest id (GW_VER_MARK of a GW_VF_NAT_IN verdict); -1 otherwise. */
  dest: number;
  /** Offset of the payload in REGION_PACKETS (payload verdicts only). */
  off: number;
  /** The payload the verdict sends, or the record's bytes as they are now when it sends none. */
  out: Uint8Array;
}

export interface BurstOptions {
  /** Clock for the burst (seconds), default 1. */
  now?: number;
  /** GW_RF_* flags of every record. */
  recFlags?: number;
  /** The packet mark of every record (fwmark services). */
  mark?: number;
  /** Record stride, default STRIDE. */
  stride?: number;
}

/** Writes `pkts` as addon records (ids 100..) into REGION_PACKETS, `stride` apart. */
export function records(d: Director, pkts: Uint8Array[], o: BurstOptions = {}): void {
  const x = coreOf(d).x;
  const stride = o.stride ?? STRIDE;
  const base = x.getIoBase();
  const dv = new DataView(x.memory.buffer);
  pkts.forEach((p, i) => {
    const r = base + L.REGION_PACKETS + i * stride;
    dv.setUint32(r + L.GW_REC_ID, 100 + i, true);
    dv.setUint32(r + L.GW_REC_MARK, o.mark ?? 0, true);
    dv.setUint32(r + L.GW_REC_LEN, p.length, true);
    dv.setUint8(r + L.GW_REC_FLAGS, o.recFlags ?? 0);
    new Uint8Array(x.memory.buffer, r + L.GW_REC_HEADER, p.length).set(p);
  });
}

/** Writes `pkts` as addon records (ids 100..), runs one burst, returns the verdicts. */
export function burst(d: Director, pkts: Uint8Array[], o: BurstOptions = {}): Verdict[] {
  const x = coreOf(d).x;
  const stride = o.stride ?? STRIDE;
  const base = x.getIoBase();
  records(d, pkts, o);
  expect(x.gwBurst(pkts.length, stride, o.now ?? 1)).toBe(pkts.length);
  const dv = new DataView(x.memory.buffer); // the burst may have grown memory
  return pkts.map((p, i) => {
    const v = base + L.REGION_LIST + i * L.GW_VER_SIZE;
    const flags = dv.getUint32(v + L.GW_VER_FLAGS, true);
    const payload = (flags & L.GW_VF_PAYLOAD) !== 0;
    const off = payload ? dv.getUint32(v + L.GW_VER_OFF, true) : 0;
    const at = payload ? off : i * stride + L.GW_REC_HEADER;
    const len = payload ? dv.getUint32(v + L.GW_VER_LEN, true) : p.length;
    // flags: what the addon acts on (mark, payload); natIn and its dest id apart (the gateway's own use).
    const natIn = (flags & L.GW_VF_NAT_IN) !== 0;
    const word = dv.getUint32(v + L.GW_VER_MARK, true);
    return {
      id: dv.getUint32(v + L.GW_VER_ID, true), verdict: dv.getUint32(v + L.GW_VER_VERDICT, true), flags: flags & ~L.GW_VF_NAT_IN,
      mark: natIn ? 0 : word, natIn, dest: natIn ? word : -1, off,
      out: new Uint8Array(x.memory.buffer, base + L.REGION_PACKETS + at, len).slice(),
    };
  });
}

/** One packet through a burst of its own. */
export const one = (d: Director, p: Uint8Array, o: BurstOptions = {}): Verdict => burst(d, [p], o)[0];

export type Method = 'masq' | 'route' | 'tunnel';
export interface Balance {
  protocol?: 'tcp' | 'udp';
  /** The service: VIP:port, or a fwmark. */
  vip?: string;
  port?: number;
  fwmark?: number;
  af?: 4 | 6;
  /** Real servers, each `address:port`-less (port `rport`). */
  dests: string[];
  rport?: number;
  method?: Method;
  /** gwConfig: tunnel source and route MTU. */
  tunSrc?: string;
  mtu?: number;
  seed?: number;
}

const ip4 = (s: string) => s.split('.').reduce((a, b) => ((a << 8) | Number(b)) >>> 0, 0);

/** A director with one rr service and its real servers, ready for bursts. */
export async function gateway(b: Balance): Promise<Director> {
  const d = await director(b.seed ?? 0x1000);
  const key = b.fwmark !== undefined
    ? { fwmark: b.fwmark, af: b.af ?? 4 }
    : { protocol: b.protocol ?? 'tcp', address: b.vip!, port: b.port! };
  d.addService(key, { scheduler: 'rr' });
  for (const a of b.dests) d.addDest(key, { address: a, port: b.rport ?? b.port ?? 0, method: b.method ?? 'masq' });
  if (b.tunSrc !== undefined) expect(coreOf(d).x.gwConfig(ip4(b.tunSrc), b.mtu ?? 1500)).toBe(0);
  return d;
}

export const counter = (d: Director, name: keyof typeof C): number => d.counter(C[name]);
