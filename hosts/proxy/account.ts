// Byte and chunk accounting of proxied flows, flushed into the core once per
// tick (never per chunk). Each flush of a flow with traffic sends one packet
// per direction through the connection table — which counts it, runs the
// (neutral) ACK transition and re-arms the entry's timer exactly as a packet
// would in IPVS — and adds the remaining chunks with the stats feed. A chunk
// read from a socket stands for a packet: InPkts/OutPkts count chunks.
import type { Director } from '../../sdk/director.js';
import type { PacketInput } from '../../sdk/conns.js';
import { coreOf } from '../../sdk/core/index.js';
import type { Endpoint, Method } from '../../sdk/types.js';

export interface Tracked {
  protocol: 'tcp' | 'udp';
  client: Endpoint;
  vip: Endpoint;
  dest: Endpoint;
  destId: number;
  method: Method;
  /** Bytes and chunks not yet given to the core. */
  inBytes: number; inChunks: number; outBytes: number; outChunks: number;
  /** In the pending set (a flag check per chunk instead of a hash lookup). */
  queued: boolean;
}

export function tracked(protocol: 'tcp' | 'udp', client: Endpoint, vip: Endpoint, dest: Endpoint, destId: number, method: Method): Tracked {
  return { protocol, client, vip, dest, destId, method, inBytes: 0, inChunks: 0, outBytes: 0, outChunks: 0, queued: false };
}

/** What a flow's sockets report their traffic to (Accounting; in a worker process, its forwarder). */
export interface FlowAccounting {
  in(t: Tracked, bytes: number): void;
  out(t: Tracked, bytes: number): void;
  /** Traffic counted elsewhere (the splice pump): bytes and chunks of both directions at once. */
  add(t: Tracked, inBytes: number, inChunks: number, outBytes: number, outChunks: number): void;
  /** The flow's sockets are gone. */
  close(t: Tracked): void;
}

/** Largest length one packet record carries (u32 in the core). */
const MAX_LEN = 0xffffffff;

export class Accounting implements FlowAccounting {
  private readonly pending = new Set<Tracked>();

  constructor(private readonly director: Director) {}

  /** Client → server traffic (TCP; UDP datagrams in go through the table one by one). */
  in(t: Tracked, bytes: number): void {
    t.inBytes += bytes;
    t.inChunks++;
    if (!t.queued) { t.queued = true; this.pending.add(t); }
  }

  out(t: Tracked, bytes: number): void {
    t.outBytes += bytes;
    t.outChunks++;
    if (!t.queued) { t.queued = true; this.pending.add(t); }
  }

  /** Traffic counted elsewhere (the splice pump, a worker process's flow): bytes and chunks of both directions at once. */
  add(t: Tracked, inBytes: number, inChunks: number, outBytes: number, outChunks: number): void {
    t.inBytes += inBytes; t.inChunks += inChunks;
    t.outBytes += outBytes; t.outChunks += outChunks;
    if (!t.queued && (inChunks > 0 || outChunks > 0)) { t.queued = true; this.pending.add(t); }
  }

  /** Give everything pending to the core (each tick, in one batch). */
  flush(now?: number): void {
    if (this.pending.size === 0) return;
    const packets: PacketInput[] = [];
    const owners: { t: Tracked; dir: 'in' | 'out'; bytes: number }[] = [];
    const all = [...this.pending];
    this.pending.clear();
    for (const t of all) {
      t.queued = false;
      if (t.inChunks > 0) {
        const bytes = Math.min(t.inBytes, MAX_LEN);
        packets.push({ protocol: t.protocol, direction: 'in', client: t.client, virtual: t.vip, flags: { ack: true }, length: bytes });
        owners.push({ t, dir: 'in', bytes });
      }
      if (t.outChunks > 0) {
        // Replies are looked up by their source: the real server for Masq, the VIP otherwise.
        const src = t.method === 'masq' ? t.dest : t.vip;
        const bytes = Math.min(t.outBytes, MAX_LEN);
        packets.push({ protocol: t.protocol, direction: 'out', client: t.client, virtual: src, flags: { ack: true }, length: bytes });
        owners.push({ t, dir: 'out', bytes });
      }
    }
    let results: { ok: boolean }[] = [];
    try {
      results = this.director.packet(packets, now);
    } catch {
      // An address the core refuses cannot occur for accepted sockets; never let accounting break the data path.
    }
    // A packet whose entry already expired is still traffic of the dest: count it directly.
    const missed = new Map<Tracked, { inBytes: number; outBytes: number; inpkts: number; outpkts: number }>();
    owners.forEach((o, i) => {
      if (results[i]?.ok) return;
      const m = missed.get(o.t) ?? { inBytes: 0, outBytes: 0, inpkts: 0, outpkts: 0 };
      if (o.dir === 'in') { m.inBytes += o.bytes; m.inpkts++; } else { m.outBytes += o.bytes; m.outpkts++; }
      missed.set(o.t, m);
    });
    for (const t of all) this.feedRest(t, missed.get(t));
  }

  /**
   * A flow's sockets are gone: count what is left straight into its dest's
   * statistics (one core call, no address parsing, no timer to re-arm).
   */
  close(t: Tracked): void {
    if (!this.pending.delete(t)) return;
    t.queued = false;
    const { inChunks: inpkts, inBytes: inbytes, outChunks: outpkts, outBytes: outbytes } = t;
    t.inBytes = t.inChunks = t.outBytes = t.outChunks = 0;
    try {
      coreOf(this.director).countTraffic(t.destId, { inpkts, inbytes: Math.min(inbytes, MAX_LEN), outpkts, outbytes: Math.min(outbytes, MAX_LEN) });
    } catch {
      // The dest was deleted (in the trash): IPVS does not count its traffic either.
    }
  }

  private feedRest(t: Tracked, m?: { inBytes: number; outBytes: number; inpkts: number; outpkts: number }): void {
    const inpkts = Math.max(0, t.inChunks - 1) + (m?.inpkts ?? 0), outpkts = Math.max(0, t.outChunks - 1) + (m?.outpkts ?? 0);
    t.inBytes = t.inChunks = t.outBytes = t.outChunks = 0;
    if (inpkts === 0 && outpkts === 0) return;
    try {
      coreOf(this.director).countTraffic(t.destId, { inpkts, outpkts, inbytes: m?.inBytes ?? 0, outbytes: m?.outBytes ?? 0 });
    } catch {
      // The dest was deleted (in the trash): IPVS does not count its traffic either.
    }
  }
}
