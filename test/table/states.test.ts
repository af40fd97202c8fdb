// Every cell of the TCP state tables (§2.8): for each table, direction, event
// and current state, one connection is put in that state, fed the segment,
// and checked for its next state and the active/inactive counter move. Putting
// a connection in any state takes the test build of the core (connForceState
// is not in the shipped one).
import { describe, it, expect } from 'vitest';
import { bed, pin, pout, counts, conn, STATES, type Bed } from './bed.js';
import { coreOf, type HostCore } from '../../sdk/core/index.js';

// Cells as in the reference, columns NO ES SS SR FW TW CL CW LA LI SA.
const NORMAL = {
  INPUT: {
    S: 'SR ES ES SR SR SR SR SR SR SR SR', F: 'CL CW SS TW TW TW CL CW LA LI TW',
    A: 'ES ES SS ES FW TW CL CW CL LI ES', R: 'CL CL CL SR CL CL CL CL LA LI SR',
  },
  OUTPUT: {
    S: 'SS ES SS SR SS SS SS SS SS LI SR', F: 'TW FW SS TW FW TW CL TW LA LI TW',
    A: 'ES ES SS ES FW TW CL CW LA ES ES', R: 'CL CL SS CL CL TW CL CL CL CL CL',
  },
  INPUT_ONLY: {
    S: 'SR ES ES SR SR SR SR SR SR SR SR', F: 'CL FW SS TW FW TW CL CW LA LI TW',
    A: 'ES ES SS ES FW TW CL CW CL LI ES', R: 'CL CL CL SR CL CL CL CL LA LI CL',
  },
};
// secure_tcp: the normal table with the differences listed in §2.8.
const SECURE = {
  INPUT: {
    S: 'SR ES ES SR SR SR SR SR SR SR SA', F: 'CL CW SS TW TW TW CL CW LA LI SA',
    A: 'ES ES SS SR FW TW CL CW CL LI SA', R: 'CL CL CL SR CL CL CL CL LA LI CL',
  },
  OUTPUT: {
    S: 'SS ES SS SA SS SS SS SS SS LI SA', F: NORMAL.OUTPUT.F, A: NORMAL.OUTPUT.A, R: NORMAL.OUTPUT.R,
  },
  INPUT_ONLY: {
    S: 'SA ES ES SR SA SA SA SA SA SA SA', F: NORMAL.INPUT_ONLY.F, A: NORMAL.INPUT_ONLY.A, R: NORMAL.INPUT_ONLY.R,
  },
};
const ABBR: Record<string, string> = {
  NO: 'NONE', ES: 'ESTABLISHED', SS: 'SYN_SENT', SR: 'SYN_RECV', FW: 'FIN_WAIT', TW: 'TIME_WAIT', CL: 'CLOSE',
  CW: 'CLOSE_WAIT', LA: 'LAST_ACK', LI: 'LISTEN', SA: 'SYNACK',
};
const ACTIVE = new Set(['ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'SYNACK']);

type Dir = keyof typeof NORMAL;

async function run(table: typeof NORMAL, dir: Dir, secure: boolean): Promise<void> {
  const b: Bed = await bed({ method: dir === 'INPUT_ONLY' ? 'route' : 'masq', testCore: true });
  const x = coreOf(b.d).x as HostCore['x'] & { connForceState(id: number, state: number, now: number): number };
  // Mode 0 so a SYN on TIME_WAIT/CLOSE follows the table instead of replacing the entry.
  b.d.setOptions({ connReuseMode: 0, secureTcp: secure ? 3 : 0 });
  let port = 20000;
  for (const ev of ['S', 'F', 'A', 'R'] as const) {
    const row = table[dir][ev].split(' ');
    for (let s = 0; s < STATES.length; s++) {
      const cport = port++;
      const r = pin(b, cport, 'S', 0);
      if (!r.ok) throw new Error(`no conn: ${r.status}`);
      expect(x.connForceState(r.id, s, 0)).toBe(0);
      const before = counts(b);
      if (dir === 'OUTPUT') pout(b, cport, ev, 0);
      else pin(b, cport, ev, 0);
      const next = ABBR[row[s]];
      const c = conn(b, cport, 0)!;
      expect({ dir, ev, from: STATES[s], to: c.state }).toEqual({ dir, ev, from: STATES[s], to: next });
      const moved = (ACTIVE.has(next) ? 1 : 0) - (ACTIVE.has(STATES[s]) ? 1 : 0);
      expect(counts(b)).toEqual([before[0] + moved, before[1] - moved, 0]);
      expect(c.inactive).toBe(!ACTIVE.has(next));
    }
  }
}

describe('TCP state tables', () => {
  for (const dir of ['INPUT', 'OUTPUT', 'INPUT_ONLY'] as Dir[]) {
    it(`normal table, ${dir}: every cell, counters before/after`, () => run(NORMAL, dir, false));
    it(`secure_tcp table, ${dir}: every cell, counters before/after`, () => run(SECURE, dir, true));
  }

  it('a segment without SYN/FIN/ACK/RST sets CLOSE; a new conn starts inactive then SYN_RECV active', async () => {
    const b = await bed();
    const r = pin(b, 1000, 'S', 0);
    expect(r.ok).toBe(true);
    expect(counts(b)).toEqual([1, 0, 0]);
    pin(b, 1000, 'A', 0);
    expect(conn(b, 1000, 0)!.state).toBe('ESTABLISHED');
    pin(b, 1000, '', 0);
    expect(conn(b, 1000, 0)!.state).toBe('CLOSE');
    expect(counts(b)).toEqual([0, 1, 0]);
  });

  it('DR: a reply clears NOOUTPUT, so later input uses the INPUT table (ES fin → CW, not FW)', async () => {
    const b = await bed({ method: 'route' });
    pin(b, 1000, 'S', 0);
    pin(b, 1000, 'A', 0);
    // DR replies are seen from the VIP as source.
    expect(pout(b, 1000, 'A', 0, '198.18.0.1').ok).toBe(true);
    pin(b, 1000, 'F', 0);
    expect(conn(b, 1000, 0)!.state).toBe('CLOSE_WAIT');
    const b2 = await bed({ method: 'route' });
    pin(b2, 1000, 'S', 0);
    pin(b2, 1000, 'A', 0);
    pin(b2, 1000, 'F', 0);
    expect(conn(b2, 1000, 0)!.state).toBe('FIN_WAIT');
  });

  it('TCP packets without SYN and RSTs never create connections (passed through)', async () => {
    const b = await bed();
    for (const f of ['A', 'F', 'R', 'SR', '']) {
      const r = pin(b, 3000, f, 0);
      expect(r).toMatchObject({ ok: false, verdict: 'pass' });
    }
    expect(b.d.connectionCount()).toBe(0);
    expect(pin(b, 3000, 'SA', 0).ok).toBe(true);
  });
});
