// Connection sync, core side: entries listed on one director and imported on
// another keep their real server, state, template flag and seconds left; an
// entry whose service or real server is unknown here is refused; an ended
// entry is removed; a NAT flow imported on a second director is forwarded
// there like on the first (inbound to the same server, replies matched).
import { describe, it, expect } from 'vitest';
import { bed, pin, pout, conn, templates, counts, RS, VIP, CLIENT } from '../../table/bed.js';
import { syncPages, importEntry, encodeEntries, decodeEntries, entrySize, type SyncEntry } from '../../../sdk/sync.js';
import type { Director } from '../../../sdk/index.js';

function entries(d: Director, now: number): SyncEntry[] {
  const out: SyncEntry[] = [];
  for (const page of syncPages(d, now)) for (const { e } of page) out.push(e);
  return out;
}

describe('connection import', () => {
  it('a connection and its template arrive with the same real server, state and seconds left', async () => {
    const a = await bed({ n: 3, service: { persistent: 300 } });
    const b = await bed({ n: 3, service: { persistent: 300 } });
    pin(a, 1000, 'S', 10); // SYN_RECV on a
    pin(a, 1001, 'S', 10);
    pin(a, 1001, 'A', 11); // ESTABLISHED
    const rsA = conn(a, 1000, 20)!.dest.address;
    // Moving b's rr on first: an imported entry must not be rescheduled.
    pin(b, 5, 'S', 90, 60, '198.18.9.77');
    const list = entries(a.d, 20);
    const before = counts(b, rsA);
    expect(list.filter((e) => e.template)).toHaveLength(1);
    for (const e of list) expect(importEntry(b.d, e, 100).outcome).toBe('imported');
    for (const port of [1000, 1001]) {
      const x = conn(a, port, 20)!, y = conn(b, port, 100)!;
      expect(y.dest).toEqual(x.dest);
      expect(y.state).toBe(x.state);
      expect(y.expires).toBe(x.expires);
      expect(y.method).toBe('masq');
    }
    expect(conn(b, 1000, 100)!.dest.address).toBe(rsA);
    const [ta] = templates(a, 20);
    const tb = templates(b, 100).find((t) => t.client.address === CLIENT);
    expect(tb).toMatchObject({ client: ta.client, virtual: ta.virtual, dest: ta.dest, state: ta.state, expires: ta.expires });
    // The counters moved as they did on a (active/inactive by state, one template).
    expect(counts(b, rsA)).toEqual(before.map((v, i) => v + counts(a, rsA)[i]));
    // A new connection of the same client on b follows the imported template.
    const r = pin(b, 2000, 'S', 101);
    expect(r.ok && r.address.address).toBe(rsA);
  });

  it('the sender\'s seconds left are honoured: the entry expires then, not at this director\'s timeout', async () => {
    const a = await bed({ n: 1 });
    const b = await bed({ n: 1 });
    pin(a, 1, 'S', 0);
    pin(a, 1, 'A', 1); // ESTABLISHED: 900 s
    const [e] = entries(a.d, 800);
    expect(e.expires).toBe(101);
    expect(importEntry(b.d, e, 5000).id).toBeGreaterThan(0);
    b.d.advance(5100);
    expect(conn(b, 1, 5100)?.state).toBe('ESTABLISHED');
    b.d.advance(5101);
    expect(conn(b, 1, 5101)).toBeUndefined();
    expect(counts(b)).toEqual([0, 0, 0]);
  });

  it('an unknown service or real server is refused and nothing is created; an ended entry is removed', async () => {
    const a = await bed({ n: 2 });
    pin(a, 1, 'S', 0);
    pin(a, 2, 'S', 0);
    const list = entries(a.d, 0);
    const onOther = list.find((e) => e.daddr[0] !== list[0].daddr[0])!;
    const b = await bed({ n: 1 }); // has RS[0] only
    const other = await bed({ n: 2, port: 81 }); // another service
    expect(importEntry(other.d, list[0], 0).outcome).toBe('no-service');
    const missing = onOther.daddr[0] === 0xC6120101 ? list[0] : onOther; // the one not on RS[0]
    expect(importEntry(b.d, missing, 0).outcome).toBe('no-dest');
    expect(b.d.connectionCount()).toBe(0);
    expect(importEntry(b.d, { ...missing, proto: 6, state: 99 }, 0).outcome).toBe('invalid');
    const known = missing === list[0] ? onOther : list[0];
    expect(importEntry(b.d, known, 0).outcome).toBe('imported');
    expect(b.d.connectionCount()).toBe(1);
    expect(importEntry(b.d, { ...known, expires: 0 }, 1).outcome).toBe('removed');
    expect(b.d.connectionCount()).toBe(0);
    expect(importEntry(b.d, { ...known, expires: 0 }, 1).outcome).toBe('no-entry');
    expect(counts(b)).toEqual([0, 0, 0]);
  });

  it('a NAT flow taken over by a second director continues there: inbound to the same server, replies matched', async () => {
    const a = await bed({ n: 3, method: 'masq' });
    const b = await bed({ n: 3, method: 'masq' });
    pin(b, 9, 'S', 0, 60, '198.18.9.50'); // b's rr is elsewhere now
    pin(a, 4000, 'S', 0);
    const rs = conn(a, 4000, 0)!.dest.address;
    pout(a, 4000, 'SA', 0, rs);
    pin(a, 4000, 'A', 0);
    for (const e of entries(a.d, 1)) importEntry(b.d, e, 1);
    // ECMP moved the flow to b: a mid-flow ACK (no SYN) is forwarded to the same server.
    const r = pin(b, 4000, 'A', 2);
    expect(r.ok && r.address.address).toBe(rs);
    // The server's reply through b is recognised (NAT: source rewritten to the VIP).
    const back = pout(b, 4000, 'A', 2, rs);
    expect(back.ok).toBe(true);
    expect(conn(b, 4000, 2)!.state).toBe('ESTABLISHED');
    // Without the import, b had no entry: the ACK would not be forwarded.
    const c = await bed({ n: 3, method: 'masq' });
    expect(pin(c, 4000, 'A', 2).ok).toBe(false);
  });

  it('the wire form round-trips IPv4 and IPv6 entries; an IPv4 entry is 25 bytes (IPVS sync v1: 36)', () => {
    const v4: SyncEntry = { af: 4, daf: 4, proto: 6, state: 1, template: false, expires: 899, cport: 40000, vport: 80, dport: 8080,
      caddr: [0xC6120909, 0, 0, 0], vaddr: [0xC6120001, 0, 0, 0], daddr: [0xC6120101, 0, 0, 0] };
    const v6: SyncEntry = { af: 6, daf: 6, proto: 0, state: 17, template: true, expires: 360, cport: 0, vport: 0, dport: 0,
      caddr: [0x20010002, 0, 0, 9], vaddr: [7, 0, 0, 0], daddr: [0x20010002, 0, 1, 1] };
    expect(entrySize(v4)).toBe(25);
    const b = encodeEntries([v4, v6]);
    expect(b.length).toBe(25 + 61);
    expect(decodeEntries(b)).toEqual([v4, v6]);
    expect(() => decodeEntries(b.subarray(0, 30))).toThrow(/truncated/);
  });
});
