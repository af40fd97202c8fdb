import { describe, it, expect } from 'vitest';
import { director, tcp80, picks } from '../helpers.js';

describe('rr', () => {
  it('iterates the list newest first: add A, B, C -> C, B, A, C, B, A', async () => {
    const d = await director();
    d.addService(tcp80, { scheduler: 'rr' });
    for (const a of ['198.18.1.1', '198.18.1.2', '198.18.1.3']) d.addDest(tcp80, { address: a });
    expect(picks(d, 6)).toEqual(['198.18.1.3', '198.18.1.2', '198.18.1.1', '198.18.1.3', '198.18.1.2', '198.18.1.1']);
  });

  it('skips weight 0 and continues after a deleted cursor dest from its predecessor', async () => {
    const d = await director();
    d.addService(tcp80, { scheduler: 'rr' });
    for (const a of ['198.18.1.1', '198.18.1.2', '198.18.1.3', '198.18.1.4']) d.addDest(tcp80, { address: a });
    // list: .4 .3 .2 .1
    expect(picks(d, 2)).toEqual(['198.18.1.4', '198.18.1.3']);
    d.deleteDest(tcp80, { address: '198.18.1.3' }); // cursor moves to .4
    d.editDest(tcp80, { address: '198.18.1.2', weight: 0 });
    expect(picks(d, 3)).toEqual(['198.18.1.1', '198.18.1.4', '198.18.1.1']);
  });

  it('a new dest does not move the cursor; it is reached when the scan wraps', async () => {
    const d = await director();
    d.addService(tcp80, { scheduler: 'rr' });
    d.addDest(tcp80, { address: '198.18.1.1' });
    d.addDest(tcp80, { address: '198.18.1.2' }); // list .2 .1
    expect(picks(d, 1)).toEqual(['198.18.1.2']);
    d.addDest(tcp80, { address: '198.18.1.3' }); // list .3 .2 .1, cursor on .2
    expect(picks(d, 4)).toEqual(['198.18.1.1', '198.18.1.3', '198.18.1.2', '198.18.1.1']);
  });

  it('returns null when every dest is weight 0', async () => {
    const d = await director();
    d.addService(tcp80, { scheduler: 'rr' });
    d.addDest(tcp80, { address: '198.18.1.1', weight: 0 });
    expect(picks(d, 2)).toEqual(['-', '-']);
  });
});
