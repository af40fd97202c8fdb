// The connection limit (cheapest-first eviction) and the drop_entry defense (§2.12).
import { describe, it, expect } from 'vitest';
import { counters } from '../../sdk/index.js';
import { bed, pin, counts, conn } from './bed.js';

describe('connection limit', () => {
  it('evicts half-open first, then idle/closing, established only when nothing cheaper is left', async () => {
    const b = await bed();
    b.d.setOptions({ connLimit: 4 });
    // 1,2 ESTABLISHED; 3 SYN_RECV (half-open); 4 FIN_WAIT-ish closing (CLOSE_WAIT)
    for (const p of [1, 2, 3, 4]) pin(b, p, 'S', 0);
    for (const p of [1, 2, 4]) pin(b, p, 'A', 0);
    pin(b, 4, 'F', 0);
    expect(conn(b, 4, 0)!.state).toBe('CLOSE_WAIT');
    expect(pin(b, 5, 'S', 1).ok).toBe(true); // evicts 3 (half-open)
    expect(conn(b, 3, 1)).toBeUndefined();
    expect(b.d.counter(counters.CNT_EVICT_HALF_OPEN)).toBe(1);
    pin(b, 5, 'A', 1);
    expect(pin(b, 6, 'S', 2).ok).toBe(true); // evicts 4 (idle), not an established one
    expect(conn(b, 4, 2)).toBeUndefined();
    expect(b.d.counter(counters.CNT_EVICT_IDLE)).toBe(1);
    // Now 1, 2, 5 ESTABLISHED and 6 SYN_RECV: the next one evicts 6, the one after an established.
    expect(pin(b, 7, 'S', 3).ok).toBe(true);
    expect(conn(b, 6, 3)).toBeUndefined();
    pin(b, 7, 'A', 3);
    expect(pin(b, 8, 'S', 4).ok).toBe(true);
    expect(b.d.counter(counters.CNT_EVICT_ESTABLISHED)).toBe(1);
    expect(b.d.connectionCount()).toBe(4);
    expect(counts(b)).toEqual([4, 0, 0]);
  });

  it('a template goes only after the connections it controls; a limit below 2 refuses persistence', async () => {
    const b = await bed({ n: 2, service: { persistent: 100 } });
    b.d.setOptions({ connLimit: 2 });
    const r1 = pin(b, 1, 'S', 0); // template + conn = 2
    pin(b, 1, 'A', 0); // ESTABLISHED: the template is ASSURED and pinned
    const r2 = pin(b, 1, 'S', 0, 60, '198.18.9.10');
    expect(r2.ok).toBe(true);
    // The established conn was the only victim; then its template (no longer controlling) went too.
    expect(b.d.counter(counters.CNT_EVICT_ESTABLISHED)).toBe(1);
    expect(b.d.counter(counters.CNT_EVICT_IDLE)).toBe(1);
    const left = b.d.connections(0);
    expect(left).toHaveLength(2);
    expect(left.every((c) => c.client.address === '198.18.9.10' || c.client.address === '198.18.9.0')).toBe(true);
    const a1 = r1.ok ? r1.address.address : '';
    expect(counts(b, a1)).toEqual([0, 0, 0]);
    b.d.setOptions({ connLimit: 1 });
    expect(pin(b, 1, 'S', 1, 60, '198.18.9.11')).toMatchObject({ ok: false, verdict: 'full' });
    expect(b.d.counter(counters.CNT_CONN_LIMIT)).toBeGreaterThan(0);
  });
});

describe('connection limit under a SYN flood', () => {
  it('eviction resumes where the last victim was found: work per evicted entry stays small', async () => {
    const b = await bed();
    // 1,200 ESTABLISHED entries whose expiry fills the 60 slots before the flood's half-open ones:
    // 20 per second opened at t = 100..159 expire at t + 900 = 1000..1059.
    let port = 1;
    for (let t = 100; t < 160; t++) {
      for (let k = 0; k < 20; k++, port++) {
        pin(b, port, 'S', t);
        pin(b, port, 'A', t);
      }
    }
    b.d.advance(999);
    expect(b.d.connectionCount()).toBe(1200);
    b.d.setOptions({ connLimit: 1250 });
    // Fill the table with half-open entries (SYN_RECV, 60 s: slot 1059), then flood on at the limit.
    for (let k = 0; k < 50; k++) expect(pin(b, 20000 + k, 'S', 999).ok).toBe(true);
    const scanned0 = b.d.counter(counters.CNT_EVICT_SCANNED);
    const FLOOD = 500;
    for (let k = 0; k < FLOOD; k++) expect(pin(b, 30000 + k, 'S', 999).ok).toBe(true);
    expect(b.d.counter(counters.CNT_EVICT_HALF_OPEN)).toBe(FLOOD);
    expect(b.d.connectionCount()).toBe(1250);
    // Every established entry survived: only half-open ones were evicted.
    expect(b.d.connections(999).filter((c) => c.state === 'ESTABLISHED')).toHaveLength(1200);
    // Each search starts at the slot where the last victim was found: 540 entries looked at
    // for 500 evictions here; walking from the next slot every time looked at 20,500 (41 each),
    // and with 190k established entries under a 200k limit that walk held a SYN flood to 15 kpps.
    const scanned = b.d.counter(counters.CNT_EVICT_SCANNED) - scanned0;
    expect(scanned).toBeLessThan(FLOOD * 4);
  });
});

describe('drop_entry', () => {
  it('mode 3 drops SYN_RECV entries on the next pass and spares fresh ESTABLISHED ones', async () => {
    const b = await bed();
    await b.d.setOptions({ dropEntry: 3 });
    for (let p = 1; p <= 40; p++) pin(b, p, 'S', 0);
    for (let p = 1; p <= 20; p++) pin(b, p, 'A', 0);
    b.d.advance(40); // 32 passes × 1/32 of the buckets: every bucket visited
    expect(b.d.connectionCount()).toBe(20);
    expect(b.d.counter(counters.CNT_DROP_ENTRY)).toBe(20);
    expect(counts(b)).toEqual([20, 0, 0]);
  });

  it('ESTABLISHED entries idle >= 60 s with few packets are dropped one in in_pkts', async () => {
    const b = await bed();
    for (let p = 1; p <= 8; p++) {
      pin(b, p, 'S', 0);
      pin(b, p, 'A', 0); // in_pkts = 2
    }
    b.d.setOptions({ dropEntry: 3 });
    b.d.advance(100);
    expect(b.d.connectionCount()).toBe(4); // every second candidate with in_pkts 2
  });
});
