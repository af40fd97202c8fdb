// The etcd layout without etcd: a configuration's keys and values, and the
// commands that take one configuration to another, checked by rebuilding
// configurations on real Directors (IPv4, IPv6, fwmark, tunnels, timeouts).
import { describe, it, expect } from 'vitest';
import { Director } from '../../../sdk/index.js';
import { layoutOf, layoutCmds, diffLayouts, layoutPart, serviceKey, TIMEOUTS, type Layout } from '../../../daemon/etcd-config.js';
import { applyCmd } from '../../../sdk/commands.js';

const director = () => Director.create({ seed: 1, flavor: 'debug', connections: false });
const plain = (l: Layout) => Object.fromEntries([...l].map(([k, e]) => [k, e.value]));

/** A small deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random configuration: up to 6 services of every kind, up to 4 servers each. */
function randomConfig(d: Director, r: () => number): void {
  d.clear();
  if (r() < 0.5) d.setTimeouts({ tcp: 100 + Math.floor(r() * 100), tcpfin: 20, udp: 30 });
  const n = Math.floor(r() * 6);
  for (let i = 0; i < n; i++) {
    const kind = Math.floor(r() * 4);
    const key = kind === 0 ? { protocol: 'tcp' as const, address: `198.18.0.${1 + Math.floor(r() * 4)}`, port: 80 + Math.floor(r() * 2) }
      : kind === 1 ? { protocol: 'udp' as const, address: `2001:db8::${1 + Math.floor(r() * 4)}`, port: 53 }
        : kind === 2 ? { fwmark: 1 + Math.floor(r() * 3) } : { fwmark: 1 + Math.floor(r() * 3), af: 6 as const };
    try { d.addService(key, { scheduler: (['rr', 'wrr', 'mh', 'sh'] as const)[Math.floor(r() * 4)], persistent: r() < 0.3 ? 300 : 0 }); } catch { continue; }
    const m = Math.floor(r() * 4);
    for (let j = 0; j < m; j++) {
      const v6 = kind === 1 || kind === 3;
      const address = v6 ? `2001:db8:1::${1 + Math.floor(r() * 6)}` : `198.19.0.${1 + Math.floor(r() * 6)}`;
      const method = (['route', 'masq', 'tunnel'] as const)[Math.floor(r() * 3)];
      try {
        // ipvsadm gives -g/-i servers the service's port (what wasmvsadm can express).
        const port = 'fwmark' in key ? 0 : method === 'masq' ? 8080 : key.port;
        d.addDest(key, { address, port, weight: Math.floor(r() * 5), method,
          ...(method === 'tunnel' && r() < 0.5 ? { tunnel: { type: 'gue' as const, port: 6080, csum: 'csum' as const } } : {}) });
      } catch { /* duplicate: skipped */ }
    }
  }
}

describe('etcd layout', () => {
  it('one key per service and per server, values in state-file syntax', async () => {
    const d = await director();
    d.addService({ protocol: 'udp', address: '2001:db8::1', port: 53 }, { scheduler: 'sh' });
    d.addDest({ protocol: 'udp', address: '2001:db8::1', port: 53 }, { address: '2001:db8:1::2', port: 53, method: 'masq', weight: 2 });
    d.addService({ fwmark: 7, af: 6 }, { scheduler: 'mh' });
    d.setTimeouts({ tcp: 100, tcpfin: 20, udp: 30 });
    expect(plain(layoutOf(d))).toEqual({
      [TIMEOUTS]: '--set 100 20 30',
      'config/services/udp/[2001:db8::1]:53': '-A -u [2001:db8::1]:53 -s sh',
      'config/services/udp/[2001:db8::1]:53/dests/[2001:db8:1::2]:53': '-a -u [2001:db8::1]:53 -r [2001:db8:1::2]:53 -m -w 2',
      'config/services/fwmark6/7': '-A -f 7 -6 -s mh',
    });
  });

  it('the commands between any two configurations rebuild the second exactly (200 random pairs)', async () => {
    const r = rng(13);
    const x = await director();
    const y = await director();
    for (let i = 0; i < 200; i++) {
      randomConfig(x, r);
      randomConfig(y, r);
      const from = layoutOf(x);
      const to = layoutOf(y);
      for (const c of layoutCmds(from, to, (k, why) => { throw new Error(`${k}: ${why}`); })) applyCmd(x, c);
      expect(plain(layoutOf(x)), `pair ${i}`).toEqual(plain(to));
      // A write's diff names exactly the keys that differ.
      const diff = diffLayouts(from, to);
      for (const [k, v] of diff.puts) expect(from.get(k)?.value).not.toBe(v);
      for (const k of diff.deletes) expect(to.has(k)).toBe(false);
    }
  });

  it('servers added in one revision go in by key, so every director builds the same list', async () => {
    const svc = { protocol: 'tcp' as const, address: '198.18.0.1', port: 80 };
    const to: Layout = new Map([
      ['config/services/tcp/198.18.0.1:80', { value: '-A -t 198.18.0.1:80 -s rr', create: 5 }],
      ['config/services/tcp/198.18.0.1:80/dests/198.19.0.9:80', { value: '-a -t 198.18.0.1:80 -r 198.19.0.9:80 -g -w 1', create: 5 }],
      ['config/services/tcp/198.18.0.1:80/dests/198.19.0.1:80', { value: '-a -t 198.18.0.1:80 -r 198.19.0.1:80 -g -w 1', create: 7 }],
      ['config/services/tcp/198.18.0.1:80/dests/198.19.0.2:80', { value: '-a -t 198.18.0.1:80 -r 198.19.0.2:80 -g -w 1', create: 5 }],
    ]);
    const d = await director();
    for (const c of layoutCmds(new Map(), to)) applyCmd(d, c);
    // IPVS list order is newest first: added 0.2, 0.9 (revision 5, by key), then 0.1 (revision 7).
    expect(d.dests(svc).map((x) => x.address)).toEqual(['198.19.0.1', '198.19.0.9', '198.19.0.2']);
  });

  it('a part of a layout: the named services, their servers and the timeouts', async () => {
    const d = await director();
    randomConfig(d, rng(5));
    d.addService({ protocol: 'tcp', address: '198.18.9.9', port: 1 }, {});
    d.addDest({ protocol: 'tcp', address: '198.18.9.9', port: 1 }, { address: '198.19.9.9', port: 1 });
    const s = d.service({ protocol: 'tcp', address: '198.18.9.9', port: 1 });
    const part = layoutPart(layoutOf(d), new Set([serviceKey(s)]));
    expect(plain(part)).toEqual(plain(layoutOf(d, [s])));
  });
});

describe('--store etcd://… addresses', async () => {
  const { parseEtcdUrl } = await import('../../../daemon/store-etcd.js');
  it('hosts and a prefix ending in /, or a clear refusal', () => {
    expect(parseEtcdUrl('etcd://127.0.0.1:2379/lb')).toEqual({ hosts: ['http://127.0.0.1:2379'], prefix: '/lb/' });
    expect(parseEtcdUrl('etcd://e1:2379,[::1]:2379/a/b/')).toEqual({ hosts: ['http://e1:2379', 'http://[::1]:2379'], prefix: '/a/b/' });
    expect(parseEtcdUrl('etcd://127.0.0.1:2379')).toEqual({ hosts: ['http://127.0.0.1:2379'], prefix: '/wasmvs/' });
    expect(parseEtcdUrl('etcd://127.0.0.1:2379/')).toMatch(/a prefix is required/);
    expect(parseEtcdUrl('http://127.0.0.1:2379/lb')).toMatch(/expected etcd:\/\/HOST:PORT\/PREFIX/);
    expect(parseEtcdUrl('etcd://127.0.0.1/lb')).toMatch(/bad host:port "127\.0\.0\.1"/);
  });
});
