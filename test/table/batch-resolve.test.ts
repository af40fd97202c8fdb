// packetBatch and schedule resolve every inbound lookup of a batch before
// visiting it (table/conn_lookup.ts, conn_path.ts); an answer is used only if
// no insert or removal in the batch can have changed it. A batch must
// therefore behave exactly as the same packets one call each: same results,
// same entries, same counters, with repeated keys in one batch, reuse of
// TIME_WAIT entries, expire_nodest_conn kills, a connection limit that evicts,
// persistence templates and replies mixed in.
import { describe, it, expect } from 'vitest';
import { Director } from '../../sdk/index.js';
import type { PacketInput, Protocol } from '../../sdk/index.js';
import { counters } from '../../sdk/index.js';

const VIP = '198.18.0.1';
const RS = ['198.18.1.1', '198.18.1.2', '198.18.1.3'];
const SVCS = [['tcp', 80], ['udp', 53], ['tcp', 443]] as const;
const FLAGS = [0x02, 0x02, 0x10, 0x10, 0x10, 0x11, 0x04, 0x12, 0x00];

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s;
  };
}

async function make(opts: { limit: number }): Promise<Director> {
  const d = await Director.create({ seed: 5, flavor: 'debug' });
  d.setOptions({ expireNodestConn: true, connLimit: opts.limit, connReuseMode: 1 });
  for (const [protocol, port, persistent] of [['tcp', 80, 0], ['udp', 53, 0], ['tcp', 443, 120]] as const) {
    const svc = { protocol, address: VIP, port };
    d.addService(svc, { scheduler: 'rr', persistent: persistent || undefined });
    for (const a of RS) d.addDest(svc, { address: a, method: 'masq' });
  }
  return d;
}

function packets(next: () => number, n: number): PacketInput[] {
  const out: PacketInput[] = [];
  for (let k = 0; k < n; k++) {
    const r = next() % 10;
    const protocol: Protocol = r < 6 ? 'tcp' : r < 8 ? 'udp' : 'tcp';
    const port = r < 6 ? 80 : r < 8 ? 53 : 443;
    // A small key pool, so one batch holds the same key several times.
    const client = { address: `198.18.9.${next() % 12}`, port: 1000 + (next() % 8) };
    const dir = next() % 6 === 0 ? 'out' : 'in';
    out.push({
      protocol, direction: dir, client,
      virtual: { address: dir === 'in' ? VIP : RS[next() % RS.length], port },
      flags: FLAGS[next() % FLAGS.length], length: 60,
    });
  }
  return out;
}

const state = (d: Director, now: number) => ({
  conns: d.connections(now).map((c) => JSON.stringify(c)).sort(),
  counters: Object.values(counters).map((i) => d.counter(i as number)),
  dests: SVCS.flatMap(([protocol, port]) => d.dests({ protocol, address: VIP, port }).map((x) => [x.activeconns, x.inactconns, x.persistconns])),
});

describe('batched lookups resolved up front', () => {
  for (const limit of [0, 40]) {
    it(`a batch behaves as its packets one call each (connection limit ${limit || 'none'})`, async () => {
      const a = await make({ limit });
      const b = await make({ limit });
      const next = rng(0xbadc0de + limit);
      let now = 1;
      for (let round = 0; round < 60; round++) {
        const list = packets(next, 200);
        const batched = a.packet(list, now);
        const single = list.flatMap((p) => b.packet(p, now));
        expect(batched).toEqual(single);
        if (round % 10 === 5) {
          // A dest goes away: with expire_nodest_conn the next packets of its entries kill them mid-batch.
          const svc = { protocol: 'tcp' as const, address: VIP, port: 80 };
          const addr = RS[round % 3];
          for (const d of [a, b]) {
            d.deleteDest(svc, { address: addr });
            d.addDest(svc, { address: addr, method: 'masq' });
          }
        }
        now += 1 + (next() % 3) * 40;
        expect(state(a, now)).toEqual(state(b, now));
      }
    });
  }

  it('schedule() of a batch equals one call per flow, with repeated new flows', async () => {
    const a = await make({ limit: 0 });
    const b = await make({ limit: 0 });
    const next = rng(77);
    for (let round = 0; round < 30; round++) {
      const flows = Array.from({ length: 300 }, () => ({
        protocol: 'tcp' as const, client: { address: `198.18.8.${next() % 16}`, port: 2000 + (next() % 10) },
        virtual: { address: VIP, port: next() % 2 === 0 ? 80 : 443 },
      }));
      const batched = a.scheduleBatch(flows, 10 + round * 50).map((r) => (r.ok ? [r.id, r.destId] : [r.reason]));
      const single = flows.map((f) => {
        const r = b.scheduleBatch([f], 10 + round * 50)[0];
        return r.ok ? [r.id, r.destId] : [r.reason];
      });
      expect(batched).toEqual(single);
      expect(state(a, 10 + round * 50)).toEqual(state(b, 10 + round * 50));
    }
  });
});
