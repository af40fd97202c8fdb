// The fast path's nft table changed by its elements alone (fastDelta), against
// the kernel: in a namespace of its own, a table made whole for one
// configuration and then moved through others by deltas lists exactly as the
// same table made whole for the last one (IPv4 and IPv6 maps, the DR set).
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { inCI } from './prereq.js';
import { sh } from './netns.js';
import { fastDelta, fastPlan, type FastPlan } from '../../../hosts/gateway/fastpath.js';
import { director } from '../../helpers.js';

function missing(): string | null {
  if (process.getuid?.() !== 0) return 'not running as root';
  try { sh('nft', '--version'); } catch { return 'nft not installed'; }
  return null;
}
const why = missing();
if (why && !inCI) console.warn(`\n*** SKIPPING fast-path delta suite: ${why} ***\n`);
const suite = describe.skipIf(why !== null && !inCI);

type Dest = [method: 'masq' | 'route', address: string, port: number];

/** A plan for services 198.18.42.N:80 / 2001:2:0:42::N (tcp) with these real servers. */
async function plan(v4: Dest[][], v6: Dest[][] = []): Promise<FastPlan> {
  const d = await director(5);
  const add = (address: string, dests: Dest[]) => {
    const key = { protocol: 'tcp' as const, address, port: 80 };
    d.addService(key);
    for (const [method, a, port] of dests) d.addDest(key, { address: a, port, method });
  };
  v4.forEach((dests, i) => add(`198.18.42.${i + 1}`, dests));
  v6.forEach((dests, i) => add(`2001:2:0:42::${i + 1}`, dests));
  return fastPlan(d.services().map((s) => ({ service: s, dests: d.dests({ protocol: s.protocol!, address: s.address!, port: s.port }) })), { v6: true, ctTimeout: true });
}

suite('fast path: a table changed by deltas lists as one made whole', () => {
  it('NAT real servers added, moved and deleted, a DR service added: same table as the last plan applied whole', async () => {
    const ns = `gfd${process.pid % 10000}`;
    const nft = (script: string) => execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: script, encoding: 'utf8' });
    const list = () => ['ip', 'ip6'].map((f) => sh('ip', 'netns', 'exec', ns, 'nft', 'list', 'table', f, 'wasmvs_gw')).join('');
    try { sh('ip', 'netns', 'del', ns); } catch { /* not there */ }
    sh('ip', 'netns', 'add', ns);
    try {
      const steps = [
        await plan([[['masq', '198.18.41.2', 8080]], [['route', '198.18.41.3', 80]]], [[['masq', '2001:2:0:41::2', 8080]]]),
        // A NAT real server added to each family, a DR service added.
        await plan([[['masq', '198.18.41.2', 8080], ['masq', '198.18.41.4', 8080]], [['route', '198.18.41.3', 80]], [['route', '198.18.41.5', 80]]],
          [[['masq', '2001:2:0:41::2', 8080], ['masq', '2001:2:0:41::3', 8080]]]),
        // One moved to another address (the same slot, so the same mark), one deleted.
        await plan([[['masq', '198.18.41.2', 8080], ['masq', '198.18.41.6', 8081]], [['route', '198.18.41.3', 80]], [['route', '198.18.41.5', 80]]],
          [[['masq', '2001:2:0:41::2', 8080]]]),
      ];
      nft(steps[0].script);
      for (let i = 1; i < steps.length; i++) {
        const delta = fastDelta(steps[i - 1].parts, steps[i].parts);
        expect(delta, `step ${i} keeps the table's shape`).not.toBeNull();
        expect(delta).not.toBe('');
        nft(delta!);
      }
      const byDelta = list();
      // The same table from the last plan's whole script, in the same namespace after deleting ours.
      sh('ip', 'netns', 'exec', ns, 'nft', 'delete', 'table', 'ip', 'wasmvs_gw');
      sh('ip', 'netns', 'exec', ns, 'nft', 'delete', 'table', 'ip6', 'wasmvs_gw');
      nft(steps[steps.length - 1].script);
      expect(byDelta).toBe(list());
      expect(byDelta).toContain('198.18.41.6 . 8081');
      expect(byDelta).not.toContain('198.18.41.4 . 8080');
      expect(byDelta).not.toContain('2001:2:0:41::3');
      expect(byDelta).toContain('198.18.42.3 . tcp . 80');
    } finally {
      sh('ip', 'netns', 'del', ns);
    }
  });
});
