import { describe, it, expect } from 'vitest';
import { director, tcp80 } from '../helpers.js';
import { NoSuchDestError } from '../../sdk/index.js';

describe('handles', () => {
  it('ids stay valid (positive) across hundreds of reuses of the same slot', async () => {
    const d = await director();
    const seen = new Set<number>();
    for (let i = 0; i < 300; i++) {
      const svc = d.addService(tcp80, { scheduler: 'rr' });
      const dest = d.addDest(tcp80, { address: '198.18.1.1' });
      expect(svc).toBeGreaterThan(0);
      expect(dest).toBeGreaterThan(0);
      seen.add(dest);
      expect(d.schedule({ protocol: 'tcp', client: { address: '198.18.9.9', port: 1000 + i }, virtual: { address: '198.18.0.1', port: 80 }, now: i })?.destId).toBe(dest);
      d.clear();
      d.advance(i + 1000);
    }
    // Generations cycle, so ids repeat only after many reuses.
    expect(seen.size).toBeGreaterThan(100);
  });

  it('a deleted destination waits in the trash, then its id is rejected', async () => {
    const d = await director();
    d.addService(tcp80, { scheduler: 'rr' });
    d.advance(0);
    const id = d.addDest(tcp80, { address: '198.18.1.1' });
    d.deleteDest(tcp80, { address: '198.18.1.1' });
    expect(d.destById(id).available).toBe(false);
    for (let t = 60; t <= 600; t += 60) d.advance(t);
    d.addDest(tcp80, { address: '198.18.1.2' });
    expect(() => d.destById(id)).toThrow(NoSuchDestError);
  });
});
