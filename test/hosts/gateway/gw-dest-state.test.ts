// The gateway's real-server state without root: health results and drains
// become the core's DOWN flag (weight untouched, no new connections), a
// drain follows ActiveConn + InActConn and ends at zero or at its deadline.
import { describe, expect, it } from 'vitest';
import { Director } from '../../../sdk/director.js';
import { silentLogger } from '../../../daemon/logger.js';
import { parseSettings } from '../../../daemon/settings.js';
import { DestState } from '../../../hosts/gateway/dest-state.js';

const svc = { protocol: 'tcp' as const, address: '198.18.0.1', port: 80 };
const A = '198.18.1.1', B = '198.18.1.2';

async function lab() {
  const d = await Director.create({ seed: 1 });
  d.addService(svc, { scheduler: 'rr' });
  for (const address of [A, B]) d.addDest(svc, { address, port: 80, weight: 2, method: 'masq' });
  return d;
}

const pick = (d: Director, port: number) =>
  d.schedule({ protocol: 'tcp', client: { address: '198.18.9.9', port }, virtual: { address: svc.address, port: 80 }, now: 0 })?.dest.address;

describe('gateway real-server state', () => {
  it('drain: no new connections, weight kept, forced at the deadline with what is left, cancelled', async () => {
    const d = await lab();
    const s = new DestState(d, silentLogger());
    const first = [pick(d, 40000), pick(d, 40001)];
    expect(new Set(first)).toEqual(new Set([A, B]));
    const p = s.drain(svc, { address: B, port: 80 }, 5, 1000);
    expect(p).toMatchObject({ status: 'draining', open: 1, deadline: 6000, forced: false });
    expect([40002, 40003, 40004, 40005].map((port) => pick(d, port))).toEqual([A, A, A, A]);
    expect(d.dests(svc).find((x) => x.address === B)?.weight).toBe(2);
    s.step(5999);
    expect(s.drainProgress()[0].status).toBe('draining');
    s.step(6000);
    expect(s.drainProgress()[0]).toMatchObject({ status: 'drained', forced: true, open: 1 });
    expect(s.views().find((v) => v.dest.address === B)).toMatchObject({ healthy: true, draining: true });
    expect(s.undrain(svc, { address: B, port: 80 })).toBe(true);
    expect([40006, 40007].map((port) => pick(d, port))).toContain(B);
  });

  it('drain: ends unforced once the table holds nothing for the real server', async () => {
    const d = await lab();
    const s = new DestState(d, silentLogger());
    const p = s.drain(svc, { address: B, port: 80 }, null, 0);
    expect(p).toMatchObject({ status: 'drained', open: 0, forced: false });
  });

  it('health: fall failures mark DOWN through the core (weight kept), rise successes bring it back', async () => {
    const d = await lab();
    let bDead = true;
    const s = new DestState(d, silentLogger(), async (dest) => (dest.address === B && bDead ? 'ECONNREFUSED' : null));
    s.sync(parseSettings(`# wasmvs-proxy health -t ${svc.address}:80 interval=0.01 timeout=0.01 rise=2 fall=2\n`));
    const healthy = () => s.views().find((v) => v.dest.address === B)!.healthy;
    for (let i = 0; i < 200 && healthy(); i++) await new Promise((r) => setTimeout(r, 10));
    expect(healthy()).toBe(false);
    expect([40000, 40001, 40002].map((port) => pick(d, port))).toEqual([A, A, A]);
    expect(d.dests(svc).find((x) => x.address === B)?.weight).toBe(2);
    bDead = false;
    for (let i = 0; i < 200 && !healthy(); i++) await new Promise((r) => setTimeout(r, 10));
    expect(healthy()).toBe(true);
    expect([40003, 40004].map((port) => pick(d, port))).toContain(B);
    s.stop();
  });
});
