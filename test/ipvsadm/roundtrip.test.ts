// -S → -C → -R gives back the same -S for random configurations, and the
// daemon's state-file form rebuilds the exact IPVS list order.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { cli } from './harness.js';
import { ControlHandler } from '../../daemon/handler.js';
import { LocalBackend } from '../../daemon/local.js';
import { runArgv } from '../../ipvsadm/run.js';
import { director } from '../helpers.js';

const octet = fc.integer({ min: 0, max: 255 });
const v4 = fc.tuple(fc.constantFrom(18, 19), octet, fc.integer({ min: 1, max: 254 })).map(([a, b, c]) => `198.${a}.${b}.${c}`);
const v6 = fc.integer({ min: 1, max: 0xffff }).map((n) => `2001:db8::${n.toString(16)}`);
const port = fc.integer({ min: 1, max: 65535 });

const svcArg = fc.oneof(
  fc.tuple(fc.constantFrom('-t', '-u', '--sctp-service'), v4, port).map(([o, a, p]) => ({ arg: `${o} ${a}:${p}`, af: 4, fw: false, udp: o === '-u' })),
  fc.tuple(fc.constantFrom('-t', '-u'), v6, port).map(([o, a, p]) => ({ arg: `${o} [${a}]:${p}`, af: 6, fw: false, udp: o === '-u' })),
  // Marks stay below 2^31: above it ipvsadm's unsigned-difference comparator is not a
  // total order, so -S order depends on kernel order (true of ipvsadm too).
  fc.tuple(fc.integer({ min: 1, max: 0x7fffffff }), fc.boolean()).map(([m, six]) => ({ arg: six ? `-f ${m} -6` : `-f ${m}`, af: six ? 6 : 4, fw: true, udp: false })),
);
const sched = fc.constantFrom('rr', 'wrr', 'lc', 'wlc', 'sed', 'nq', 'sh', 'mh', 'dh', 'lblc', 'lblcr', 'fo', 'ovf', 'twos');

const svcLine = fc.record({
  svc: svcArg, sched, persist: fc.option(fc.integer({ min: 1, max: 2678400 }), { nil: undefined }),
  mask: fc.option(fc.integer({ min: 1, max: 32 }), { nil: undefined }), flag: fc.boolean(), ops: fc.boolean(),
}).map(({ svc, sched: s, persist, mask, flag, ops }) => {
  let line = `-A ${svc.arg} -s ${s}`;
  if (persist !== undefined) {
    line += ` -p ${persist}`;
    if (mask !== undefined) line += svc.af === 6 ? ` -M ${mask * 4}` : ` -M ${maskText(mask)}`;
  }
  if (flag) line += s === 'sh' ? ' -b sh-fallback,sh-port' : s === 'mh' ? ' -b mh-port' : ' -b flag-2';
  if (ops && (svc.udp || svc.fw)) line += ' -o';
  return { svc, line };
});

function maskText(bits: number): string {
  const m = bits === 32 ? 0xffffffff : (~((1 << (32 - bits)) - 1)) >>> 0;
  return [m >>> 24, (m >>> 16) & 255, (m >>> 8) & 255, m & 255].join('.');
}

const destTail = fc.record({
  method: fc.constantFrom('-g', '-m', '-i'), weight: fc.integer({ min: 0, max: 65535 }),
  tun: fc.constantFrom('', ' --tun-type ipip', ' --tun-type gue --tun-port 6080 --tun-csum', ' --tun-type gre --tun-nocsum'),
}).map(({ method, weight, tun }) => `${method} -w ${weight}${method === '-i' ? tun : ''}`);

const config = fc.array(fc.tuple(svcLine, fc.array(fc.tuple(fc.oneof(v4, v6), port, destTail), { maxLength: 4 })), { minLength: 1, maxLength: 6 });

type Cfg = [{ svc: { arg: string; af: number }; line: string }, [string, number, string][]][];
function lines(cfg: Cfg): string[] {
  const out: string[] = [];
  for (const [s, dests] of cfg) {
    out.push(s.line);
    for (const [addr, p, tail] of dests) {
      const same = addr.includes(':') === (s.svc.af === 6);
      if (!same && !tail.startsWith('-i')) continue;
      out.push(`-a ${s.svc.arg} -r ${addr.includes(':') ? `[${addr}]` : addr}:${p} ${tail}`);
    }
  }
  return out;
}

describe('-S / -R round trip', () => {
  it('random configurations: -S, -C, -R, same -S', async () => {
    await fc.assert(fc.asyncProperty(config, async (cfg) => {
      // A fresh director per run: slot generations must stay far from the id limit.
      const c = await cli();
      for (const l of lines(cfg)) await c.run(l);
      const saved = (await c.run('-S -n')).out;
      expect(saved.startsWith('-A ')).toBe(true);
      expect((await c.run('-C')).code).toBe(0);
      expect((await c.run('-S -n')).out).toBe('');
      const r = await c.run('-R', saved);
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      expect((await c.run('-S -n')).out).toBe(saved);
    }), { numRuns: 60 });
  });

  it('state-file form rebuilds IPVS list order and thresholds', async () => {
    const c = await cli();
    for (const l of ['-A -t 198.18.0.1:80 -s rr', '-a -t 198.18.0.1:80 -r 198.18.1.2 -m -x 100 -y 10',
      '-a -t 198.18.0.1:80 -r 198.18.1.1 -m', '-a -t 198.18.0.1:80 -r 198.18.1.3 -m -w 3']) {
      expect((await c.run(l)).code).toBe(0);
    }
    const text = c.handler.stateText();
    expect(text).toBe('-A -t 198.18.0.1:80 -s rr\n'
      + '-a -t 198.18.0.1:80 -r 198.18.1.2:80 -m -w 1 -x 100 -y 10\n'
      + '-a -t 198.18.0.1:80 -r 198.18.1.1:80 -m -w 1\n'
      + '-a -t 198.18.0.1:80 -r 198.18.1.3:80 -m -w 3\n');
    const h2 = new ControlHandler(await director(2), { size: 4096, mode: 'proxy', dataPath: 'none', abiVersion: 0x10000 });
    let err = '';
    const code = await runArgv(['-R'], () => new LocalBackend(h2), { out: () => {}, err: (t) => { err += t; }, readStdin: async () => text });
    expect([code, err]).toEqual([0, '']);
    expect(h2.stateText()).toBe(text);
    const order = (h: ControlHandler) => h.list()[0].dests.map((d) => d.address);
    expect(order(h2)).toEqual(order(c.handler));
    expect(order(h2)).toEqual(['198.18.1.3', '198.18.1.1', '198.18.1.2']);
  });
});

describe('-R behaviour (reference §5.9)', () => {
  it('skips blank lines, # comments and `ipvsadm` tokens', async () => {
    const c = await cli();
    const r = await c.run('-R', '# rules\n\nipvsadm -A -t 198.18.0.1:80 -s rr\r\n   \n\t-a -t 198.18.0.1:80 -r 198.18.1.1 -m\n');
    expect([r.code, r.err]).toEqual([0, '']);
    expect((await c.run('-S -n')).out).toBe('-A -t 198.18.0.1:80 -s rr\n-a -t 198.18.0.1:80 -r 198.18.1.1:80 -m -w 1\n');
  });

  it('kernel errors continue, status of the last line; local errors stop with 2', async () => {
    const c = await cli();
    let r = await c.run('-R', '-A -t 198.18.0.1:80\n-A -t 198.18.0.1:80\n-A -t 198.18.0.2:80\n');
    expect([r.code, r.err]).toEqual([0, 'Service already exists\n']);
    r = await c.run('-R', '-A -t 198.18.0.3:80\n-A -t 198.18.0.3:80\n');
    expect([r.code, r.err]).toEqual([255, 'Service already exists\n']);
    r = await c.run('-R', '-A -t 198.18.0.4:80\n-a -t 198.18.0.4:80 -r 198.18.1.1 -w 70000\n-A -t 198.18.0.5:80\n');
    expect([r.code, r.err]).toEqual([2, 'illegal weight specified\n']);
    const saved = (await c.run('-S -n')).out;
    expect(saved).toContain('198.18.0.4:80');
    expect(saved).not.toContain('198.18.0.5:80');
    r = await c.run('-R', '-L --bogus\n-A -t 198.18.0.6:80\n');
    expect([r.code, r.err]).toEqual([0, '--bogus: unknown option\n']);
    r = await c.run('-R', '-R\n');
    expect(r.code).toBe(255);
  });

  it('--atomic: all or nothing', async () => {
    const c = await cli();
    await c.run('-A -t 198.18.0.9:80 -s rr');
    const before = (await c.run('-S -n')).out;
    let r = await c.run('-R --atomic', '-A -t 198.18.0.1:80\n-a -t 198.18.0.1:80 -r 198.18.1.1 -m\n-A -t 198.18.0.9:80\n');
    expect([r.code, r.err]).toEqual([255, 'Service already exists\n']);
    expect((await c.run('-S -n')).out).toBe(before);
    r = await c.run('-R --atomic', '-A -t 198.18.0.1:80\n-a -t 198.18.0.1:80 -r 198.18.1.1 -w x\n');
    expect([r.code, r.err]).toEqual([2, 'illegal weight specified\n']);
    expect((await c.run('-S -n')).out).toBe(before);
    r = await c.run('-R --atomic', '-A -t 198.18.0.1:80\n-a -t 198.18.0.1:80 -r 198.18.1.1 -m\n');
    expect([r.code, r.err]).toEqual([0, '']);
    expect((await c.run('-S -n')).out).toBe('-A -t 198.18.0.1:80 -s wlc\n-a -t 198.18.0.1:80 -r 198.18.1.1:80 -m -w 1\n' + before);
  });
});
