// Persistence templates (§2.11, §2.13): keys, reuse, the 60 s re-arm, weight 0
// with and without expire_quiescent_template, deleted dests, persistconns.
import { describe, it, expect } from 'vitest';
import { Director } from '../../sdk/index.js';
import { bed, pin, counts, conn, templates, RS, VIP, CLIENT } from './bed.js';

describe('persistence templates', () => {
  it('one template per client network; later connections follow it; persistconns counts it', async () => {
    const b = await bed({ n: 3, service: { persistent: 360 } });
    const first = pin(b, 1000, 'S', 0);
    expect(first.ok).toBe(true);
    const addr = first.ok ? first.address.address : '';
    for (let p = 1001; p < 1006; p++) {
      const r = pin(b, p, 'S', 1);
      expect(r.ok && r.address.address).toBe(addr);
    }
    const t = templates(b, 1);
    expect(t).toHaveLength(1);
    expect(t[0]).toMatchObject({ state: 'NONE', client: { address: CLIENT, port: 0 }, virtual: { address: VIP, port: 80 }, controlled: 6 });
    expect(counts(b, addr)).toEqual([6, 0, 1]);
    // Another client goes through the scheduler (rr moves on).
    const other = pin(b, 1000, 'S', 1, 60, '198.18.9.10');
    expect(other.ok && other.address.address).not.toBe(addr);
  });

  it('-M netmask groups clients; ESTABLISHED marks the template ASSURED', async () => {
    const b = await bed({ n: 3, service: { persistent: 100, netmask: '255.255.255.0' } });
    const a = pin(b, 1, 'S', 0, 60, '198.18.9.1');
    const c = pin(b, 1, 'S', 0, 60, '198.18.9.200');
    expect(a.ok && c.ok && a.address.address === c.address.address).toBe(true);
    expect(templates(b, 0)[0].client.address).toBe('198.18.9.0');
    pin(b, 1, 'A', 0, 60, '198.18.9.1');
    expect(templates(b, 0)[0].state).toBe('ASSURED');
  });

  it('template outlives its timeout by 60 s re-arms while it controls connections; 60 s becomes its timeout', async () => {
    const b = await bed({ n: 2, service: { persistent: 360 } });
    pin(b, 1, 'S', 0);
    pin(b, 1, 'A', 1); // ESTABLISHED until 901
    b.d.advance(359);
    expect(templates(b, 359)[0].expires).toBe(1);
    b.d.advance(360);
    expect(templates(b, 360)[0].expires).toBe(60); // kept: it still controls conn 1
    pin(b, 2, 'S', 400); // uses the template: re-armed with its new 60 s timeout
    expect(templates(b, 400)[0].expires).toBe(60);
    pin(b, 2, 'R', 401); // CLOSE, gone at 411
    b.d.advance(900);
    expect(templates(b, 900)[0].expires).toBe(40); // re-armed at 460, 520, … 880 → 940
    b.d.advance(901); // conn 1 expires
    expect(conn(b, 1, 901)).toBeUndefined();
    expect(templates(b, 901)[0].controlled).toBe(0);
    b.d.advance(939);
    expect(templates(b, 939)).toHaveLength(1);
    b.d.advance(940);
    expect(templates(b, 940)).toHaveLength(0);
    expect(counts(b)).toEqual([0, 0, 0]);
  });

  it('weight 0 keeps sending template holders there by default; expire_quiescent_template=1 invalidates', async () => {
    for (const eqt of [false, true]) {
      const b = await bed({ n: 2, service: { persistent: 360 } });
      b.d.setOptions({ expireQuiescentTemplate: eqt });
      const r = pin(b, 1, 'S', 0);
      const addr = r.ok ? r.address.address : '';
      b.d.editDest(b.svc, { address: addr, weight: 0, method: 'masq' });
      const r2 = pin(b, 2, 'S', 1);
      expect(r2.ok && r2.address.address === addr).toBe(!eqt);
      const t = templates(b, 1);
      if (eqt) {
        expect(t).toHaveLength(2);
        const orphan = t.find((x) => x.virtual.port === 65535)!;
        expect(orphan).toMatchObject({ dest: { address: addr, port: 65535 }, controlled: 1 });
      } else {
        expect(t).toHaveLength(1);
      }
    }
  });

  it('a deleted dest invalidates its template; the next connection is scheduled afresh', async () => {
    const b = await bed({ n: 2, service: { persistent: 360 } });
    const r = pin(b, 1, 'S', 0);
    const addr = r.ok ? r.address.address : '';
    b.d.deleteDest(b.svc, { address: addr });
    const r2 = pin(b, 2, 'S', 1);
    expect(r2.ok && r2.address.address).not.toBe(addr);
    // The old connection's packets are dropped (expire_nodest_conn=0).
    expect(pin(b, 1, 'A', 2)).toMatchObject({ ok: false, verdict: 'drop' });
  });

  it('fwmark service: one template per client across VIPs and ports (protocol IP, vaddr = mark)', async () => {
    const d = await Director.create({ seed: 3, flavor: 'debug' });
    d.addService({ fwmark: 5 }, { scheduler: 'rr', persistent: 100 });
    for (const a of RS) d.addDest({ fwmark: 5 }, { address: a, port: 0, method: 'masq' });
    const go = (vip: string, vport: number, cport: number) =>
      d.schedule({ protocol: 'tcp', fwmark: 5, client: { address: CLIENT, port: cport }, virtual: { address: vip, port: vport }, now: 0 });
    const a = go('198.18.0.1', 80, 1)!;
    const b2 = go('198.18.0.2', 443, 2)!;
    expect(b2.dest.address).toBe(a.dest.address);
    expect(b2.dest.port).toBe(443); // dest port 0: the packet's port
    const t = d.connections(0).filter((c) => c.template);
    expect(t).toHaveLength(1);
    expect(t[0]).toMatchObject({ protocol: 'ip', virtual: { address: '0.0.0.5', port: 0 }, dest: { port: 0 } });
  });

  it('port-0 persistent service: template with vport 0; the real port is the packet port', async () => {
    const b = await bed({ n: 2, port: 0, service: { persistent: 60 } });
    const r = pin(b, 1, 'S', 0, 60, CLIENT, 8080);
    const r2 = pin(b, 2, 'S', 0, 60, CLIENT, 9090);
    expect(r.ok && r2.ok && r.address.address === r2.address.address).toBe(true);
    expect(r2.ok && r2.address.port).toBe(9090);
    expect(templates(b, 0)[0].virtual.port).toBe(0);
  });

  it('IPv6 /64 prefix persistence', async () => {
    const d = await Director.create({ seed: 3, flavor: 'debug' });
    const svc = { protocol: 'tcp' as const, address: '2001:db8::1', port: 80 };
    d.addService(svc, { scheduler: 'rr', persistent: 100, netmask: 64 });
    d.addDest(svc, { address: '2001:db8:1::1', method: 'masq' });
    d.addDest(svc, { address: '2001:db8:1::2', method: 'masq' });
    const go = (c: string, p: number) => d.schedule({ protocol: 'tcp', client: { address: c, port: p }, virtual: { address: '2001:db8::1', port: 80 }, now: 0 })!;
    expect(go('2001:db8:9::1', 1).dest.address).toBe(go('2001:db8:9::ffff:1', 2).dest.address);
    const t = d.connections(0).find((c) => c.template)!;
    expect(t.client.address).toBe('2001:db8:9::');
  });
});
