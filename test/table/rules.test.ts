// Reuse and removal rules (§2.12), the trash (§2.2), OPS (§2.13) and reply lookup (§2.3).
import { describe, it, expect } from 'vitest';
import { Director, counters } from '../../sdk/index.js';
import { bed, pin, pout, counts, conn, RS, CLIENT } from './bed.js';

describe('conn_reuse_mode', () => {
  it('mode 1: a SYN on a TIME_WAIT entry expires it and schedules afresh (rr moves on)', async () => {
    const b = await bed({ n: 2 });
    const r1 = pin(b, 1, 'S', 0);
    for (const [f, dir] of [['A', 'in'], ['FA', 'in'], ['FA', 'out'], ['A', 'in']] as const) {
      if (dir === 'in') pin(b, 1, f, 1);
      else pout(b, 1, f, 1, r1.ok ? r1.address.address : '');
    }
    expect(conn(b, 1, 1)!.state).toBe('TIME_WAIT');
    const r2 = pin(b, 1, 'S', 2);
    expect(r2.ok && r1.ok && r2.address.address !== r1.address.address).toBe(true);
    expect(r2.ok && r1.ok && r2.id !== r1.id).toBe(true);
    expect(b.d.counter(counters.CNT_CONN_REUSED)).toBe(1);
    expect(conn(b, 1, 2)!.state).toBe('SYN_RECV');
    expect(counts(b, RS[0])[0] + counts(b, RS[1])[0]).toBe(1);
  });

  it('mode 0: the SYN reuses the old entry and its server', async () => {
    const b = await bed({ n: 2 });
    b.d.setOptions({ connReuseMode: 0 });
    const r1 = pin(b, 1, 'S', 0);
    pin(b, 1, 'R', 1);
    const r2 = pin(b, 1, 'S', 2);
    expect(r2.ok && r1.ok && r2.id === r1.id && r2.destId === r1.destId).toBe(true);
  });

  it('bit 2: DR FIN_WAIT is replaceable only with mode 3; an ESTABLISHED entry never', async () => {
    for (const [mode, replaced] of [[1, false], [3, true]] as const) {
      const b = await bed({ n: 2, method: 'route' });
      b.d.setOptions({ connReuseMode: mode });
      const r1 = pin(b, 1, 'S', 0);
      pin(b, 1, 'A', 0);
      pin(b, 1, 'F', 0);
      const r2 = pin(b, 1, 'S', 1);
      expect(r1.ok && r2.ok && r1.id !== r2.id).toBe(replaced);
      const r3 = pin(b, 2, 'S', 0);
      pin(b, 2, 'A', 0);
      expect(pin(b, 2, 'S', 1)).toMatchObject({ ok: true, id: r3.ok ? r3.id : -1 });
    }
  });

  it('a persistence-controlled entry is never replaced', async () => {
    const b = await bed({ n: 2, service: { persistent: 100 } });
    const r1 = pin(b, 1, 'S', 0);
    pin(b, 1, 'R', 0);
    expect(pin(b, 1, 'S', 1)).toMatchObject({ ok: true, id: r1.ok ? r1.id : -1 });
  });
});

describe('expire_nodest_conn and the trash', () => {
  it('default: packets of a deleted dest are dropped until the entry times out', async () => {
    const b = await bed();
    pin(b, 1, 'S', 0);
    pin(b, 1, 'A', 0);
    b.d.deleteDest(b.svc, { address: RS[0] });
    expect(pin(b, 1, 'A', 1)).toMatchObject({ ok: false, verdict: 'drop' });
    expect(b.d.counter(counters.CNT_DROP_NODEST)).toBe(1);
    expect(conn(b, 1, 1)!.expires).toBe(899); // not re-armed by dropped packets
  });

  it('expire_nodest_conn=1: deletion flushes the entries; a packet is scheduled as new', async () => {
    const b = await bed({ n: 2 });
    b.d.setOptions({ expireNodestConn: true });
    const r1 = pin(b, 1, 'S', 0);
    const gone = r1.ok ? r1.address.address : '';
    b.d.deleteDest(b.svc, { address: gone });
    expect(b.d.advance(1)).toBe(1);
    expect(b.d.connectionCount()).toBe(0);
    const r2 = pin(b, 1, 'S', 2);
    expect(r2.ok && r2.address.address).not.toBe(gone);
  });

  it('expire_nodest_conn=1: a SYN on an entry whose dest has weight 0 is rescheduled', async () => {
    const b = await bed({ n: 2 });
    b.d.setOptions({ expireNodestConn: true });
    const r1 = pin(b, 1, 'S', 0);
    const addr = r1.ok ? r1.address.address : '';
    b.d.editDest(b.svc, { address: addr, weight: 0, method: 'masq' });
    const r2 = pin(b, 1, 'S', 1);
    expect(r2.ok && r2.address.address).not.toBe(addr);
  });

  it('a deleted dest with connections waits in the trash and is revived with its counters and stats', async () => {
    const b = await bed();
    pin(b, 1, 'S', 0, 100);
    pin(b, 1, 'A', 0, 100);
    pin(b, 2, 'S', 0, 100);
    pin(b, 2, 'F', 0, 100);
    const id = b.ids.get(RS[0])!;
    b.d.deleteDest(b.svc, { address: RS[0] });
    expect(b.d.destById(id)).toMatchObject({ available: false, activeconns: 1, inactconns: 1 });
    const again = b.d.addDest(b.svc, { address: RS[0], method: 'masq' });
    expect(again).toBe(id);
    const x = b.d.destById(id);
    expect(x).toMatchObject({ available: true, activeconns: 1, inactconns: 1 });
    expect(x.stats).toMatchObject({ conns: 2, inpkts: 4, inbytes: 400 });
    expect(pin(b, 1, 'A', 1).ok).toBe(true);
  });

  it('an unreferenced deleted dest is freed by the trash sweep 120 s after it was first seen idle', async () => {
    const b = await bed();
    const r = pin(b, 1, 'S', 0);
    expect(r.ok).toBe(true);
    pin(b, 1, 'R', 0); // CLOSE: gone at 10
    const id = b.ids.get(RS[0])!;
    b.d.deleteDest(b.svc, { address: RS[0] });
    b.d.advance(60); // first sweep: unreferenced since the conn expired at 10 → idle noted at 60
    expect(b.d.destById(id).available).toBe(false);
    b.d.advance(120); // sweep at 120: only 60 s idle
    expect(b.d.destById(id).available).toBe(false);
    b.d.advance(180); // 120 s idle: freed
    expect(() => b.d.destById(id)).toThrow();
  });
});

describe('one-packet scheduling and reply lookup', () => {
  it('OPS: each UDP datagram is scheduled; nothing is kept, counters unchanged, stats counted', async () => {
    const b = await bed({ n: 3, protocol: 'udp', port: 53, service: { ops: true } });
    const seen = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const r = pin(b, 5353, '', i, 80);
      expect(r.ok && r.id).toBe(0);
      if (r.ok) seen.add(r.address.address);
    }
    expect(seen.size).toBe(3);
    expect(b.d.connectionCount()).toBe(0);
    for (const a of RS) expect(counts(b, a)).toEqual([0, 0, 0]);
    expect(b.d.totals().stats).toMatchObject({ conns: 3, inpkts: 3, inbytes: 240 });
  });

  it('OPS with persistence keeps the template only', async () => {
    const b = await bed({ n: 2, protocol: 'udp', port: 53, service: { ops: true, persistent: 30 } });
    pin(b, 1, '', 0);
    pin(b, 2, '', 0);
    const all = b.d.connections(0);
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({ template: true, controlled: 0 });
  });

  it('replies match NAT entries by real server, DR entries by VIP; others pass', async () => {
    const nat = await bed();
    pin(nat, 1, 'S', 0);
    expect(pout(nat, 1, 'SA', 0, RS[0])).toMatchObject({ ok: true, address: { address: '198.18.0.1', port: 80 } });
    expect(pout(nat, 1, 'SA', 0, '198.18.0.1')).toMatchObject({ ok: false, verdict: 'pass' });
    expect(pout(nat, 2, 'SA', 0, RS[0])).toMatchObject({ ok: false, verdict: 'pass' });
    expect(nat.d.dests(nat.svc)[0].stats.outpkts).toBe(1);
    const dr = await bed({ method: 'route' });
    pin(dr, 1, 'S', 0);
    expect(pout(dr, 1, 'SA', 0, RS[0])).toMatchObject({ ok: false });
    expect(pout(dr, 1, 'SA', 0, '198.18.0.1').ok).toBe(true);
  });

  it('IPv6 connections are listed and looked up both ways', async () => {
    const d = await Director.create({ seed: 9, flavor: 'debug' });
    const svc = { protocol: 'tcp' as const, address: '2001:db8::1', port: 80 };
    d.addService(svc, { scheduler: 'rr' });
    d.addDest(svc, { address: '2001:db8:1::1', method: 'masq' });
    const c = d.schedule({ protocol: 'tcp', client: { address: '2001:db8:9::9', port: 5 }, virtual: { address: '2001:db8::1', port: 80 }, now: 0 })!;
    expect(d.connections(0)[0]).toMatchObject({ id: c.id, client: { address: '2001:db8:9::9', port: 5 }, virtual: { address: '2001:db8::1' }, dest: { address: '2001:db8:1::1' } });
    const r = d.packet({ protocol: 'tcp', direction: 'out', client: { address: '2001:db8:9::9', port: 5 }, virtual: { address: '2001:db8:1::1', port: 80 }, flags: 0x12 }, 0)[0];
    expect(r).toMatchObject({ ok: true, id: c.id, address: { address: '2001:db8::1', port: 80 } });
    expect(CLIENT).toBeTruthy();
  });

  it('schedule() takes the flow\'s TCP flags (default SYN); batch results say why a flow failed', async () => {
    const b = await bed();
    const flow = (port: number, tcpFlags?: number) => ({ protocol: 'tcp' as const, client: { address: CLIENT, port }, virtual: { address: '198.18.0.1', port: 80 }, tcpFlags });
    const out = b.d.scheduleBatch([flow(1), flow(2, 0x10), flow(3, 0x04), flow(1, 0x10)], 0);
    expect(out.map((r) => (r.ok ? 'ok' : r.reason))).toEqual(['ok', 'no-connection', 'no-connection', 'ok']);
    expect(conn(b, 1, 0)!.state).toBe('ESTABLISHED');
    b.d.deleteDest(b.svc, { address: RS[0] });
    expect(b.d.scheduleBatch([flow(1, 0x10)], 1)[0]).toMatchObject({ ok: false, reason: 'drop' });
    expect(() => b.d.schedule({ ...flow(5, 300), now: 1 })).toThrow(/TCP flags/);
  });

  it('sloppy_tcp: a mid-flow packet (ACK, FIN) creates its connection where it lands; a RST still never does', async () => {
    const b = await bed();
    const flow = (port: number, tcpFlags?: number) => ({ protocol: 'tcp' as const, client: { address: CLIENT, port }, virtual: { address: '198.18.0.1', port: 80 }, tcpFlags });
    expect(b.d.scheduleBatch([flow(2, 0x10)], 0)[0]).toMatchObject({ ok: false, reason: 'no-connection' });
    b.d.setOptions({ sloppyTcp: true });
    expect(b.d.options().sloppyTcp).toBe(true);
    const out = b.d.scheduleBatch([flow(2, 0x10), flow(3, 0x04), flow(4, 0x11), flow(2, 0x10)], 1);
    expect(out.map((r) => (r.ok ? 'ok' : r.reason))).toEqual(['ok', 'no-connection', 'ok', 'ok']);
    // The second ACK of port 2 finds the entry the first one made.
    expect(out[3].ok && out[0].ok && out[3].id === out[0].id).toBe(true);
    expect(conn(b, 2, 1)!.state).toBe('ESTABLISHED');
    expect(() => b.d.setOptions({ sloppyTcp: 2 as unknown as boolean })).toThrow();
    b.d.setOptions({ sloppyTcp: false });
    expect(b.d.scheduleBatch([flow(5, 0x10)], 2)[0]).toMatchObject({ ok: false, reason: 'no-connection' });
  });
});
