// A batch of scheduling-only decisions (schedule(n), services resolved ahead)
// gives, record for record, what the same flows give one at a time
// (schedule(1), which copies the whole flow and looks its service up inline):
// statuses, dest ids, addresses (IPv4 and IPv6), ports (a dest port or the
// flow's), methods, and the pick / not-ours / no-dest counters.
import { describe, it, expect } from 'vitest';
import { counters as CNT, layout as L } from '../../sdk/core/abi.gen.js';
import { director } from '../helpers.js';
import type { Director } from '../../sdk/index.js';
import { coreOf } from '../../sdk/core/index.js';

type Addr = [number, number, number, number];
const v4 = (a: number): Addr => [a >>> 0, 0, 0, 0];
// 2001:2::<k> as the core's words (network order per word, as the SDK writes them).
const v6 = (k: number): Addr => [0x20010002, 0, 0, k];

function setup(d: Director): void {
  const scheds = ['rr', 'wrr', 'lc', 'sh', 'dh', 'mh', 'lblc', 'wlc'] as const;
  scheds.forEach((scheduler, s) => {
    const key = { protocol: 'tcp' as const, address: `198.18.2.${s + 1}`, port: 80 };
    d.addService(key, { scheduler });
    for (let i = 0; i < 4; i++) {
      d.addDest(key, {
        address: `198.18.3.${s * 8 + i + 1}`, port: i === 2 ? 0 : 8000 + i,
        weight: i + 1, method: i === 1 ? 'route' : i === 3 ? 'tunnel' : 'masq',
      });
    }
  });
  // A service whose dests all have weight 0: no dest.
  const dead = { protocol: 'tcp' as const, address: '198.18.2.100', port: 80 };
  d.addService(dead, { scheduler: 'rr' });
  d.addDest(dead, { address: '198.18.4.1', weight: 0 });
  // IPv6: the address moves as one 16-byte word.
  const six = { protocol: 'tcp' as const, address: '2001:2::1', port: 443 };
  d.addService(six, { scheduler: 'rr' });
  for (let i = 0; i < 3; i++) d.addDest(six, { address: `2001:2::a:${i + 1}`, port: i === 0 ? 0 : 9443, method: 'masq' });
}

function flows(): Array<Record<string, unknown>> {
  const out = [];
  for (let k = 0; k < 300; k++) {
    const s = k % 11;
    const six = s === 10;
    out.push({
      af: k % 97 === 5 ? 0 : six ? 6 : 4, proto: 6, tcpflags: 0x02, fwmark: 0, len: 0,
      caddr: six ? v6(0x1000 + k) : v4(0xc6130000 | (k * 2654435761 & 0xffff)), cport: 1024 + k,
      // s 8: the no-dest service; s 9: no service at that VIP.
      vaddr: six ? v6(1) : v4(s === 8 ? 0xc6120264 : s === 9 ? 0xc61202c8 : 0xc6120201 + s),
      vport: six ? 443 : 80,
    });
  }
  return out;
}

const COUNTED = [CNT.CNT_SCHEDULED, CNT.CNT_NOT_OURS, CNT.CNT_NO_DEST, CNT.CNT_BAD_FLOW];

describe('batched scheduling-only decisions', () => {
  for (const connections of [false, 'count'] as const) {
    it(`match one-at-a-time decisions record for record (connections ${connections})`, async () => {
      const a = await director(7, { connections });
      const b = await director(7, { connections });
      setup(a);
      setup(b);
      const fs = flows();
      const c0a = COUNTED.map((c) => coreOf(a).x.counter(c));
      const c0b = COUNTED.map((c) => coreOf(b).x.counter(c));
      // Decisions start as garbage, so every field of a batched record must be written.
      const u = new Uint32Array(coreOf(a).view().buffer);
      const dec0 = (coreOf(a).base + L.REGION_DECISIONS) >>> 2;
      u.fill(0xdeadbeef, dec0, dec0 + (fs.length * L.DECISION_SIZE) / 4);
      fs.forEach((f, i) => coreOf(a).writeFlow(i, f as never));
      const okA = coreOf(a).x.schedule(fs.length, 1);
      let okB = 0;
      fs.forEach((f, i) => {
        coreOf(b).writeFlow(0, f as never);
        if (coreOf(b).x.schedule(1, 1) >= 0 && coreOf(b).readDecision(0).status >= 0) okB++;
        const ra = coreOf(a).readDecision(i);
        const rb = coreOf(b).readDecision(0);
        // A failure record is its status, conn and dest words (the rest is left as it was).
        if (rb.status < 0) expect([ra.status, ra.conn, ra.dest], `flow ${i}`).toEqual([rb.status, rb.conn, rb.dest]);
        else expect(ra, `flow ${i}`).toEqual(rb);
      });
      expect(okA).toBe(okB);
      expect(okA).toBeGreaterThan(200);
      const da = COUNTED.map((c, j) => coreOf(a).x.counter(c) - c0a[j]);
      const db = COUNTED.map((c, j) => coreOf(b).x.counter(c) - c0b[j]);
      expect(da).toEqual(db);
      expect(da[0]).toBe(okA);
      expect(da[1]).toBeGreaterThan(0);
      expect(da[2]).toBeGreaterThan(0);
      expect(da[3]).toBeGreaterThan(0);
    });
  }
});
