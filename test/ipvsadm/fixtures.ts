// Plain-object listings for formatter tests (the shapes the daemon returns).
import type { ServiceEntry, DestEntry } from '../../ipvsadm/protocol.js';
import type { ListFormat } from '../../ipvsadm/command.js';

const zeroStats = { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 };
const zeroRates = { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 };

export function dest(address: string, port: number, p: Partial<DestEntry> = {}): DestEntry {
  return {
    id: 1, address, af: address.includes(':') ? 6 : 4, port, weight: 1, method: 'route', uThreshold: 0, lThreshold: 0,
    tunnel: { type: 'ipip', port: 0, csum: 'nocsum' }, available: true, overloaded: false,
    activeconns: 0, inactconns: 0, persistconns: 0, stats: { ...zeroStats }, rates: { ...zeroRates }, ...p,
  };
}

export function service(p: Partial<ServiceEntry> & { dests?: DestEntry[] }): ServiceEntry {
  const af = p.af ?? (p.address?.includes(':') ? 6 : 4);
  return {
    id: 1, protocol: 'tcp', af, address: null, port: 0, fwmark: 0, scheduler: 'wlc', flags: [], persistent: 0,
    netmask: af === 6 ? 128 : '255.255.255.255', ops: false, mhTableSize: 4093, destCount: 0,
    stats: { ...zeroStats }, rates: { ...zeroRates }, dests: [], ...p,
  };
}

export function fmt(p: Partial<ListFormat> = {}): ListFormat {
  return { numeric: true, stats: false, rate: false, thresholds: false, persistentConn: false, nosort: false, exact: false, tunInfo: false, ...p };
}

/** The reference §5.6 example, given in kernel order (unsorted, dests newest first). */
export function referenceConfig(): ServiceEntry[] {
  return [
    service({ fwmark: 1, protocol: null, scheduler: 'rr' }),
    service({ protocol: 'udp', address: '207.175.44.110', port: 53, scheduler: 'sh', flags: ['sh-fallback', 'sh-port'] }),
    service({
      address: '207.175.44.110', port: 80, persistent: 360, netmask: '255.255.255.0',
      dests: [
        dest('192.168.10.2', 80, { weight: 0, inactconns: 7 }),
        dest('192.168.10.1', 80, { method: 'masq', activeconns: 3, inactconns: 12 }),
      ],
    }),
  ];
}
