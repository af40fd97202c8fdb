// Director.scheduleWords, the hosts' typed-array path: the same decisions as
// scheduleBatch on the same flows, in the core's record layouts, across more
// than one core batch, with refused records marked in place.
import { describe, it, expect } from 'vitest';
import { FLOW_WORDS, DECISION_WORDS, InvalidOperationError } from '../../sdk/index.js';
import { status } from '../../sdk/core/abi.gen.js';
import { director, tcp80 } from '../helpers.js';

const ip = (a: string) => a.split('.').reduce((x, b) => ((x << 8) | Number(b)) >>> 0, 0);

async function twin() {
  const make = async () => {
    const d = await director(9, { connections: false });
    d.addService(tcp80, { scheduler: 'wrr' });
    for (let j = 1; j <= 3; j++) d.addDest(tcp80, { address: `198.18.1.${j}`, weight: j });
    return d;
  };
  return [await make(), await make()] as const;
}

describe('scheduleWords', () => {
  it('decides as scheduleBatch does, 2,500 flows over three core batches, a bad record refused in place', async () => {
    const [a, b] = await twin();
    const n = 2500;
    const flows = new Uint32Array(n * FLOW_WORDS);
    const objs = [];
    for (let i = 0; i < n; i++) {
      const w = i * FLOW_WORDS;
      const client = `198.19.${(i >> 8) & 255}.${i & 255}`;
      flows[w] = 4 | (6 << 8) | (0x02 << 16);
      flows[w + 2] = ip(client);
      flows[w + 6] = ip('198.18.0.1');
      flows[w + 10] = (1024 + i) | (80 << 16);
      objs.push({ protocol: 'tcp' as const, client: { address: client, port: 1024 + i }, virtual: { address: '198.18.0.1', port: 80 } });
    }
    flows[1234 * FLOW_WORDS] = 0; // no address family
    const out = new Uint32Array(n * DECISION_WORDS);
    expect(a.scheduleWords(flows, n, out, 1)).toBe(n - 1);
    const ref = b.scheduleBatch(objs.filter((_, i) => i !== 1234), 1);
    let k = 0;
    for (let i = 0; i < n; i++) {
      const d = i * DECISION_WORDS;
      if (i === 1234) {
        expect(out[d] | 0).toBe(status.E_INVAL);
        continue;
      }
      const r = ref[k++];
      expect(r.ok).toBe(true);
      if (!r.ok) continue;
      expect(out[d] | 0).toBeGreaterThanOrEqual(0);
      expect(out[d + 2]).toBe(r.destId);
      expect(out[d + 4]).toBe(ip(r.dest.address));
      expect(out[d + 3] >>> 16).toBe(80);
    }
  });

  it('refuses arrays too short for n', async () => {
    const [a] = await twin();
    expect(() => a.scheduleWords(new Uint32Array(FLOW_WORDS), 2, new Uint32Array(2 * DECISION_WORDS))).toThrow(InvalidOperationError);
    expect(() => a.scheduleWords(new Uint32Array(2 * FLOW_WORDS), 2, new Uint32Array(DECISION_WORDS))).toThrow(InvalidOperationError);
    expect(a.scheduleWords(new Uint32Array(0), 0, new Uint32Array(0))).toBe(0);
  });
});
