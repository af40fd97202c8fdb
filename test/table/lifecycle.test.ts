// Lifecycles of §2.8 with the exact time each entry stays (present at t-1,
// gone at t), timeouts and --set (§2.10), UDP (§2.9), socket events.
import { describe, it, expect } from 'vitest';
import { bed, pin, pout, counts, conn } from './bed.js';

describe('lifecycles', () => {
  it('NAT, client closes first: ends in TIME_WAIT and lives exactly 120 s after the last ACK', async () => {
    const b = await bed();
    const seq: [string, 'in' | 'out', number, string][] = [
      ['S', 'in', 0, 'SYN_RECV'], ['SA', 'out', 0, 'SYN_RECV'], ['A', 'in', 1, 'ESTABLISHED'],
      ['FA', 'in', 5, 'CLOSE_WAIT'], ['A', 'out', 5, 'CLOSE_WAIT'], ['FA', 'out', 6, 'TIME_WAIT'], ['A', 'in', 7, 'TIME_WAIT'],
    ];
    for (const [f, dir, t, state] of seq) {
      const r = dir === 'in' ? pin(b, 40000, f, t) : pout(b, 40000, f, t);
      expect(r.ok).toBe(true);
      expect(conn(b, 40000, t)!.state).toBe(state);
    }
    expect(counts(b)).toEqual([0, 1, 0]);
    expect(conn(b, 40000, 7)!.expires).toBe(120);
    expect(b.d.advance(126)).toBe(0);
    expect(conn(b, 40000, 126)!.expires).toBe(1);
    expect(b.d.advance(127)).toBe(1);
    expect(conn(b, 40000, 127)).toBeUndefined();
    expect(counts(b)).toEqual([0, 0, 0]);
  });

  it('DR: SYN, ACK, client FIN → FIN_WAIT (inactive), ACKs keep it; lives 120 s after the last packet', async () => {
    const b = await bed({ method: 'route' });
    pin(b, 40000, 'S', 0);
    expect(counts(b)).toEqual([1, 0, 0]);
    pin(b, 40000, 'A', 0);
    pin(b, 40000, 'FA', 10);
    expect(conn(b, 40000, 10)!.state).toBe('FIN_WAIT');
    expect(counts(b)).toEqual([0, 1, 0]);
    pin(b, 40000, 'A', 20);
    expect(conn(b, 40000, 20)!.state).toBe('FIN_WAIT');
    b.d.advance(139);
    expect(conn(b, 40000, 139)).toBeDefined();
    b.d.advance(140);
    expect(conn(b, 40000, 140)).toBeUndefined();
    expect(counts(b)).toEqual([0, 0, 0]);
  });

  it('RST → CLOSE for 10 s', async () => {
    const b = await bed();
    pin(b, 40000, 'S', 0);
    pin(b, 40000, 'A', 0);
    pin(b, 40000, 'R', 50);
    expect(conn(b, 40000, 50)!.state).toBe('CLOSE');
    expect(counts(b)).toEqual([0, 1, 0]);
    b.d.advance(59);
    expect(conn(b, 40000, 59)).toBeDefined();
    b.d.advance(60);
    expect(b.d.connectionCount()).toBe(0);
  });

  it('a half-open SYN_RECV entry lives 60 s; ESTABLISHED 900 s; idle timers restart per packet', async () => {
    const b = await bed();
    pin(b, 1, 'S', 0);
    pin(b, 2, 'S', 0);
    pin(b, 2, 'A', 0);
    b.d.advance(59);
    expect(b.d.connectionCount()).toBe(2);
    b.d.advance(60);
    expect(conn(b, 1, 60)).toBeUndefined();
    pin(b, 2, 'A', 500);
    b.d.advance(1399);
    expect(conn(b, 2, 1399)!.expires).toBe(1);
    b.d.advance(1400);
    expect(b.d.connectionCount()).toBe(0);
  });

  it('UDP: one state, always inactive, 300 s after the last packet in either direction', async () => {
    const b = await bed({ protocol: 'udp', port: 53 });
    pin(b, 5353, '', 0);
    expect(conn(b, 5353, 0)!.state).toBe('UDP');
    expect(counts(b)).toEqual([0, 1, 0]);
    pout(b, 5353, '', 100);
    b.d.advance(399);
    expect(conn(b, 5353, 399)).toBeDefined();
    b.d.advance(400);
    expect(b.d.connectionCount()).toBe(0);
    expect(counts(b)).toEqual([0, 0, 0]);
  });

  it('--set changes ESTABLISHED, FIN_WAIT and UDP only, from the next packet on; 0 keeps a value', async () => {
    const b = await bed();
    expect(b.d.timeouts()).toEqual({ tcp: 900, tcpfin: 120, udp: 300 });
    pin(b, 1, 'S', 0);
    pin(b, 1, 'A', 0);
    b.d.setTimeouts({ tcp: 100, udp: 50 });
    expect(b.d.timeouts()).toEqual({ tcp: 100, tcpfin: 120, udp: 50 });
    expect(conn(b, 1, 0)!.expires).toBe(900);
    pin(b, 1, 'A', 10);
    expect(conn(b, 1, 10)!.expires).toBe(100);
    b.d.setTimeouts({ tcp: 0, tcpfin: 30, udp: 0 });
    expect(b.d.timeouts()).toEqual({ tcp: 100, tcpfin: 30, udp: 50 });
    expect(() => b.d.setTimeouts({ tcp: -1 })).toThrow();
    expect(() => b.d.setTimeouts({ tcp: 2 ** 31 })).toThrow();
  });

  it('socket events follow the NAT tables from both sides', async () => {
    const b = await bed({ method: 'route' });
    const c = b.d.schedule({ protocol: 'tcp', client: { address: '198.18.9.9', port: 7 }, virtual: { address: '198.18.0.1', port: 80 }, now: 0 })!;
    expect(conn(b, 7, 0)!.state).toBe('SYN_RECV');
    expect(b.d.connEvent(c.id, 'established', 1)).toBe('ESTABLISHED');
    expect(b.d.connEvent(c.id, 'client-fin', 2)).toBe('CLOSE_WAIT');
    expect(counts(b)).toEqual([0, 1, 0]);
    expect(b.d.connEvent(c.id, 'server-fin', 3)).toBe('TIME_WAIT');
    expect(b.d.connEvent(c.id, 'close', 3)).toBe('TIME_WAIT');
    b.d.advance(122);
    expect(b.d.connection(c.id, 122)).not.toBeNull();
    b.d.advance(123);
    expect(b.d.connection(c.id, 123)).toBeNull();
    expect(() => b.d.connEvent(c.id, 'reset', 124)).toThrow(/No such connection/);

    const c2 = b.d.schedule({ protocol: 'tcp', client: { address: '198.18.9.9', port: 8 }, virtual: { address: '198.18.0.1', port: 80 }, now: 200 })!;
    b.d.connEvent(c2.id, 'established', 200);
    expect(b.d.connEvent(c2.id, 'server-fin', 201)).toBe('FIN_WAIT');
    expect(b.d.connEvent(c2.id, 'client-fin', 202)).toBe('TIME_WAIT');
    const c3 = b.d.schedule({ protocol: 'tcp', client: { address: '198.18.9.9', port: 9 }, virtual: { address: '198.18.0.1', port: 80 }, now: 200 })!;
    expect(b.d.connEvent(c3.id, 'reset', 201)).toBe('CLOSE');
    const c4 = b.d.schedule({ protocol: 'tcp', client: { address: '198.18.9.9', port: 10 }, virtual: { address: '198.18.0.1', port: 80 }, now: 200 })!;
    b.d.connEvent(c4.id, 'established', 200);
    expect(b.d.connEvent(c4.id, 'close', 201)).toBe('CLOSE');
    expect(() => b.d.connEvent(c4.id, 'bogus' as never, 201)).toThrow();
  });

  it('a jump in time larger than the wheel still expires everything due, once', async () => {
    const b = await bed();
    for (let p = 1; p <= 50; p++) {
      pin(b, p, 'S', p);
      if (p % 2) pin(b, p, 'A', p);
    }
    expect(b.d.advance(100000)).toBe(50);
    expect(b.d.connectionCount()).toBe(0);
    expect(counts(b)).toEqual([0, 0, 0]);
  });
});
