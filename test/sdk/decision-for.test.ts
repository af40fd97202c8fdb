// Director.decisionFor: the Decision of a connection the core scheduled
// outside schedule() (a host thread calling the core), built from the
// decision record's words with schedule()'s endpoint objects.
import { describe, it, expect } from 'vitest';
import { FLOW_WORDS, DECISION_WORDS, NoSuchDestError } from '../../sdk/index.js';
import { director, tcp80 } from '../helpers.js';

const ip = (a: string) => a.split('.').reduce((x, b) => ((x << 8) | Number(b)) >>> 0, 0);

/** One SYN from 198.19.0.1:`port` to 198.18.0.1:80 scheduled as a thread does (words in, a decision record out). */
function scheduleOne(d: Awaited<ReturnType<typeof director>>, port: number, now: number): Uint32Array {
  const f = new Uint32Array(FLOW_WORDS);
  f[0] = 4 | (6 << 8) | (0x02 << 16);
  f[2] = ip('198.19.0.1');
  f[6] = ip('198.18.0.1');
  f[10] = port | (80 << 16);
  const out = new Uint32Array(DECISION_WORDS);
  expect(d.scheduleWords(f, 1, out, now)).toBe(1);
  return out;
}

describe('Director.decisionFor', () => {
  it('gives what schedule() gives, reading the dest only the first time', async () => {
    const d = await director();
    d.addService(tcp80, { scheduler: 'rr' });
    const a = d.addDest(tcp80, { address: '198.18.1.1', port: 8080, method: 'masq' });
    const b = d.addDest(tcp80, { address: '198.18.1.2', port: 8081, method: 'masq' });
    const seen = new Map<number, unknown>();
    for (let i = 0; i < 6; i++) {
      const r = scheduleOne(d, 2000 + i, 1);
      const got = d.decisionFor(r[1], r[2], r[3]);
      expect(got.id).toBe(r[1]);
      expect(got.destId).toBe(r[2]);
      expect(got.method).toBe('masq');
      expect(got.dest).toEqual(r[2] === a ? { address: '198.18.1.1', port: 8080 } : { address: '198.18.1.2', port: 8081 });
      // One frozen endpoint object per real server, as schedule() hands out.
      if (seen.has(r[2])) expect(got.dest).toBe(seen.get(r[2]));
      seen.set(r[2], got.dest);
      expect(Object.isFrozen(got.dest)).toBe(true);
    }
    expect([...seen.keys()].sort()).toEqual([a, b].sort());
    const s = d.schedule({ protocol: 'tcp', client: { address: '198.19.0.2', port: 3000 }, virtual: { address: '198.18.0.1', port: 80 }, now: 1 });
    expect(s?.dest).toBe(seen.get(s!.destId));
  });

  it('follows the word: an edited forwarding method, and a deleted real server is NoSuchDestError once it leaves the trash', async () => {
    const d = await director();
    d.addService(tcp80, { scheduler: 'rr' });
    d.advance(0);
    const a = d.addDest(tcp80, { address: '198.18.1.1', method: 'masq' });
    let r = scheduleOne(d, 2000, 1);
    expect(d.decisionFor(r[1], r[2], r[3]).method).toBe('masq');
    d.editDest(tcp80, { address: '198.18.1.1', method: 'route' });
    r = scheduleOne(d, 2001, 1);
    expect(r[2]).toBe(a);
    expect(d.decisionFor(r[1], r[2], r[3]).method).toBe('route');
    d.clear();
    for (let t = 60; t <= 900; t += 60) d.advance(t);
    d.addService(tcp80, { scheduler: 'rr' });
    d.addDest(tcp80, { address: '198.18.1.9' });
    expect(() => d.decisionFor(r[1], a, r[3])).toThrow(NoSuchDestError);
  });
});
