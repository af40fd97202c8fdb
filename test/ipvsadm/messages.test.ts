// Every ipvsadm message of reference §5.5, with its exit code; none of the
// rejected commands may change the configuration.
import { describe, it, expect, beforeAll } from 'vitest';
import { cli, type Cli } from './harness.js';
import { version } from '../../sdk/core/abi.gen.js';

const { ABI_VERSION } = version;

const S = '-t 198.18.0.1:80';
const A = `-a ${S} -r 198.18.1.1`;

// [argv, stderr, exit code]
const LOCAL: [string, string, number][] = [
  ['-A -t 1234', 'illegal virtual server address[:port] specified', 2],
  ['-A -t 198.18.0.1:http2x', 'illegal virtual server address[:port] specified', 2],
  ['-A -t [2001:db8::1]', 'illegal virtual server address[:port] specified', 2],
  [`-a ${S} -r 99`, 'illegal real server address[:port] specified', 2],
  [`${A} -w 65536`, 'illegal weight specified', 2],
  [`${A} -w -1`, 'illegal weight specified', 2],
  [`${A} -x 2147483648`, 'illegal u_threshold specified', 2],
  [`${A} -y abc`, 'illegal l_threshold specified', 2],
  [`-A ${S} -p 0`, "invalid timeout value `0' specified", 2],
  [`-A ${S} -p 2678401`, "invalid timeout value `2678401' specified", 2],
  ['--set 900 120 x', "invalid timeout value `x' specified", 2],
  ['-A -f 0', "invalid fwmark value `0' specified", 2],
  ['-A -f 4294967296', "invalid fwmark value `4294967296' specified", 2],
  [`-A ${S} -p -M 300.1.1.1`, 'illegal virtual server persistent mask specified', 2],
  [`-A ${S} -p -M 255.0.255.0`, 'illegal virtual server persistent mask specified', 2],
  ['-A -t [2001:db8::1]:80 -p -M 129', 'illegal ipv6 netmask specified', 2],
  ['--start-daemon master --syncid 256', 'illegal syncid specified', 2],
  ['--start-daemon foo', 'illegal start-daemon parameter specified', 2],
  ['--stop-daemon foo', 'illegal start_daemon specified', 2],
  [`-A ${S} -b foo`, "invalid scheduler flag `foo'", 2],
  [`-A ${S} -s rr -b sh-port`, "incompatible scheduler flag `sh-port'", 2],
  [`-A ${S} -b mh-fallback`, "incompatible scheduler flag `mh-fallback'", 2],
  [`${A} -i --tun-type vxlan`, 'illegal tunnel type specified', 2],
  [`${A} -i --tun-type gue --tun-port 0`, 'illegal tunnel port specified', 2],
  ['--start-daemon master --mcast-port 0', 'illegal mcast-port specified', 2],
  ['--start-daemon master --mcast-ttl 256', 'illegal mcast-ttl specified', 2],
  ['--start-daemon master --sync-maxlen 65508', 'illegal sync-maxlen specified', 2],
  ['--start-daemon master --mcast-group 198.18.0.1', "invalid IPv4 mcast-group `198.18.0.1'", 2],
  ['--start-daemon master --mcast-group 2001:db8::1', "invalid IPv6 mcast-group `2001:db8::1'", 2],
  ['--set 900 120', '--set option requires 3 timeout values', 2],
  ['-L foo', 'unexpected argument foo', 2],
  ['-A', "You need to supply the 'service-address' option for the 'add-service' command", 2],
  [`-a ${S}`, "You need to supply the 'real-server' option for the 'add-server' command", 2],
  [`-A ${S} -n`, "Illegal 'numeric' option with the 'add-service' command", 2],
  [`-D ${S} -s rr`, "Illegal 'scheduler' option with the 'delete-service' command", 2],
  ['-C -n', "Illegal 'numeric' option with the 'flush' command", 2],
  [`-d ${S} -r 198.18.1.1 -w 1`, "Illegal 'weight' option with the 'delete-server' command", 2],
  [`-S ${S}`, "Illegal 'service-address' option with the 'save' command", 2],
  [`-L -c ${S}`, "The option 'service-address' conflicts with the 'connection' option in the 'list' command", 2],
  ['-L --timeout --daemon', "The option 'daemon' conflicts with the 'timeout' option in the 'list' command", 2],
  [`${A} -i --tun-type gue`, "You need to supply the 'tun-port' option for the 'gue' tunnel type", 2],
  [`${A} -i --tun-port 6080`, "Illegal 'tun-port' option with the 'ipip' tunnel type", 2],
  [`${A} -i --tun-type gre --tun-remcsum`, "Illegal 'tun-remcsum' option with the 'gre' tunnel type", 2],
  [`${A} -i --tun-type gue --tun-port 1 --tun-nocsum --tun-csum`, "The option 'tun-csum' conflicts with the 'tun-nocsum' option in the 'gue' tunnel type", 2],
  ['-L -A', 'multiple commands specified', 2],
  [`${A} -w 1 -w 2`, "multiple 'weight' options specified", 2],
  [`${A} -m -g`, "multiple 'forwarding-method' options specified", 2],
  ['-A -t 198.18.0.1:0', 'Zero port specified for non-persistent service', 2],
  ['-A -t 198.18.0.1', 'Zero port specified for non-persistent service', 2],
  [`-A ${S} -o`, 'One-Packet Scheduling is only for UDP virtual services', 2],
  [`-a ${S} -r [2001:db8::1]:80 -m`, 'Different address family is allowed only for tunneling servers', 2],
  [`${A} -m --tun-type gre`, 'Tunnel options conflict with forward method', 2],
  ['-L -c --stats', 'options conflicts in the list command', 2],
  ['-L --timeout --persistent-conn', 'options conflicts in the list command', 2],
  [`-A ${S} -6`, '-6 used before -f\n', 2],
  ['-n', "Try `wasmvsadm -h' or 'wasmvsadm --help' for more information.", 255],
  ['foo', "Try `wasmvsadm -h' or 'wasmvsadm --help' for more information.", 255],
  ['--bogus -L', "Try `wasmvsadm -h' or 'wasmvsadm --help' for more information.", 255],
  ['-L --bogus', '--bogus: unknown option', 255],
  ['-LQ', '-LQ: unknown option', 255],
  ['-A -t', '-t: missing argument', 255],
  ['--json -L', "Try `wasmvsadm -h' or 'wasmvsadm --help' for more information.", 255],
  ['-S --json', "Illegal 'json' option with the 'save' command", 2],
  ['-L --atomic', "Illegal 'atomic' option with the 'list' command", 2],
];

// Errors the daemon returns (ipvsadm's kernel errors): exit 255.
const KERNEL: [string, string, number][] = [
  [`-A ${S}`, 'Service already exists', 255],
  ['-A -t 198.18.0.2:80 -s nosuch', 'Scheduler or persistence engine not found', 255],
  ['-A -t 198.18.0.2:80 --pe sip', 'Scheduler or persistence engine not found', 255],
  ['-E -t 198.18.0.2:80', 'No such service', 255],
  ['-D -t 198.18.0.2:80', 'No such service', 255],
  ['-Z -t 198.18.0.2:80', 'No such service', 255],
  ['-a -t 198.18.0.2:80 -r 198.18.1.1', 'Service not defined', 255],
  [`-a ${S} -r 198.18.1.9`, 'Destination already exists', 255],
  [`-e ${S} -r 198.18.1.7`, 'No such destination', 255],
  [`-d ${S} -r 198.18.1.7`, 'No such destination', 255],
  [`-a ${S} -r 198.18.1.8 -y 5`, 'Numerical result out of range', 255],
  ['--start-daemon master', 'Protocol not available', 255],
];

describe('ipvsadm messages and exit codes', () => {
  let c: Cli;
  let before: string;
  beforeAll(async () => {
    c = await cli();
    expect((await c.run(`-A ${S} -s rr`)).code).toBe(0);
    expect((await c.run(`-a ${S} -r 198.18.1.9 -m`)).code).toBe(0);
    before = (await c.run('-S -n')).out;
    expect(before).toBe('-A -t 198.18.0.1:80 -s rr\n-a -t 198.18.0.1:80 -r 198.18.1.9:80 -m -w 1\n');
  });

  it.each([...LOCAL, ...KERNEL])('%s → %s (exit %i)', async (argv, message, code) => {
    const r = await c.run(argv);
    expect(r.err).toBe(message + '\n');
    expect(r.code).toBe(code);
    expect(r.out).toBe('');
    expect((await c.run('-S -n')).out).toBe(before);
  });

  it('listing failures exit 1', async () => {
    const r = await c.run('-L -n -t 198.18.0.2:80');
    expect(r).toEqual({ code: 1, out: '', err: 'No such service\n' });
  });

  it('-h prints usage to stdout, exit 0; -v names wasmvs and the core ABI', async () => {
    const h = await c.run('-h');
    expect(h.code).toBe(0);
    expect(h.out).toContain('wasmvsadm -A|E virtual-service');
    const v = await c.run('--version');
    expect(v.code).toBe(0);
    expect(v.out).toMatch(/^wasmvsadm v\S+ \(wasmvs core ABI \d+\.\d+; ipvsadm v1\.31 compatible, IPVS v1\.2\.1\)\n$/);
    expect(v.out).toContain(`core ABI ${ABI_VERSION >>> 16}.${(ABI_VERSION >>> 8) & 0xff};`);
  });
});
