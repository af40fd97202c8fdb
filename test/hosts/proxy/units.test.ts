// Unit tests of the proxy's pure parts: settings directives, flow limits,
// PROXY protocol bytes, the SIGHUP difference, health rise/fall, drain steps,
// the core's DOWN flag (skipped like OVERLOAD, weight untouched), and the
// listener changes a change's journal names.
import { describe, it, expect } from 'vitest';
import { parseSettings, lookup, HEALTH_DEFAULTS } from '../../../daemon/settings.js';
import { proxyV1, proxyV2 } from '../../../hosts/proxy/proxyproto.js';
import { configDiff, wantedState } from '../../../daemon/reload.js';
import { HealthCheck } from '../../../daemon/health.js';
import { parseOpenFiles, openFilesLimit, resolveLimits, FlowGate, FALLBACK_FDS } from '../../../hosts/proxy/limits.js';
import { Drains } from '../../../daemon/drain.js';
import { ControlHandler } from '../../../daemon/handler.js';
import { director } from '../../helpers.js';
import { listenerOps } from '../../../hosts/proxy/datapath.js';

describe('settings directives', () => {
  it('parses health, proxy-protocol, metrics and options; reports bad lines', () => {
    const warnings: string[] = [];
    const s = parseSettings([
      '-A -t 127.0.0.1:80 -s rr',
      '# wasmvs-proxy health -t 127.0.0.1:80 interval=0.5 rise=3 send=PING%0D%0A expect=PONG',
      '# wasmvs-proxy health -u 127.0.0.1:53 -r 127.0.0.1:5353 fall=1 port=8053',
      '# wasmvs-proxy proxy-protocol -t 127.0.0.1:80 -r 127.0.0.1:8080 v2',
      '# wasmvs-proxy metrics 127.0.0.1:9469',
      '# wasmvs-proxy option expire_nodest_conn=1 sloppy_tcp=1',
      '# wasmvs-proxy health -t nowhere interval=1',
      '# wasmvs-proxy health -t 127.0.0.1:80 rise=0',
      '# an ordinary comment',
    ].join('\n'), (m) => warnings.push(m));
    expect(s.health[0]).toEqual({ scope: { svc: 'tcp|127.0.0.1|80' }, settings: { ...HEALTH_DEFAULTS, interval: 0.5, rise: 3, send: 'PING\r\n', expect: 'PONG' } });
    expect(s.health[1].scope).toEqual({ svc: 'udp|127.0.0.1|53', dest: '127.0.0.1|5353' });
    expect(s.health[1].settings).toEqual({ ...HEALTH_DEFAULTS, fall: 1, port: 8053 });
    expect(s.proxyProtocol).toEqual([{ scope: { svc: 'tcp|127.0.0.1|80', dest: '127.0.0.1|8080' }, version: 2 }]);
    expect(s.metrics).toEqual({ host: '127.0.0.1', port: 9469 });
    expect(s.options).toEqual({ expireNodestConn: true, sloppyTcp: true });
    expect(warnings).toEqual(['line 7: bad service address nowhere (directive skipped)', 'line 8: bad rise=0 (directive skipped)']);
    expect(lookup(s.proxyProtocol, 'tcp|127.0.0.1|80', '127.0.0.1|8080')?.version).toBe(2);
    expect(lookup(s.proxyProtocol, 'tcp|127.0.0.1|80', '127.0.0.1|8081')).toBeUndefined();
  });
});

describe('flow limits', () => {
  const limitsText = (soft: string) => [
    'Limit                     Soft Limit           Hard Limit           Units     ',
    'Max processes             63704                63704                processes ',
    `Max open files            ${soft.padEnd(21)}${soft.padEnd(21)}files     `,
  ].join('\n');

  it('reads the soft open-files limit of /proc/self/limits, falling back when it cannot', () => {
    expect(parseOpenFiles(limitsText('1024'))).toBe(1024);
    expect(parseOpenFiles(limitsText('unlimited'))).toBe(Infinity);
    expect(parseOpenFiles('Max processes 5 5 processes')).toBe(null);
    expect(openFilesLimit(() => limitsText('256'))).toBe(256);
    expect(openFilesLimit(() => { throw new Error('ENOENT'); })).toBe(FALLBACK_FDS);
    expect(openFilesLimit(() => '')).toBe(FALLBACK_FDS);
  });

  it('derives the bounds from the fd limit; sessions + 2 x connections + reserve never pass it', () => {
    const rows = [256, 1024, 65536, 1_048_576, Infinity].map((fds) => {
      const l = resolveLimits({}, fds);
      return [fds, l.reserve, l.udpSessions, l.udpSessionsPerService, l.tcpConns];
    });
    expect(rows).toEqual([
      [256, 64, 96, 48, 48],
      [1024, 128, 448, 224, 224],
      [65536, 1024, 32256, 16128, 16128],
      [1_048_576, 1024, 65536, 32768, 65536],
      [Infinity, 1024, 65536, 32768, 65536],
    ]);
    for (const [fds, reserve, udp, , tcp] of rows.slice(0, 3)) expect(reserve + udp + 2 * tcp).toBeLessThanOrEqual(fds);
    expect(resolveLimits({}, 16)).toMatchObject({ udpSessions: 1, udpSessionsPerService: 1, tcpConns: 1, connectTimeoutMs: 10_000 });
    expect(resolveLimits({ udpSessions: 10, tcpConns: 3, connectTimeout: 0.5 }, 1024))
      .toMatchObject({ udpSessions: 10, udpSessionsPerService: 5, tcpConns: 3, connectTimeoutMs: 500 });
    // tcp-pending: as many as tcp-conns unless set lower.
    expect(resolveLimits({}, 1024).tcpPending).toBe(224);
    expect(resolveLimits({ tcpConns: 3 }, 1024).tcpPending).toBe(3);
    expect(resolveLimits({ tcpPending: 50 }, 1024)).toMatchObject({ tcpConns: 224, tcpPending: 50 });
  });

  it('the gate: half-open TCP connections past tcp-pending are refused while tcp-conns has room', () => {
    const events: string[] = [];
    const gate = new FlowGate(resolveLimits({ tcpConns: 10, tcpPending: 2 }, 1024), {
      refused: (p, k, l, b, first) => events.push(`${first ? 'refuse' : 'again'} ${p} ${k} ${l}=${b}`),
      recovered: (k) => events.push(`recovered ${k}`),
    });
    gate.open.tcp = 2;
    gate.open.pending = 2;
    expect(gate.admit('tcp', 'c', 0)).toBe(false);
    gate.open.tcp = 10;
    expect(gate.admit('tcp', 'c', 0)).toBe(false);
    gate.open.tcp = 2;
    gate.open.pending = 1;
    expect(gate.admit('tcp', 'c', 0)).toBe(true);
    expect(events).toEqual(['refuse tcp c tcp_pending=2', 'again tcp c tcp_conns=10', 'recovered c']);
  });

  it('the gate: per-service before global bounds; one refusal spell per service, ended below 3/4 of the bound', () => {
    const events: string[] = [];
    const gate = new FlowGate(resolveLimits({ udpSessions: 8, udpSessionsPerService: 4, tcpConns: 4 }, 1024), {
      refused: (p, k, l, b, first) => events.push(`${first ? 'refuse' : 'again'} ${p} ${k} ${l}=${b}`),
      recovered: (k) => events.push(`recovered ${k}`),
    });
    expect(gate.admit('udp', 'a', 3)).toBe(true);
    expect(gate.admit('udp', 'a', 4)).toBe(false);
    expect(gate.admit('udp', 'a', 4)).toBe(false);
    expect(gate.admit('udp', 'a', 3)).toBe(true);
    expect(gate.admit('udp', 'a', 2)).toBe(true);
    gate.open.udp = 8;
    expect(gate.admit('udp', 'b', 0)).toBe(false);
    gate.open.tcp = 4;
    expect(gate.admit('tcp', 'c', 0)).toBe(false);
    gate.open.tcp = 2;
    expect(gate.admit('tcp', 'c', 0)).toBe(true);
    expect(events).toEqual([
      'refuse udp a udp_sessions_per_service=4', 'again udp a udp_sessions_per_service=4', 'recovered a',
      'refuse udp b udp_sessions=8', 'refuse tcp c tcp_conns=4', 'recovered c',
    ]);
  });

  it('the limits directive sets what it names; a bad word skips the whole line', () => {
    const warnings: string[] = [];
    const s = parseSettings([
      '# wasmvs-proxy limits udp-sessions=5000 udp-sessions-per-service=100',
      '# wasmvs-proxy limits tcp-conns=20000 connect-timeout=2.5 tcp-pending=300',
      '# wasmvs-proxy limits tcp-conns=7 udp-sessions=0',
      '# wasmvs-proxy limits fds=3',
      '# wasmvs-proxy limits tcp-conns=1.5',
    ].join('\n'), (m) => warnings.push(m));
    expect(s.limits).toEqual({ udpSessions: 5000, udpSessionsPerService: 100, tcpConns: 20000, connectTimeout: 2.5, tcpPending: 300 });
    expect(warnings).toEqual([
      'line 3: bad limit udp-sessions=0 (directive skipped)',
      'line 4: unknown limit fds=3 (directive skipped)',
      'line 5: bad limit tcp-conns=1.5 (directive skipped)',
    ]);
  });
});

describe('PROXY protocol', () => {
  it('v1 text line', () => {
    expect(proxyV1({ address: '::ffff:198.18.0.9', port: 40000 }, { address: '198.18.0.1', port: 80 }).toString())
      .toBe('PROXY TCP4 198.18.0.9 198.18.0.1 40000 80\r\n');
    expect(proxyV1({ address: '2001:db8::9', port: 1 }, { address: '2001:db8::1', port: 443 }).toString())
      .toBe('PROXY TCP6 2001:db8::9 2001:db8::1 1 443\r\n');
    // Mixed families: TCP6 with the IPv4 end mapped (a TCP6 line with a dotted quad is invalid).
    expect(proxyV1({ address: '198.18.0.9', port: 1 }, { address: '2001:2::1', port: 443 }).toString())
      .toBe('PROXY TCP6 ::ffff:198.18.0.9 2001:2::1 1 443\r\n');
  });

  it('v2 binary header, IPv4 TCP and IPv6 UDP', () => {
    const b = proxyV2({ address: '198.18.0.9', port: 40000 }, { address: '198.18.0.1', port: 80 });
    expect(b.toString('hex')).toBe('0d0a0d0a000d0a515549540a' + '21' + '11' + '000c' + 'c6120009' + 'c6120001' + '9c40' + '0050');
    const u = proxyV2({ address: '2001:db8::9', port: 53 }, { address: '2001:db8::1', port: 53 }, 'udp');
    expect(u[13]).toBe(0x22);
    expect(u.readUInt16BE(14)).toBe(36);
    expect(u.length).toBe(16 + 36);
  });
});

describe('SIGHUP difference', () => {
  it('only what changed: deleted, added and edited services and real servers', async () => {
    const d = await director(1);
    const h = new ControlHandler(d, { size: 4096, mode: 'proxy', dataPath: 'none', abiVersion: 0 });
    const svc = { protocol: 'tcp' as const, address: '198.18.0.1', port: 80 };
    d.addService(svc, { scheduler: 'rr' });
    d.addDest(svc, { address: '198.18.1.1', weight: 1, method: 'masq' });
    d.addDest(svc, { address: '198.18.1.2', weight: 1, method: 'masq' });
    d.addService({ protocol: 'tcp', address: '198.18.0.2', port: 80 }, { scheduler: 'wlc' });
    const wanted = await wantedState([
      '-A -t 198.18.0.1:80 -s rr', '-a -t 198.18.0.1:80 -r 198.18.1.1:80 -m -w 1', '-a -t 198.18.0.1:80 -r 198.18.1.3:80 -m -w 5',
      '-A -t 198.18.0.3:80 -s sh', 'this is not a rule',
    ].join('\n'), 'cfg');
    expect(wanted.errors.length).toBe(1);
    const cmds = configDiff(h.list(), h.timeouts(), wanted);
    expect(cmds.map((c) => c.op)).toEqual(['delete-service', 'delete-server', 'add-server', 'add-service']);
    expect(h.apply(cmds, false).results.every((r) => r.ok)).toBe(true);
    expect(configDiff(h.list(), h.timeouts(), wanted)).toEqual([]);
  });
});

describe('health rise/fall', () => {
  it('fall failures in a row mark down, rise successes bring it back; single blips change nothing', () => {
    const events: boolean[] = [];
    const hc = new HealthCheck({ address: '127.0.0.1', port: 1 }, { ...HEALTH_DEFAULTS, rise: 2, fall: 3 }, (up) => events.push(up));
    for (const r of ['x', null, 'x', 'x', null, 'x', 'x', 'x', null, 'x', null, null]) hc.record(r);
    expect(events).toEqual([false, true]);
    expect(hc.up).toBe(true);
  });
});

describe('drain steps', () => {
  it('drained when no connection is left, or forced at the deadline', () => {
    const d = new Drains();
    const e = d.start('k', 'svc', 'dest', 10, 0);
    expect(d.step(e, 2, 2, 0, 5_000)).toBe(null);
    expect(d.step(e, 0, 0, 1, 6_000)).toBe('drained');
    const f = d.start('j', 'svc', 'dest2', 1, 0);
    expect(d.step(f, 1, 1, 0, 1_000)).toBe('deadline');
    expect(f.forced).toBe(true);
  });
});

describe('the core DOWN flag', () => {
  it('a down dest is skipped by rr and wlc like an overloaded one; its weight stays', async () => {
    for (const scheduler of ['rr', 'wlc', 'sh'] as const) {
      const d = await director(1);
      const svc = { protocol: 'tcp' as const, address: '198.18.0.1', port: 80 };
      d.addService(svc, { scheduler, flags: scheduler === 'sh' ? ['sh-fallback'] : [] });
      const a = d.addDest(svc, { address: '198.18.1.1', weight: 2, method: 'masq' });
      d.addDest(svc, { address: '198.18.1.2', weight: 1, method: 'masq' });
      expect(d.setDestHealth(a, false)).toBe(true);
      expect(d.setDestHealth(a, false)).toBe(false);
      for (let i = 0; i < 8; i++) {
        const r = d.schedule({ protocol: 'tcp', client: { address: `198.18.9.${i}`, port: 1000 + i }, virtual: svc });
        expect(r?.dest.address, scheduler).toBe('198.18.1.2');
      }
      expect(d.destById(a).weight).toBe(2);
      expect(d.destById(a).overloaded).toBe(false);
      d.setDestHealth(a, true);
      const seen = new Set<string>();
      for (let i = 0; i < 8; i++) seen.add(d.schedule({ protocol: 'tcp', client: { address: `198.18.8.${i}`, port: 2000 + i }, virtual: svc })!.dest.address);
      expect(seen.has('198.18.1.1'), scheduler).toBe(true);
    }
  });
});

describe('listener changes read from the journal', () => {
  it('-A and -D of TCP and UDP services (IPv4 and IPv6) in order; fwmark passes; -C needs the whole sync', async () => {
    const d = await director(4);
    const h = new ControlHandler(d, { size: 0, mode: 'proxy', dataPath: 'proxy', abiVersion: 0 });
    const out = h.apply([
      { op: 'add-service', svc: { protocol: 'tcp', address: '127.0.0.1', port: 8080 }, opts: { scheduler: 'rr', persistent: 60 } },
      { op: 'add-service', svc: { protocol: 'udp', address: '::1', port: 53 }, opts: {} },
      { op: 'add-service', svc: { fwmark: 7 }, opts: {} },
      { op: 'add-server', svc: { protocol: 'tcp', address: '127.0.0.1', port: 8080 }, dest: { address: '127.0.0.1', port: 9000, method: 'masq' } },
      { op: 'delete-service', svc: { protocol: 'tcp', address: '127.0.0.1', port: 8080 } },
      { op: 'add-service', svc: { protocol: 'tcp', address: '2001:2::a', port: 443 }, opts: {} },
    ], false);
    expect(out.results.every((r) => r.ok)).toBe(true);
    expect(listenerOps(out.journal!)).toEqual([
      { open: { key: 'tcp|127.0.0.1|8080', protocol: 'tcp', address: '127.0.0.1', port: 8080 } },
      { open: { key: 'udp|::1|53', protocol: 'udp', address: '::1', port: 53 } },
      { close: 'tcp|127.0.0.1|8080' },
      { open: { key: 'tcp|2001:2::a|443', protocol: 'tcp', address: '2001:2::a', port: 443 } },
    ]);
    expect(listenerOps(['-A -t 127.0.0.1:80 -s rr', '-C'])).toBeNull();
    expect(listenerOps(['-A -t somewhere:80 -s rr'])).toBeNull();
    expect(listenerOps(['-a -t 127.0.0.1:80 -r 127.0.0.1:81 -m -w 1'])).toEqual([]);
  });
});
