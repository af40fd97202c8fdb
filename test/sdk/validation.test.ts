// Bad input for every Director operation: the right WasmvsError subclass, a
// stable `code`, ipvsadm's message (reference §5.4, §5.5), and no change to
// the configuration (services() and dests() are compared before and after).
import { describe, it, expect } from 'vitest';
import {
  Director, WasmvsError, ValidationError, ServiceExistsError, NoSuchServiceError, ServiceNotDefinedError,
  DestExistsError, NoSuchDestError, SchedulerNotFoundError, InvalidOperationError, OutOfRangeError,
} from '../../sdk/index.js';
import type { ServiceKey, ServiceInfo, FlowInput } from '../../sdk/index.js';
import { tcp80, flowFrom } from '../helpers.js';
import { loadDirector } from '../sched/load.helpers.js';

const udp53: ServiceKey = { protocol: 'udp', address: '198.18.0.2', port: 53 };
const mark7: ServiceKey = { fwmark: 7 };
const v6: ServiceKey = { protocol: 'tcp', address: '2001:db8::1', port: 443 };
const anyPort: ServiceKey = { protocol: 'tcp', address: '198.18.0.3', port: 0 };
const missing: ServiceKey = { protocol: 'tcp', address: '198.18.0.99', port: 80 };

async function configured(): Promise<Director> {
  const d = await loadDirector(1);
  d.addService(tcp80, { scheduler: 'wlc' });
  d.addDest(tcp80, { address: '198.18.1.1', weight: 2, uThreshold: 10, lThreshold: 5 });
  d.addDest(tcp80, { address: '198.18.1.2', method: 'masq' });
  d.addService(udp53, { scheduler: 'sh', flags: ['sh-port'], ops: true });
  d.addDest(udp53, { address: '198.18.1.3' });
  d.addService(mark7, { scheduler: 'rr', persistent: 600, netmask: '255.255.255.0' });
  d.addService(v6, { scheduler: 'lc', persistent: true, netmask: 64 });
  d.addDest(v6, { address: '2001:db8::10', weight: 3 });
  d.addService(anyPort, { persistent: true });
  return d;
}

function keyOf(s: ServiceInfo): ServiceKey {
  return s.fwmark ? { fwmark: s.fwmark, af: s.af } : { protocol: s.protocol!, address: s.address!, port: s.port };
}

/** Every service and every dest list, as plain data. */
function snapshot(d: Director): unknown {
  return d.services().map((s) => ({ s, dests: d.dests(keyOf(s)) }));
}

type ErrorClass = abstract new (...args: never[]) => WasmvsError;

function expectRejected(d: Director, call: () => unknown, cls: ErrorClass, code: string, message: string): void {
  const before = snapshot(d);
  let err: unknown;
  try {
    call();
  } catch (e) {
    err = e;
  }
  expect(err, 'the call must throw').toBeInstanceOf(cls);
  expect((err as WasmvsError).code).toEqual(code);
  expect((err as WasmvsError).message).toEqual(message);
  expect(snapshot(d)).toEqual(before);
}

const M = {
  vaddr: 'illegal virtual server address[:port] specified',
  raddr: 'illegal real server address[:port] specified',
  weight: 'illegal weight specified',
  noSched: 'Scheduler or persistence engine not found',
  exists: 'Service already exists',
  noService: 'No such service',
  notDefined: 'Service not defined',
  destExists: 'Destination already exists',
  noDest: 'No such destination',
  einval: 'Invalid operation.  Possibly wrong module version, address not unicast, ...',
  erange: 'Numerical result out of range',
};

type Case = [string, (d: Director) => unknown, ErrorClass, string, string];

const badServiceKeys: [string, unknown][] = [
  ['bad address', { protocol: 'tcp', address: '198.18.0.256', port: 80 }],
  ['hostname', { protocol: 'tcp', address: 'example.com', port: 80 }],
  ['all-digit address', { protocol: 'tcp', address: '3323068417', port: 80 }],
  ['port 65536', { protocol: 'tcp', address: '198.18.0.1', port: 65536 }],
  ['port -1', { protocol: 'tcp', address: '198.18.0.1', port: -1 }],
  ['port 1.5', { protocol: 'tcp', address: '198.18.0.1', port: 1.5 }],
  ['port as a string', { protocol: 'tcp', address: '198.18.0.1', port: '80' }],
  ['no key at all', null],
];

const addServiceCases: Case[] = [
  ...badServiceKeys.map(([n, k]): Case => [`-A ${n}`, (d) => d.addService(k as ServiceKey), ValidationError, 'EBADVADDR', M.vaddr]),
  ['-A unknown protocol', (d) => d.addService({ protocol: 'icmp', address: '198.18.0.5', port: 1 } as never), ValidationError, 'EBADPROTO', "unknown protocol `icmp'"],
  ['-A fwmark 0', (d) => d.addService({ fwmark: 0 }), ValidationError, 'EBADFWMARK', "invalid fwmark value `0' specified"],
  ['-A fwmark 1.5', (d) => d.addService({ fwmark: 1.5 }), ValidationError, 'EBADFWMARK', "invalid fwmark value `1.5' specified"],
  ['-A fwmark 2^32', (d) => d.addService({ fwmark: 2 ** 32 }), ValidationError, 'EBADFWMARK', `invalid fwmark value \`${2 ** 32}' specified`],
  ['-A unknown scheduler', (d) => d.addService({ ...tcp80, port: 81 }, { scheduler: 'fastest' as never }), SchedulerNotFoundError, 'ENOSCHED', M.noSched],
  ['-A sh-port with wlc', (d) => d.addService({ ...tcp80, port: 81 }, { scheduler: 'wlc', flags: ['sh-port'] }), ValidationError, 'ESCHEDFLAGINCOMPAT', "incompatible scheduler flag `sh-port'"],
  ['-A mh-fallback with sh', (d) => d.addService({ ...tcp80, port: 81 }, { scheduler: 'sh', flags: ['mh-fallback'] }), ValidationError, 'ESCHEDFLAGINCOMPAT', "incompatible scheduler flag `mh-fallback'"],
  ['-A unknown flag', (d) => d.addService({ ...tcp80, port: 81 }, { flags: ['turbo' as never] }), ValidationError, 'EBADSCHEDFLAG', "invalid scheduler flag `turbo'"],
  ['-A flags not a list', (d) => d.addService({ ...tcp80, port: 81 }, { scheduler: 'sh', flags: 'sh-port' as never }), ValidationError, 'EBADSCHEDFLAG', "invalid scheduler flag `sh-port'"],
  ['-A ops on TCP', (d) => d.addService({ ...tcp80, port: 81 }, { ops: true }), ValidationError, 'EOPS', 'One-Packet Scheduling is only for UDP virtual services'],
  ['-A zero port, not persistent', (d) => d.addService({ ...tcp80, port: 0 }), ValidationError, 'EZEROPORT', 'Zero port specified for non-persistent service'],
  ['-A persistence 0', (d) => d.addService({ ...tcp80, port: 81 }, { persistent: 0 }), ValidationError, 'EBADTIMEOUT', "invalid timeout value `0' specified"],
  ['-A persistence 2678401', (d) => d.addService({ ...tcp80, port: 81 }, { persistent: 2678401 }), ValidationError, 'EBADTIMEOUT', "invalid timeout value `2678401' specified"],
  ['-A persistence 1.5', (d) => d.addService({ ...tcp80, port: 81 }, { persistent: 1.5 }), ValidationError, 'EBADTIMEOUT', "invalid timeout value `1.5' specified"],
  ['-A netmask not contiguous', (d) => d.addService({ ...tcp80, port: 81 }, { persistent: true, netmask: '255.0.255.0' }), ValidationError, 'EBADNETMASK', 'illegal virtual server persistent mask specified'],
  ['-A IPv4 netmask as a prefix', (d) => d.addService({ ...tcp80, port: 81 }, { persistent: true, netmask: 24 }), ValidationError, 'EBADNETMASK', 'illegal virtual server persistent mask specified'],
  ['-A IPv6 netmask 129', (d) => d.addService({ ...v6, port: 444 }, { persistent: true, netmask: 129 }), ValidationError, 'EBADNETMASK6', 'illegal ipv6 netmask specified'],
  ['-A IPv6 netmask dotted', (d) => d.addService({ ...v6, port: 444 }, { persistent: true, netmask: '255.255.255.0' }), ValidationError, 'EBADNETMASK6', 'illegal ipv6 netmask specified'],
  ['-A mh table size not a supported prime', (d) => d.addService({ ...tcp80, port: 81 }, { scheduler: 'mh', mhTableSize: 4096 }), ValidationError, 'EBADMHSIZE', "invalid mh table size `4096' (one of 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071)"],
  ['-A existing service', (d) => d.addService(tcp80, { scheduler: 'rr' }), ServiceExistsError, 'ESERVICEEXISTS', M.exists],
  ['-A existing fwmark service', (d) => d.addService(mark7), ServiceExistsError, 'ESERVICEEXISTS', M.exists],
];

const editServiceCases: Case[] = [
  ['-E missing service', (d) => d.editService(missing), NoSuchServiceError, 'ENOSERVICE', M.noService],
  ['-E bad address', (d) => d.editService({ ...tcp80, address: '198.18.0' }), ValidationError, 'EBADVADDR', M.vaddr],
  ['-E unknown scheduler', (d) => d.editService(tcp80, { scheduler: 'none2' as never }), SchedulerNotFoundError, 'ENOSCHED', M.noSched],
  ['-E sh-port with wlc', (d) => d.editService(udp53, { scheduler: 'wlc', flags: ['sh-port'] }), ValidationError, 'ESCHEDFLAGINCOMPAT', "incompatible scheduler flag `sh-port'"],
  ['-E unknown flag', (d) => d.editService(udp53, { scheduler: 'sh', flags: ['sh-port', 'sh-turbo' as never] }), ValidationError, 'EBADSCHEDFLAG', "invalid scheduler flag `sh-turbo'"],
  ['-E ops on TCP', (d) => d.editService(tcp80, { ops: true }), ValidationError, 'EOPS', 'One-Packet Scheduling is only for UDP virtual services'],
  ['-E persistence out of range', (d) => d.editService(tcp80, { persistent: -5 }), ValidationError, 'EBADTIMEOUT', "invalid timeout value `-5' specified"],
  ['-E bad netmask', (d) => d.editService(mark7, { persistent: true, netmask: '255.255.255.256' }), ValidationError, 'EBADNETMASK', 'illegal virtual server persistent mask specified'],
  ['-E zero-port persistent service made non-persistent', (d) => d.editService(anyPort), ValidationError, 'EZEROPORT', 'Zero port specified for non-persistent service'],
];

const otherServiceCases: Case[] = [
  ['-D missing service', (d) => d.deleteService(missing), NoSuchServiceError, 'ENOSERVICE', M.noService],
  ['-D missing fwmark service', (d) => d.deleteService({ fwmark: 8 }), NoSuchServiceError, 'ENOSERVICE', M.noService],
  ['-D bad key', (d) => d.deleteService({ protocol: 'tcp', address: '::1::2', port: 80 }), ValidationError, 'EBADVADDR', M.vaddr],
  ['serviceId missing service', (d) => d.serviceId(missing), NoSuchServiceError, 'ENOSERVICE', M.noService],
  ['serviceId IPv6 fwmark service of the IPv4 mark', (d) => d.serviceId({ fwmark: 7, af: 6 }), NoSuchServiceError, 'ENOSERVICE', M.noService],
  ['serviceId bad port', (d) => d.serviceId({ ...tcp80, port: 1e6 }), ValidationError, 'EBADVADDR', M.vaddr],
  ['dests of a missing service', (d) => d.dests(missing), NoSuchServiceError, 'ENOSERVICE', M.noService],
  ['dests with a bad key', (d) => d.dests({ ...tcp80, port: NaN }), ValidationError, 'EBADVADDR', M.vaddr],
];

const destCases: Case[] = [
  ['-a bad address', (d) => d.addDest(tcp80, { address: '198.18.1.300' }), ValidationError, 'EBADRADDR', M.raddr],
  ['-a port 65536', (d) => d.addDest(tcp80, { address: '198.18.1.9', port: 65536 }), ValidationError, 'EBADRADDR', M.raddr],
  ['-a port 1.5', (d) => d.addDest(tcp80, { address: '198.18.1.9', port: 1.5 }), ValidationError, 'EBADRADDR', M.raddr],
  ['-a weight 65536', (d) => d.addDest(tcp80, { address: '198.18.1.9', weight: 65536 }), ValidationError, 'EBADWEIGHT', M.weight],
  ['-a weight -1', (d) => d.addDest(tcp80, { address: '198.18.1.9', weight: -1 }), ValidationError, 'EBADWEIGHT', M.weight],
  ['-a weight 1.5', (d) => d.addDest(tcp80, { address: '198.18.1.9', weight: 1.5 }), ValidationError, 'EBADWEIGHT', M.weight],
  ['-a u_threshold -1', (d) => d.addDest(tcp80, { address: '198.18.1.9', uThreshold: -1 }), ValidationError, 'EBADUTHRESH', 'illegal u_threshold specified'],
  ['-a l_threshold 2^31', (d) => d.addDest(tcp80, { address: '198.18.1.9', uThreshold: 5, lThreshold: 2 ** 31 }), ValidationError, 'EBADLTHRESH', 'illegal l_threshold specified'],
  ['-a l_threshold above u_threshold', (d) => d.addDest(tcp80, { address: '198.18.1.9', uThreshold: 5, lThreshold: 6 }), OutOfRangeError, 'ERANGE', M.erange],
  ['-a unknown method', (d) => d.addDest(tcp80, { address: '198.18.1.9', method: 'nat' as never }), ValidationError, 'EBADMETHOD', "unknown forwarding method `nat'"],
  ['-a IPv6 server on an IPv4 service (not tunnel)', (d) => d.addDest(tcp80, { address: '2001:db8::9', method: 'masq' }), ValidationError, 'EFAMILY', 'Different address family is allowed only for tunneling servers'],
  ['-a tunnel options with masq', (d) => d.addDest(tcp80, { address: '198.18.1.9', method: 'masq', tunnel: { type: 'gue', port: 6080 } }), ValidationError, 'ETUNOPTS', 'Tunnel options conflict with forward method'],
  ['-a tunnel options with the default method', (d) => d.addDest(tcp80, { address: '198.18.1.9', tunnel: { type: 'ipip' } }), ValidationError, 'ETUNOPTS', 'Tunnel options conflict with forward method'],
  ['-a unknown tunnel type', (d) => d.addDest(tcp80, { address: '198.18.1.9', method: 'tunnel', tunnel: { type: 'vxlan' as never } }), ValidationError, 'EBADTUNTYPE', 'illegal tunnel type specified'],
  ['-a gue without a port', (d) => d.addDest(tcp80, { address: '198.18.1.9', method: 'tunnel', tunnel: { type: 'gue' } }), ValidationError, 'EBADTUNPORT', 'illegal tunnel port specified'],
  ['-a to a missing service', (d) => d.addDest(missing, { address: '198.18.1.9' }), ServiceNotDefinedError, 'ESERVICENOTDEFINED', M.notDefined],
  ['-a existing dest', (d) => d.addDest(tcp80, { address: '198.18.1.1', weight: 9 }), DestExistsError, 'EDESTEXISTS', M.destExists],
  ['-a existing IPv6 dest', (d) => d.addDest(v6, { address: '2001:db8:0::10' }), DestExistsError, 'EDESTEXISTS', M.destExists],
  ['-e missing dest', (d) => d.editDest(tcp80, { address: '198.18.1.9' }), NoSuchDestError, 'ENODEST', M.noDest],
  ['-e other port of an existing address', (d) => d.editDest(tcp80, { address: '198.18.1.1', port: 8080 }), NoSuchDestError, 'ENODEST', M.noDest],
  ['-e on a missing service', (d) => d.editDest(missing, { address: '198.18.1.1' }), ServiceNotDefinedError, 'ESERVICENOTDEFINED', M.notDefined],
  ['-e weight 65536', (d) => d.editDest(tcp80, { address: '198.18.1.1', weight: 65536 }), ValidationError, 'EBADWEIGHT', M.weight],
  ['-e l_threshold above u_threshold', (d) => d.editDest(tcp80, { address: '198.18.1.1', uThreshold: 1, lThreshold: 2 }), OutOfRangeError, 'ERANGE', M.erange],
  ['-e tunnel options with route', (d) => d.editDest(tcp80, { address: '198.18.1.1', method: 'route', tunnel: { type: 'gre' } }), ValidationError, 'ETUNOPTS', 'Tunnel options conflict with forward method'],
  ['-e family mismatch', (d) => d.editDest(v6, { address: '198.18.1.10' }), ValidationError, 'EFAMILY', 'Different address family is allowed only for tunneling servers'],
  ['-d missing dest', (d) => d.deleteDest(tcp80, { address: '198.18.1.3' }), NoSuchDestError, 'ENODEST', M.noDest],
  ['-d on a missing service', (d) => d.deleteDest(missing, { address: '198.18.1.1' }), ServiceNotDefinedError, 'ESERVICENOTDEFINED', M.notDefined],
  ['-d bad address', (d) => d.deleteDest(tcp80, { address: '198.18.1' }), ValidationError, 'EBADRADDR', M.raddr],
  ['-d port out of range', (d) => d.deleteDest(tcp80, { address: '198.18.1.1', port: 70000 }), ValidationError, 'EBADRADDR', M.raddr],
];

const good = flowFrom('198.18.9.9', 40000);
const flowCases: [string, FlowInput][] = [
  ['no flow', null as never],
  ['unknown protocol', { ...good, protocol: 'icmp' as never }],
  ['bad virtual address', { ...good, virtual: { address: '198.18.0.1.1', port: 80 } }],
  ['virtual port 65536', { ...good, virtual: { address: '198.18.0.1', port: 65536 } }],
  ['bad client address', { ...good, client: { address: 'client', port: 1 } }],
  ['client port 1.5', { ...good, client: { address: '198.18.9.9', port: 1.5 } }],
  ['client and virtual of different families', { ...good, client: { address: '2001:db8::9', port: 1 } }],
  ['fwmark 1.5', { ...good, fwmark: 1.5 }],
  ['negative time', { ...good, now: -1 }],
  ['NaN time', { ...good, now: NaN }],
];

describe('Director rejects bad input and changes nothing', () => {
  for (const [name, call, cls, code, message] of [...addServiceCases, ...editServiceCases, ...otherServiceCases, ...destCases]) {
    it(name, async () => {
      const d = await configured();
      expectRejected(d, () => call(d), cls, code, message);
    });
  }

  for (const [name, flow] of flowCases) {
    it(`schedule: ${name}`, async () => {
      const d = await configured();
      const before = d.counter(0);
      expect(() => d.schedule(flow)).toThrow(WasmvsError);
      expect(d.counter(0)).toBe(before);
      expectRejected(d, () => d.scheduleBatch([good, flow]), WasmvsError, expect.any(String) as never, expect.any(String) as never);
    });
  }

  it('schedule: errors name the bad part of the flow', async () => {
    const d = await configured();
    const codeOf = (f: FlowInput) => { try { d.schedule(f); } catch (e) { return (e as WasmvsError).code; } return 'none'; };
    expect(flowCases.map(([, f]) => codeOf(f))).toEqual([
      'EBADVADDR', 'EBADPROTO', 'EBADVADDR', 'EBADVADDR', 'EBADCADDR', 'EBADCADDR', 'EBADCADDR', 'EBADFWMARK', 'EINVAL', 'EINVAL',
    ]);
    expect(() => d.schedule({ ...good, now: -1 })).toThrow(InvalidOperationError);
  });

  it('scheduleBatch: a bad flow anywhere rejects the whole batch before any flow is scheduled', async () => {
    const d = await loadDirector(1, true);
    d.addService(tcp80);
    d.addDest(tcp80, { address: '198.18.1.1' });
    const flows = Array.from({ length: 1500 }, (_, i) => flowFrom('198.18.9.9', 10000 + i));
    flows.push({ ...good, client: { address: '198.18.9.9', port: -1 } });
    expect(() => d.scheduleBatch(flows)).toThrow(ValidationError);
    expect(d.counter(0)).toBe(0);
    expect(d.connections()).toEqual([]);
    expect(d.dests(tcp80)[0].inactconns + d.dests(tcp80)[0].activeconns).toBe(0);
  });

  it('scheduleBatch: not a list, or a bad time', async () => {
    const d = await configured();
    expectRejected(d, () => d.scheduleBatch(null as never), InvalidOperationError, 'EINVAL', M.einval);
    expectRejected(d, () => d.scheduleBatch([good], -3), InvalidOperationError, 'EINVAL', M.einval);
    expect(d.scheduleBatch([])).toEqual([]);
  });

  it('after every rejection the director still works', async () => {
    const d = await configured();
    for (const [, call] of [...addServiceCases, ...destCases]) {
      try { call(d); } catch { /* rejected as the cases above check */ }
    }
    expect(d.schedule(good)?.dest.address).toMatch(/^198\.18\.1\.[12]$/);
  });
});
