// The gateway host and IPv6 forwarding, without root: a sysctl map that
// behaves as Linux's /proc/sys/net/ipv6/conf (writing `all` rewrites
// `default` and every interface), a recording command runner, a queue class
// that binds and reads nothing, and an in-memory record of the originals.
// IPv6 forwarding is turned on with the first IPv6 service only, recorded
// before it changes, and every value comes back as it was at stop.
import { describe, expect, it } from 'vitest';
import type { NativeQueue, NfQueueOptions, NfQueueStats } from '../../../native/addon.js';
import { Gateway, GATEWAY_DEFAULTS } from '../../../hosts/gateway/gateway.js';
import type { SysctlRecord } from '../../../hosts/gateway/sysctl-record.js';
import { director } from '../../helpers.js';

class IdleQueue implements NativeQueue {
  readonly fd = -1;
  constructor(readonly options: NfQueueOptions) {}
  start(): void {}
  stop(): void {}
  read(): number { return 0; }
  verdicts(_r: Uint8Array, count: number): number { return count; }
  stats(): NfQueueStats { return { packets: 0, enobufs: 0, nlErrors: 0, malformed: 0, verdictMsgs: 0, sends: 0 }; }
  close(): void {}
}

const CONF = '/proc/sys/net/ipv6/conf';
const DEVS = ['lo', 'eth0', 'eth1'];

/** IPv6 conf as Linux keeps it: all=0, eth1 forwarding on its own, eth0 taking router advertisements. */
function kernel(allForwarding = '0') {
  const files = new Map<string, string>([['/proc/sys/net/ipv4/ip_forward', '0'], [`${CONF}/all/forwarding`, allForwarding], [`${CONF}/default/forwarding`, allForwarding]]);
  for (const d of DEVS) {
    files.set(`${CONF}/${d}/forwarding`, d === 'eth1' || allForwarding === '1' ? '1' : '0');
    files.set(`${CONF}/${d}/accept_ra`, d === 'eth0' ? '1' : '0');
  }
  const writes: string[] = [];
  const sysctl = {
    read: (p: string) => { const v = files.get(p); if (v === undefined) throw new Error(`ENOENT ${p}`); return v; },
    write: (p: string, v: string) => {
      writes.push(`${p}=${v}`);
      files.set(p, v);
      // addrconf: a write to all.forwarding sets default's and every interface's too.
      if (p === `${CONF}/all/forwarding`) for (const d of ['default', ...DEVS]) files.set(`${CONF}/${d}/forwarding`, v);
    },
    list: (dir: string) => (dir === CONF ? ['all', 'default', ...DEVS] : []),
  };
  return { files, sysctl, writes };
}

class MemoryRecord implements SysctlRecord {
  readonly where = 'memory';
  saved: Record<string, string> | null = null;
  load() { return this.saved ? { netns: '', sysctl: this.saved } : null; }
  save(values: ReadonlyMap<string, string>): void { this.saved = Object.fromEntries(values); }
  remove(): void { this.saved = null; }
}

async function gateway(allForwarding = '0') {
  const k = kernel(allForwarding);
  const record = new MemoryRecord();
  const calls: string[] = [];
  const logs: string[] = [];
  const gw = new Gateway({ ...GATEWAY_DEFAULTS, stride: 2048 }, (m) => logs.push(m), {
    Native: IdleQueue, record, sysctl: k.sysctl,
    exec: (cmd, args, input) => { calls.push(`${cmd} ${args.join(' ')}${input ? ` <<${input}` : ''}`); if (args.includes('-C')) throw new Error('no'); return ''; },
  });
  const d = await director(4);
  return { ...k, record, calls, logs, gw, d };
}

const v4svc = { protocol: 'tcp' as const, address: '198.18.42.1', port: 80 };
const v6svc = { protocol: 'tcp' as const, address: '2001:2:0:42::1', port: 80 };

describe('gateway host: IPv6 forwarding follows the IPv6 services', () => {
  it('IPv4 services only: no IPv6 sysctl is read or written, no ip6tables', async () => {
    const g = await gateway();
    g.d.addService(v4svc);
    g.d.addDest(v4svc, { address: '198.18.41.2', port: 8080, method: 'masq' });
    await g.gw.start(g.d);
    expect(g.writes.filter((w) => w.includes('ipv6'))).toEqual([]);
    expect(g.calls.some((c) => c.startsWith('ip6tables-restore'))).toBe(false);
    await g.gw.stop();
  });

  it('the first IPv6 service turns forwarding on, recorded first; stop puts all, default and each interface back', async () => {
    const g = await gateway();
    const before = new Map(g.files);
    await g.gw.start(g.d);
    expect(g.files.get(`${CONF}/all/forwarding`)).toBe('0');
    g.d.addService(v6svc);
    g.d.addDest(v6svc, { address: '2001:2:0:41::2', port: 8080, method: 'masq' });
    await g.gw.configChanged();
    for (const d of ['all', 'default', ...DEVS]) expect(g.files.get(`${CONF}/${d}/forwarding`)).toBe('1');
    // Recorded before the write, `all` first so a restore writes it before the values it overrides.
    expect(Object.entries(g.record.saved!).filter(([p]) => p.includes('ipv6'))).toEqual([
      [`${CONF}/all/forwarding`, '0'], [`${CONF}/default/forwarding`, '0'],
      [`${CONF}/lo/forwarding`, '0'], [`${CONF}/eth0/forwarding`, '0'], [`${CONF}/eth1/forwarding`, '1']]);
    expect(g.logs.find((l) => l.includes('net.ipv6.conf.all.forwarding=1'))).toMatch(/eth0 \(accept_ra=1\) ignore router advertisements/);
    // ICMPv6 errors about the service's connections are queued by type, never neighbour discovery.
    const restore = g.calls.find((c) => c.startsWith('ip6tables-restore'))!;
    for (const t of [1, 2, 3, 4]) {
      expect(restore).toContain(`-d 2001:2:0:42::1/128 -p icmpv6 --icmpv6-type ${t} -j NFQUEUE`);
      expect(restore).toContain(`-s 2001:2:0:41::2/128 -p icmpv6 --icmpv6-type ${t} -j NFQUEUE`);
    }
    expect(restore).not.toMatch(/icmpv6-type 13[56]/);
    await g.gw.stop();
    expect(g.files).toEqual(before);
    expect(g.record.saved).toBeNull();
  });

  it('forwarding already on: left alone and not recorded', async () => {
    const g = await gateway('1');
    g.d.addService(v6svc);
    g.d.addDest(v6svc, { address: '2001:2:0:41::2', port: 80, method: 'route' });
    await g.gw.start(g.d);
    expect(g.writes.filter((w) => w.includes('ipv6'))).toEqual([]);
    expect(Object.keys(g.record.saved ?? {}).filter((p) => p.includes('ipv6'))).toEqual([]);
    await g.gw.stop();
    expect(g.files.get(`${CONF}/all/forwarding`)).toBe('1');
  });

  it('a kernel without IPv6: one clear error, the IPv4 rules are installed all the same', async () => {
    const g = await gateway();
    for (const p of [...g.files.keys()]) if (p.includes('ipv6')) g.files.delete(p);
    g.d.addService(v4svc);
    g.d.addDest(v4svc, { address: '198.18.41.2', port: 8080, method: 'masq' });
    g.d.addService(v6svc);
    g.d.addDest(v6svc, { address: '2001:2:0:41::2', port: 8080, method: 'masq' });
    await g.gw.start(g.d);
    expect(g.logs.filter((l) => l.includes('cannot set net.ipv6.conf.all.forwarding=1'))).toHaveLength(1);
    expect(g.calls.some((c) => c.startsWith('iptables-restore'))).toBe(true);
    await g.gw.stop();
  });
});
