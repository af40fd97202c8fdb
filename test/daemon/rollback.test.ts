// All or nothing without collateral damage: a failed atomic request leaves
// ids, counters and connections as they were; a change that cannot be made
// durable is refused and taken back; the data path hears of re-created objects.
import { describe, it, expect } from 'vitest';
import { ControlHandler } from '../../daemon/handler.js';
import { replyTo, type ServerHooks } from '../../daemon/server-core.js';
import { encodePacked } from '../../ipvsadm/packed-wire.js';
import { PackedWriter, PACKED_WORDS, PACKED_OPS, P_OP, P_VADDR, P_VPORT, P_SCHED, P_RADDR, P_RPORT, P_WEIGHT } from '../../sdk/packed.js';
import { layout as L } from '../../sdk/core/abi.gen.js';
import type { ConfigCmd, Reply } from '../../ipvsadm/protocol.js';
import { director, tcp80, picks } from '../helpers.js';

const svc2 = { protocol: 'tcp' as const, address: '198.18.0.2', port: 80 };
const missing = { protocol: 'tcp' as const, address: '198.18.0.99', port: 80 };
const dest = (address: string, weight = 1) => ({ address, port: 80, weight, method: 'masq' as const });

/** Two services with real servers and live connections (non-zero counters, ActiveConn, templates). */
async function busy(scratch: boolean): Promise<ControlHandler> {
  const d = await director(3);
  d.addService(tcp80, { scheduler: 'rr', persistent: 300 });
  d.addDest(tcp80, dest('198.18.1.1'));
  d.addDest(tcp80, dest('198.18.1.2'));
  d.addService(svc2, { scheduler: 'wlc' });
  d.addDest(svc2, dest('198.18.1.3'));
  picks(d, 20, '198.18.9.1');
  picks(d, 5, '198.18.9.2', 80);
  return new ControlHandler(d, {
    size: 4096, mode: 'gateway', dataPath: 'none', abiVersion: 0x10000, scratch: scratch ? await director(4, { connections: false }) : undefined,
  });
}

/** Everything a rebuild would lose: ids, counters, connections, order. */
const snapshot = (h: ControlHandler) => JSON.stringify({ list: h.list(), conns: h.connections(), timeouts: h.timeouts() });

function call(h: ControlHandler, req: object, hooks: Partial<ServerHooks> = {}): Reply {
  const r = replyTo(JSON.stringify({ id: 1, ...req }), h, { changed: () => {}, log: () => {}, ...hooks });
  // Every request here is answered at once (no hook of these returns a promise).
  if (r instanceof Promise) throw new Error('expected a synchronous reply');
  return r;
}

/** Packed records: edit 198.18.1.1's weight, then add to a service that does not exist (fails). */
function packedEditThenFail(): { words: Uint32Array; count: number } {
  const w = new PackedWriter();
  const rec = (op: number, vaddr: number, raddr: number) => {
    const p = w.next();
    w.words[p + P_OP] = op | (L.PROTO_TCP << 8) | (L.METHOD_MASQ << 16);
    w.words[p + P_VADDR] = vaddr; w.words[p + P_VPORT] = 80; w.words[p + P_SCHED] = 0;
    w.words[p + P_RADDR] = raddr; w.words[p + P_RPORT] = 80; w.words[p + P_WEIGHT] = 9;
  };
  rec(PACKED_OPS['edit-server'], 0xc6120001, 0xc6120101);
  rec(PACKED_OPS['add-server'], 0xc6120063, 0xc6120105);
  return { words: w.take(), count: w.count || 2 };
}

const FAILING_RESTORE: ConfigCmd[] = [
  { op: 'flush' },
  { op: 'add-service', svc: tcp80, opts: { scheduler: 'rr', persistent: 300 } },
  { op: 'delete-server', svc: svc2, dest: { address: '198.18.1.3', port: 80 } },
  { op: 'edit-server', svc: tcp80, dest: dest('198.18.1.1', 50) },
  { op: 'set', tcp: 10, tcpfin: 20, udp: 30 },
  { op: 'add-server', svc: missing, dest: dest('198.18.1.4') },
];

describe('-R --atomic that fails', () => {
  for (const scratch of [true, false]) {
    it(`keeps ids, counters, connections and order (${scratch ? 'tried on the scratch copy first' : 'undone operation by operation'})`, async () => {
      const h = await busy(scratch);
      const before = snapshot(h);
      expect(h.list()[0].dests.some((x) => x.activeconns + x.inactconns > 0)).toBe(true);
      const cmds: ConfigCmd[] = scratch ? FAILING_RESTORE
        // Without a copy, -C and deletes could only come back with new ids: keep to what undoes in place.
        : [{ op: 'edit-server', svc: tcp80, dest: dest('198.18.1.1', 50) }, { op: 'add-service', svc: { ...svc2, port: 81 }, opts: {} },
          { op: 'edit-service', svc: tcp80, opts: { scheduler: 'wrr' } }, { op: 'set', tcp: 10, tcpfin: 20, udp: 30 },
          { op: 'add-server', svc: missing, dest: dest('198.18.1.4') }];
      const r = call(h, { op: 'apply', cmds, atomic: true });
      expect(r).toMatchObject({ ok: true, rolledBack: true });
      expect((r as { results: { ok: boolean }[] }).results.at(-1)).toMatchObject({ ok: false, error: { code: 'ESERVICENOTDEFINED' } });
      expect(snapshot(h)).toBe(before);
    });
  }

  it('packed records that are not all adds: nothing changes', async () => {
    const h = await busy(true);
    const before = snapshot(h);
    const { words, count } = packedEditThenFail();
    const r = call(h, { op: 'apply', packed: encodePacked(words), count, atomic: true });
    expect(r).toMatchObject({ ok: true, rolledBack: true, failures: [{ index: 1 }] });
    expect(snapshot(h)).toBe(before);
  });

  it('a delete undone on the live configuration re-creates the server and tells the data path', async () => {
    const h = await busy(false);
    const told: (string[] | null)[] = [];
    const r = call(h, { op: 'apply', atomic: true, cmds: [
      { op: 'delete-server', svc: tcp80, dest: { address: '198.18.1.2', port: 80 } },
      { op: 'add-server', svc: missing, dest: dest('198.18.1.4') }] }, { changed: (j) => { told.push(j); } });
    expect(r).toMatchObject({ ok: true, rolledBack: true });
    expect(h.list()[0].dests.map((x) => `${x.address}:${x.weight}:${x.method}`)).toEqual(['198.18.1.2:1:masq', '198.18.1.1:1:masq']);
    expect(told).toEqual([[]]);
  });
});

describe('a change the state file cannot record', () => {
  const enospc = () => { throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }); };
  const REFUSED = { ok: false, error: { code: 'ESTATEWRITE', message: 'wasmvsd: state file write failed: ENOSPC; command not applied' } };

  // [name, request, deletes something (it comes back with its options; new ids, the data path is told)]
  const requests: [string, object, boolean][] = [
    ['-A', { op: 'apply', cmds: [{ op: 'add-service', svc: { ...svc2, port: 81 }, opts: {} }] }, false],
    ['-e', { op: 'apply', cmds: [{ op: 'edit-server', svc: tcp80, dest: dest('198.18.1.1', 9) }] }, false],
    ['-E', { op: 'apply', cmds: [{ op: 'edit-service', svc: tcp80, opts: { scheduler: 'sh' } }] }, false],
    ['--set', { op: 'apply', cmds: [{ op: 'set', tcp: 5, tcpfin: 6, udp: 7 }] }, false],
    ['-d', { op: 'apply', cmds: [{ op: 'delete-server', svc: tcp80, dest: { address: '198.18.1.1', port: 80 } }] }, true],
    ['-D', { op: 'apply', cmds: [{ op: 'delete-service', svc: svc2 }] }, true],
    ['-R (commands, some failing)', { op: 'apply', cmds: FAILING_RESTORE }, true],
  ];
  for (const [name, req, deletes] of requests) {
    it(`${name} is refused with the reason and not applied`, async () => {
      const h = await busy(true);
      const before = snapshot(h);
      const rules = h.stateText();
      const told: unknown[] = [];
      const r = call(h, req, { persist: enospc, changed: (j) => { told.push(j); } });
      expect(r).toEqual({ id: 1, ...REFUSED });
      if (!deletes) {
        expect(snapshot(h)).toBe(before);
        expect(told).toEqual([]);
      } else {
        // A server put back is the newest in its list (IPVS order): compare the rules, not their order.
        expect(h.stateText().split('\n').sort()).toEqual(rules.split('\n').sort());
        expect(told).toEqual([[]]);
      }
    });
  }

  it('packed adds (the fast -R) are refused and not applied', async () => {
    const h = await busy(true);
    const before = snapshot(h);
    const w = new PackedWriter();
    for (let i = 0; i < 50; i++) {
      const p = w.next();
      w.words[p + P_OP] = PACKED_OPS['add-service'] | (L.PROTO_TCP << 8);
      w.words[p + P_VADDR] = 0xc6130000 + i; w.words[p + P_VPORT] = 80;
    }
    const count = w.count;
    const r = call(h, { op: 'apply', packed: encodePacked(w.take()), count }, { persist: enospc });
    expect(r).toEqual({ id: 1, ...REFUSED });
    expect(snapshot(h)).toBe(before);
  });

  it('packed edits are refused and not applied', async () => {
    const h = await busy(true);
    const before = snapshot(h);
    const { words } = packedEditThenFail();
    const r = call(h, { op: 'apply', packed: encodePacked(words.subarray(0, PACKED_WORDS)), count: 1 }, { persist: enospc });
    expect(r).toEqual({ id: 1, ...REFUSED });
    expect(snapshot(h)).toBe(before);
  });
});
