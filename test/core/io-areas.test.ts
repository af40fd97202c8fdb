// I/O areas (ioUse, ABI 1.5): a host thread that calls the core selects a
// block of regions of its own, so a flow record the main thread wrote and
// has not handed to the core yet survives the thread's calls, and each
// area's decisions land in that area only.
import { describe, expect, it } from 'vitest';
import { coreOf } from '../../sdk/core/index.js';
import type { FlowSpec } from '../../sdk/core/core.js';
import { layout as L, status as S } from '../../sdk/core/abi.gen.js';
import { director, tcp80 } from '../helpers.js';

const flow = (c: number): FlowSpec => ({ af: 4, proto: 6, tcpflags: 2, fwmark: 0, caddr: [0xc6120900 + c, 0, 0, 0], vaddr: [0xc6120001, 0, 0, 0], cport: 40000 + c, vport: 80, len: 0 });

describe('I/O areas', () => {
  it('keep each area\'s records apart, and the previous area comes back', async () => {
    const d = await director();
    d.addService({ ...tcp80, address: '198.18.0.1' }, { scheduler: 'rr' });
    for (const a of ['198.19.0.1', '198.19.0.2', '198.19.0.3']) d.addDest({ ...tcp80, address: '198.18.0.1' }, { address: a, port: 80 });
    const core = coreOf(d);
    const x = core.x;
    const base0 = x.getIoBase();
    core.writeFlow(0, flow(1)); // the main thread's record, not handed over yet
    expect(x.ioUse(1)).toBe(0);
    const base1 = x.getIoBase();
    expect(base1).not.toBe(base0);
    // The thread's own flow in its own area.
    const u = core.words();
    const f1 = (base1 + L.REGION_FLOWS) >>> 2;
    u[f1] = 4 | (6 << 8) | (2 << 16); u[f1 + 1] = 0;
    u[f1 + 2] = 0xc6120902; u[f1 + 3] = 0; u[f1 + 4] = 0; u[f1 + 5] = 0;
    u[f1 + 6] = 0xc6120001; u[f1 + 7] = 0; u[f1 + 8] = 0; u[f1 + 9] = 0;
    u[f1 + 10] = 40002 | (80 << 16); u[f1 + 11] = 0;
    expect(x.schedule(1, 1)).toBe(1);
    const w1 = core.words();
    const d1 = (base1 + L.REGION_DECISIONS) >>> 2;
    expect(w1[d1] | 0).toBe(0);
    expect(x.ioUse(0)).toBe(1);
    expect(x.getIoBase()).toBe(base0);
    // The main thread's record was not touched; its decision is the next rr pick.
    expect(x.schedule(1, 1)).toBe(1);
    const dec = core.readDecision(0);
    expect(dec.status).toBe(0);
    expect(dec.dest).not.toBe(w1[d1 + 2]);
    expect(d.connectionCount()).toBe(2);
    // The area's block stays: selecting it again finds the thread's last decision there.
    x.ioUse(1);
    expect(core.words()[d1 + 1]).toBe(w1[d1 + 1]);
    x.ioUse(0);
  });

  it('refuses an area out of range and stays where it was', async () => {
    const d = await director();
    const x = coreOf(d).x;
    const base = x.getIoBase();
    expect(x.ioUse(-1)).toBe(S.E_RANGE);
    expect(x.ioUse(257)).toBe(S.E_RANGE);
    expect(x.getIoBase()).toBe(base);
    expect(x.ioUse(256)).toBe(0);
    expect(x.ioUse(0)).toBe(256);
  });
});
