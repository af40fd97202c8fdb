// Listings compared byte for byte with ipvsadm's formats (reference §5.6),
// expected texts written out by hand, trailing spaces included.
import { describe, it, expect } from 'vitest';
import { formatTable, formatService, formatConnections, formatTimeouts, largeNum } from '../../ipvsadm/format.js';
import { service, dest, fmt, referenceConfig } from './fixtures.js';
import type { Names } from '../../ipvsadm/names.js';

const HEAD = 'IP Virtual Server version 1.2.1 (size=4096)\n';

describe('-L default format', () => {
  it('prints the reference example (sorted, trailing spaces kept)', () => {
    expect(formatTable(referenceConfig(), 4096, fmt())).toBe(
      HEAD
      + 'Prot LocalAddress:Port Scheduler Flags\n'
      + '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n'
      + 'TCP  207.175.44.110:80 wlc persistent 360 mask 255.255.255.0\n'
      + '  -> 192.168.10.1:80              Masq    1      3          12        \n'
      + '  -> 192.168.10.2:80              Route   0      0          7         \n'
      + 'UDP  207.175.44.110:53 sh (sh-fallback,sh-port)\n'
      + 'FWM  1 rr\n');
  });

  it('uses the connection table size in the header', () => {
    expect(formatTable([], 65536, fmt())).toBe('IP Virtual Server version 1.2.1 (size=65536)\n'
      + 'Prot LocalAddress:Port Scheduler Flags\n'
      + '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n');
  });

  it('keeps kernel order with --nosort', () => {
    const out = formatTable(referenceConfig(), 4096, fmt({ nosort: true })).split('\n').slice(3, 7);
    expect(out).toEqual([
      'FWM  1 rr',
      'UDP  207.175.44.110:53 sh (sh-fallback,sh-port)',
      'TCP  207.175.44.110:80 wlc persistent 360 mask 255.255.255.0',
      '  -> 192.168.10.2:80              Route   0      0          7         ',
    ]);
  });

  it('single service: no version line', () => {
    const s = service({ address: '198.18.0.1', port: 80, scheduler: 'lc', dests: [dest('198.18.1.1', 80, { method: 'masq', weight: 100 })] });
    expect(formatService(s, fmt())).toBe(
      'Prot LocalAddress:Port Scheduler Flags\n'
      + '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n'
      + 'TCP  198.18.0.1:80 lc\n'
      + '  -> 198.18.1.1:80                Masq    100    0          0         \n');
  });

  it('IPv6, fwmark IPv6, ops, flags, local, tunnel', () => {
    const cfg = [
      service({ fwmark: 7, af: 6, protocol: null, scheduler: 'mh', flags: ['mh-port'], persistent: 60, netmask: 64 }),
      service({ protocol: 'udp', address: '2001:db8::1', port: 53, scheduler: 'rr', ops: true,
        dests: [dest('2001:db8::10', 53, { method: 'masq', weight: 2 })] }),
      service({ protocol: 'sctp', address: '198.18.0.9', port: 9, scheduler: 'wrr', flags: ['flag-1', 'flag-3'],
        dests: [dest('198.18.1.9', 9, { method: 'local' }), dest('198.18.1.8', 9, { method: 'tunnel', weight: 65535, activeconns: 4294967295 })] }),
    ];
    expect(formatTable(cfg, 4096, fmt())).toBe(
      HEAD
      + 'Prot LocalAddress:Port Scheduler Flags\n'
      + '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n'
      + 'SCTP 198.18.0.9:9 wrr (flag-1,flag-3)\n'
      + '  -> 198.18.1.8:9                 Tunnel  65535  4294967295 0         \n'
      + '  -> 198.18.1.9:9                 Local   1      0          0         \n'
      + 'UDP  [2001:db8::1]:53 rr ops\n'
      + '  -> [2001:db8::10]:53            Masq    2      0          0         \n'
      + 'FWM  7 IPv6 mh (mh-port) persistent 60 mask 64\n');
  });

  it('sorts with the unsigned-difference quirk: 10.0.0.1 after 192.168.0.1', () => {
    const cfg = [
      service({ address: '10.0.0.1', port: 80, dests: [dest('10.0.0.9', 80), dest('192.168.0.9', 80), dest('10.0.0.8', 80)] }),
      service({ address: '192.168.0.1', port: 80 }),
      service({ address: '10.0.0.2', port: 80 }),
    ];
    const lines = formatTable(cfg, 4096, fmt()).split('\n').slice(3, -1).map((l) => l.slice(0, 24).trimEnd());
    expect(lines).toEqual([
      'TCP  192.168.0.1:80 wlc',
      'TCP  10.0.0.1:80 wlc',
      '  -> 192.168.0.9:80',
      '  -> 10.0.0.8:80',
      '  -> 10.0.0.9:80',
      'TCP  10.0.0.2:80 wlc',
    ]);
  });

  it('resolved names: service cut to 33 characters, dest to 28', () => {
    const names: Names = { host: (_af, a) => (a === '198.18.0.1' ? 'a-rather-long-name.example.org' : 'backend-number-one.example.org'), port: () => 'http' };
    const cfg = [service({ address: '198.18.0.1', port: 80, scheduler: 'rr', dests: [dest('198.18.1.1', 80, { method: 'masq' })] })];
    expect(formatTable(cfg, 4096, fmt({ numeric: false }), names).split('\n').slice(3)).toEqual([
      'TCP  a-rather-long-name.example.o rr',
      '  -> backend-number-one.example.o Masq    1      0          0         ',
      '',
    ]);
  });
});

describe('--stats / --rate / --exact', () => {
  const cfg = () => [service({
    address: '207.175.44.110', port: 80,
    stats: { conns: 15, inpkts: 120, outpkts: 110, inbytes: 123456789, outbytes: 98765432100 },
    rates: { cps: 1, inpps: 100000000, outpps: 2, inbps: 123456789012345, outbps: 99999999 },
    dests: [dest('192.168.10.1', 80, {
      stats: { conns: 15, inpkts: 120, outpkts: 110, inbytes: 123456789, outbytes: 98765432100 },
      rates: { cps: 1, inpps: 100000000, outpps: 2, inbps: 123456789012345, outbps: 99999999 },
    })],
  })];

  it('--stats (the reference example)', () => {
    expect(formatTable(cfg(), 4096, fmt({ stats: true }))).toBe(
      HEAD
      + 'Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n'
      + '  -> RemoteAddress:Port\n'
      + 'TCP  207.175.44.110:80                  15      120      110  123456K   98765M\n'
      + '  -> 192.168.10.1:80                    15      120      110  123456K   98765M\n');
  });

  it('--stats --exact', () => {
    expect(formatTable(cfg(), 4096, fmt({ stats: true, exact: true })).split('\n').slice(3, 5)).toEqual([
      'TCP  207.175.44.110:80                  15      120      110 123456789 98765432100',
      '  -> 192.168.10.1:80                    15      120      110 123456789 98765432100',
    ]);
  });

  it('--rate: dest CPS/InPPS/OutPPS never abbreviated', () => {
    expect(formatTable(cfg(), 4096, fmt({ rate: true }))).toBe(
      HEAD
      + 'Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS\n'
      + '  -> RemoteAddress:Port\n'
      + 'TCP  207.175.44.110:80                   1  100000K        2     123T 99999999\n'
      + '  -> 192.168.10.1:80                     1 100000000        2     123T 99999999\n');
  });

  it('number printer boundaries', () => {
    expect(largeNum(99999999, false)).toBe(' 99999999');
    expect(largeNum(100000000, false)).toBe('  100000K');
    expect(largeNum(999999999, false)).toBe('  999999K');
    expect(largeNum(1000000000, false)).toBe('    1000M');
    expect(largeNum(99999999999, false)).toBe('   99999M');
    expect(largeNum(100000000000, false)).toBe('     100G');
    expect(largeNum(99999999999999, false)).toBe('   99999G');
    expect(largeNum(100000000000000, false)).toBe('     100T');
    expect(largeNum(12345678, true)).toBe(' 12345678');
    expect(largeNum(123456789, true)).toBe(' 123456789');
    expect(largeNum(0, true)).toBe('        0');
  });
});

describe('--thresholds / --persistent-conn / --tun-info', () => {
  const cfg = () => [service({
    address: '198.18.0.1', port: 80, scheduler: 'rr',
    dests: [
      dest('198.18.1.3', 80, { method: 'tunnel', tunnel: { type: 'gre', port: 0, csum: 'csum' }, weight: 3 }),
      dest('198.18.1.2', 80, { method: 'tunnel', tunnel: { type: 'gue', port: 6080, csum: 'remcsum' } }),
      dest('198.18.1.1', 80, { method: 'tunnel', uThreshold: 100, lThreshold: 50, activeconns: 7, inactconns: 8, persistconns: 9 }),
      dest('198.18.1.4', 8080, { method: 'masq', weight: 10 }),
    ],
  })];

  it('--thresholds', () => {
    expect(formatTable(cfg(), 4096, fmt({ thresholds: true }))).toBe(
      HEAD
      + 'Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn \n'
      + '  -> RemoteAddress:Port\n'
      + 'TCP  198.18.0.1:80 rr\n'
      + '  -> 198.18.1.1:80                100        50         7          8         \n'
      + '  -> 198.18.1.2:80                0          0          0          0         \n'
      + '  -> 198.18.1.3:80                0          0          0          0         \n'
      + '  -> 198.18.1.4:8080              0          0          0          0         \n');
  });

  it('--persistent-conn', () => {
    expect(formatTable(cfg(), 4096, fmt({ persistentConn: true })).split('\n').slice(1, 5)).toEqual([
      'Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn ',
      '  -> RemoteAddress:Port',
      'TCP  198.18.0.1:80 rr',
      '  -> 198.18.1.1:80                1         9           7          8         ',
    ]);
  });

  it('--tun-info', () => {
    expect(formatTable(cfg(), 4096, fmt({ tunInfo: true }))).toBe(
      HEAD
      + 'Prot LocalAddress:Port Scheduler Flags\n'
      + '  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n'
      + 'TCP  198.18.0.1:80 rr\n'
      + '  -> 198.18.1.1:80                Tunnel  ipip          1      7          8         \n'
      + '  -> 198.18.1.2:80                Tunnel  gue:6080:r+c  1      0          0         \n'
      + '  -> 198.18.1.3:80                Tunnel  gre:+c        3      0          0         \n'
      + '  -> 198.18.1.4:8080              Masq    n/a           10     0          0         \n');
  });
});

describe('-c and --timeout', () => {
  const conns = [
    { protocol: 'tcp', client: { address: '10.0.0.2', port: 42342 }, virtual: { address: '207.175.44.110', port: 80 },
      dest: { address: '192.168.10.1', port: 80 }, state: 'ESTABLISHED', expires: 898 },
    { protocol: 'udp', client: { address: '198.18.9.9', port: 5353 }, virtual: { address: '198.18.0.1', port: 53 },
      dest: { address: '198.18.1.1', port: 53 }, state: 'UDP', expires: 6005 },
    { protocol: 'ip', client: { address: '198.18.9.9', port: 0 }, virtual: { address: '0.0.0.1', port: 0 },
      dest: { address: '198.18.1.1', port: 0 }, state: 'NONE', expires: 5, template: true },
  ];

  it('-c', () => {
    expect(formatConnections(conns, fmt())).toBe(
      'IPVS connection entries\n'
      + 'pro expire state       source             virtual            destination\n'
      + 'TCP 14:58  ESTABLISHED 10.0.0.2:42342     207.175.44.110:80  192.168.10.1:80\n'
      + 'UDP 100:05 UDP         198.18.9.9:5353    198.18.0.1:53      198.18.1.1:53\n'
      + 'IP  00:05  NONE        198.18.9.9:0       0.0.0.1:0          198.18.1.1:0\n');
  });

  it('-c --persistent-conn header (widths of header and rows differ in ipvsadm)', () => {
    expect(formatConnections([], fmt({ persistentConn: true }))).toBe(
      'IPVS connection entries\n'
      + 'pro expire state       source             virtual            destination        pe name          pe_data\n');
  });

  it('--timeout', () => {
    expect(formatTimeouts({ tcp: 900, tcpfin: 120, udp: 300 })).toBe('Timeout (tcp tcpfin udp): 900 120 300\n');
  });
});
