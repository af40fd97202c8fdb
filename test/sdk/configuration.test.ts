// Director.configuration(): every service with its destinations in one pass
// (and serviceConfigs(): the services alone),
// the same fields as services() and dests(key) without the counters, across
// the core's listing pages (more services and destinations than one page).
import { describe, it, expect } from 'vitest';
import { director } from '../helpers.js';

describe('Director.configuration() and serviceConfigs()', () => {
  it('equals services() with dests(key), counters left out, over many pages', async () => {
    const d = await director(16);
    for (let s = 0; s < 1200; s++) {
      const key = { protocol: s % 3 ? 'tcp' as const : 'udp' as const, address: `198.18.${s >> 8}.${s & 255}`, port: 80 + (s % 5) };
      d.addService(key, { scheduler: s % 2 ? 'wlc' : 'rr' });
      for (let r = 0; r < (s % 4); r++) d.addDest(key, { address: `198.19.${r}.${s & 255}`, port: 8080, weight: r + 1, method: r % 2 ? 'masq' : 'route' });
    }
    d.addService({ fwmark: 7 });
    d.addDest({ fwmark: 7 }, { address: '198.18.200.1', port: 0, method: 'route' });
    d.addService({ protocol: 'tcp', address: '2001:2::1', port: 443 });
    d.addDest({ protocol: 'tcp', address: '2001:2::1', port: 443 }, { address: '2001:2::10', port: 443, method: 'masq' });
    const strip = <T extends { stats: unknown; rates: unknown }>({ stats: _s, rates: _r, ...rest }: T) => rest;
    const expected = d.services().map((s) => ({
      ...strip(s),
      dests: d.dests(s.fwmark ? { fwmark: s.fwmark, af: s.af } : { protocol: s.protocol!, address: s.address!, port: s.port }).map(strip),
    }));
    const got = d.configuration();
    expect(got).toHaveLength(1202);
    expect(got.reduce((n, s) => n + s.dests.length, 0)).toBe(1200 * 1.5 + 2);
    expect(got).toEqual(expected);
    // Both schedulers as added (the listing carries each service's own).
    expect(got.filter((s) => s.scheduler === 'rr')).toHaveLength(600);
    expect(got.some((s) => 'stats' in s || s.dests.some((x) => 'stats' in x))).toBe(false);
    // serviceConfigs(): the same services in the same order, without their destinations.
    const services = d.serviceConfigs();
    expect(services).toEqual(expected.map(({ dests: _d, ...rest }) => rest));
    expect(services.some((s) => 'stats' in s || 'dests' in s)).toBe(false);
    d.deleteService({ fwmark: 7 });
    expect(d.configuration().find((s) => s.fwmark === 7)).toBeUndefined();
    expect(d.serviceConfigs()).toHaveLength(1201);
  });

  it('an empty director has none', async () => {
    expect((await director(4)).configuration()).toEqual([]);
    expect((await director(4)).serviceConfigs()).toEqual([]);
  });
});
