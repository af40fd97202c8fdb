// The gateway host around the core, with a fake queue class, a recording
// command runner and an in-memory sysctl map (no root, no kernel): bursts go
// through gwBurst in the core's memory and the verdicts handed to the queue
// point into that memory; a refused or failing burst still gets verdicts.
import { describe, expect, it } from 'vitest';
import { layout as L } from '../../../sdk/core/abi.gen.js';
import type { NativeQueue, NfQueueOptions, NfQueueStats } from '../../../native/addon.js';
import { Gateway, GATEWAY_DEFAULTS } from '../../../hosts/gateway/gateway.js';
import type { Director } from '../../../sdk/index.js';
import { director } from '../../helpers.js';
import { v4 } from '../../packet/build.js';
import { coreOf } from '../../../sdk/core/index.js';

const VIP = '198.18.0.1', RS = '198.18.1.1', CLIENT = '198.18.9.9';

class FakeQueue implements NativeQueue {
  static last: FakeQueue | null = null;
  static failBind = false;
  readonly fd = -1;
  pending: Uint8Array[] = [];
  sent: { verdict: number; flags: number; payload: Uint8Array }[] = [];
  onReadable: ((s: number) => void) | null = null;
  closed = false;
  constructor(readonly options: NfQueueOptions) {
    if (FakeQueue.failBind) throw Object.assign(new Error('bind: Operation not permitted'), { code: 'EPERM' });
    FakeQueue.last = this;
  }
  start(cb: (s: number) => void): void { this.onReadable = cb; }
  stop(): void { this.onReadable = null; }
  read(buf: Uint8Array, stride: number, max: number): number {
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    let n = 0;
    for (; n < max && this.pending.length; n++) {
      const p = this.pending.shift()!;
      dv.setUint32(n * stride + L.GW_REC_ID, 500 + n, true);
      dv.setUint32(n * stride + L.GW_REC_LEN, p.length, true);
      dv.setUint8(n * stride + L.GW_REC_FLAGS, 0);
      buf.set(p, n * stride + L.GW_REC_HEADER);
    }
    return n;
  }
  verdicts(records: Uint8Array, count: number, payloads?: Uint8Array): number {
    const dv = new DataView(records.buffer, records.byteOffset, records.byteLength);
    for (let i = 0; i < count; i++) {
      const o = i * L.GW_VER_SIZE, off = dv.getUint32(o + L.GW_VER_OFF, true), len = dv.getUint32(o + L.GW_VER_LEN, true);
      this.sent.push({ verdict: dv.getUint32(o + L.GW_VER_VERDICT, true), flags: dv.getUint32(o + L.GW_VER_FLAGS, true),
        payload: payloads ? payloads.slice(off, off + len) : new Uint8Array() });
    }
    return count;
  }
  stats(): NfQueueStats { return { packets: 0, enobufs: 0, nlErrors: 0, malformed: 0, verdictMsgs: 0, sends: 0 }; }
  close(): void { this.closed = true; }
}

function host(d: Director, opts = {}) {
  const calls: string[] = [];
  const files = new Map<string, string>([['/proc/sys/net/ipv4/ip_forward', '0']]);
  const logs: string[] = [];
  const gw = new Gateway({ ...GATEWAY_DEFAULTS, stride: 2048, ...opts }, (m) => logs.push(m), {
    Native: FakeQueue,
    exec: (cmd, args) => { calls.push(`${cmd} ${args.join(' ')}`); if (args[2] === '-C') throw new Error('no'); return ''; },
    sysctl: { read: (p) => files.get(p) ?? '', write: (p, v) => void files.set(p, v) },
  });
  return { gw, calls, files, logs };
}

async function natDirector(): Promise<Director> {
  const d = await director(9);
  const key = { protocol: 'tcp' as const, address: VIP, port: 80 };
  d.addService(key, { scheduler: 'rr' });
  d.addDest(key, { address: RS, port: 8080, method: 'masq' });
  return d;
}

describe('gateway host', () => {
  it('binds without GSO at the stride, installs rules after binding, restores sysctls on stop', async () => {
    const d = await natDirector();
    const { gw, calls, files } = host(d, { first: 4, last: 4, failOpen: false });
    await gw.start(d);
    expect(FakeQueue.last!.options).toMatchObject({ queue: 4, gso: false, failOpen: false, copyRange: 2048 - L.GW_REC_HEADER });
    expect(files.get('/proc/sys/net/ipv4/ip_forward')).toBe('1');
    expect(calls.some((c) => c.startsWith('iptables-restore --noflush'))).toBe(true);
    await gw.stop();
    expect(files.get('/proc/sys/net/ipv4/ip_forward')).toBe('0');
    expect(FakeQueue.last!.closed).toBe(true);
    expect(calls.filter((c) => c.includes('-X WASMVS-GW')).length).toBeGreaterThan(0);
  });

  it('a burst goes through the core: NATed bytes come back from the core memory as payload verdicts', async () => {
    const d = await natDirector();
    const { gw } = host(d);
    await gw.start(d);
    const q = FakeQueue.last!;
    q.pending.push(v4({ src: CLIENT, dst: VIP }, { proto: 'tcp', sport: 40000, dport: 80, flags: 0x02 }), Uint8Array.from([0x45, 0]));
    q.onReadable!(0);
    // The NAT rewrite towards the real server says so (GW_VF_NAT_IN: the addon ignores it); its rules were in place, so it went at once.
    expect(q.sent.map((v) => [v.verdict, v.flags])).toEqual([[1, L.GW_VF_PAYLOAD | L.GW_VF_NAT_IN], [0, 0]]);
    expect([...q.sent[0].payload.subarray(16, 20)]).toEqual([198, 18, 1, 1]);
    expect(d.connections()).toHaveLength(1);
    expect(gw.summary()).toMatch(/packets=2 forwarded=1 passed=0 dropped=1 /);
    await gw.stop();
  });

  it('a burst the core refuses still gets the fail verdict for every packet', async () => {
    const d = await natDirector();
    const { gw, logs } = host(d, { failOpen: false });
    await gw.start(d);
    const q = FakeQueue.last!;
    coreOf(d).x.gwBurst = () => -3;
    q.pending.push(Uint8Array.from([0x45]), Uint8Array.from([0x45]));
    q.onReadable!(0);
    expect(q.sent.map((v) => v.verdict)).toEqual([0, 0]);
    expect(logs.some((l) => l.includes('refused a burst of 2'))).toBe(true);
    await gw.stop();
  });

  it('a queue that cannot be bound: clear error, nothing left installed', async () => {
    const d = await natDirector();
    const { gw, calls, files } = host(d, { first: 7, last: 7 });
    FakeQueue.failBind = true;
    try {
      await expect(gw.start(d)).rejects.toThrow(/cannot bind NFQUEUE 7..7: bind: Operation not permitted/);
    } finally {
      FakeQueue.failBind = false;
    }
    expect(calls.some((c) => c.startsWith('iptables-restore'))).toBe(false);
    expect(files.get('/proc/sys/net/ipv4/ip_forward')).toBe('0');
  });
});
