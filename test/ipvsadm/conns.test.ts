// -L -c, --timeout, --set and -Z against the real connection table and statistics.
import { describe, it, expect } from 'vitest';
import { cli } from './harness.js';
import { flowFrom } from '../helpers.js';

describe('connections, timeouts and counters through wasmvsadm', () => {
  it('--set then -L --timeout (0 keeps a value)', async () => {
    const c = await cli();
    expect((await c.run('-L --timeout')).out).toBe('Timeout (tcp tcpfin udp): 900 120 300\n');
    expect((await c.run('--set 100 0 20')).code).toBe(0);
    expect(await c.run('-L --timeout')).toEqual({ code: 0, out: 'Timeout (tcp tcpfin udp): 100 120 20\n', err: '' });
    expect(c.handler.stateText()).toBe('--set 100 120 20\n');
    expect(JSON.parse((await c.run('-L --timeout --json')).out)).toEqual({ schema: 1, timeouts: { tcp: 100, tcpfin: 120, udp: 20 } });
  });

  it('-L -c lists a scheduled connection; -Z zeroes the counters', async () => {
    const c = await cli();
    await c.run('-A -t 198.18.0.1:80 -s rr');
    await c.run('-a -t 198.18.0.1:80 -r 198.18.1.1 -m');
    const d = c.handler.director;
    expect(d.schedule(flowFrom('198.18.9.9', 40000))).not.toBeNull();
    const conns = d.connections();
    expect(conns).toHaveLength(1);
    const exp = conns[0].expires;
    const expire = `${String(Math.floor(exp / 60)).padStart(2, '0')}:${String(exp % 60).padStart(2, '0')}`;
    const r = await c.run('-L -c -n');
    expect(r.code).toBe(0);
    expect(r.out).toBe('IPVS connection entries\n'
      + 'pro expire state       source             virtual            destination\n'
      + `TCP ${expire.padEnd(6)} ${conns[0].state.padEnd(11)} 198.18.9.9:40000   198.18.0.1:80      198.18.1.1:80\n`);
    expect((await c.run('-L -n --stats')).out.split('\n')[3]).toBe('TCP  198.18.0.1:80                       1        1        0        0        0');
    expect((await c.run('-Z')).code).toBe(0);
    expect((await c.run('-L -n --stats')).out.split('\n')[3]).toBe('TCP  198.18.0.1:80                       0        0        0        0        0');
  });
});
