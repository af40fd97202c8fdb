// Change preview: the SDK's previewChange on a Director holding real
// connection entries, checked against the change really made on a copy; and
// wasmvsadm --dry-run through a real wasmvsd proxy with held connections.
import { describe, it, expect, afterEach } from 'vitest';
import { serviceWords } from '../../sdk/preview.js';
import { ruleService } from '../../ipvsadm/save.js';
import { NUMERIC } from '../../ipvsadm/names.js';
import { Director, previewChange, type ChangePreview } from '../../sdk/index.js';
import { lab, backend, freePort, client, until, requireBuild, type Lab, type Backend, type Client } from '../hosts/proxy/harness.js';

const VIP = { protocol: 'tcp' as const, address: '198.18.0.1', port: 80 };
const clients = (n: number) => Array.from({ length: n }, (_, i) => ({ address: `198.18.${1 + (i >> 8)}.${i & 255}`, port: 10000 + i }));

async function withConns(sched: 'mh' | 'sh' | 'rr', dests: number, conns: number): Promise<{ d: Director; picks: Map<string, string> }> {
  const d = await Director.create({ seed: 7, flavor: 'debug' });
  d.addService(VIP, { scheduler: sched });
  for (let i = 1; i <= dests; i++) d.addDest(VIP, { address: `198.19.0.${i}`, port: 80, method: 'route' });
  const picks = new Map<string, string>();
  for (const c of clients(conns)) {
    const r = d.schedule({ protocol: 'tcp', client: c, virtual: VIP });
    picks.set(`${c.address}:${c.port}`, r!.dest.address);
  }
  return { d, picks };
}

/** Where the same clients go on a fresh Director with the change really made (no connection entries). */
async function after(sched: string, dests: number, change: (d: Director) => void): Promise<Map<string, string>> {
  const e = await Director.create({ seed: 9, flavor: 'debug', connections: false });
  e.addService(VIP, { scheduler: sched as 'mh' });
  for (let i = 1; i <= dests; i++) e.addDest(VIP, { address: `198.19.0.${i}`, port: 80, method: 'route' });
  change(e);
  const out = new Map<string, string>();
  for (const c of clients(2000)) out.set(`${c.address}:${c.port}`, e.schedule({ protocol: 'tcp', client: c, virtual: VIP })?.dest.address ?? '');
  return out;
}

const dest = (p: ChangePreview, addr: string) => p.services[0].dests.find((x) => x.dest === `${addr}:80`)!;

describe('previewChange (SDK)', () => {
  it('mh, one server removed: its connections all move, the others only where the new table says so', async () => {
    const { d, picks } = await withConns('mh', 4, 2000);
    const before = d.connections().length;
    const del = (x: Director) => x.deleteDest(VIP, { address: '198.19.0.2', port: 80 });
    const p = await previewChange(d, del);
    // Nothing changed on the live Director.
    expect(d.dests(VIP).length).toBe(4);
    expect(d.connections().length).toBe(before);
    const real = await after('mh', 4, del);
    let moving = 0;
    for (const [k, was] of picks) if (real.get(k) !== was) moving++;
    expect(p.services).toHaveLength(1);
    expect(p.services[0].status).toBe('changed');
    expect(p.connections).toBe(2000);
    expect(p.examined).toBe(2000);
    expect(p.moving).toBe(moving);
    const gone = dest(p, '198.19.0.2');
    expect(gone.status).toBe('removed');
    expect(gone.moving).toBe(gone.connections);
    expect(gone.connections).toBe([...picks.values()].filter((a) => a === '198.19.0.2').length);
    // Maglev: most of the kept servers' flows stay.
    for (const a of ['198.19.0.1', '198.19.0.3', '198.19.0.4']) expect(dest(p, a).moving).toBeLessThan(dest(p, a).connections / 4);
    // Hash shares: each side sums to the table, the leaving shares to the share that changes server.
    const ds = p.services[0].dests;
    expect(ds.reduce((s, x) => s + x.hashBefore!, 0)).toBeCloseTo(1, 9);
    expect(ds.reduce((s, x) => s + x.hashAfter!, 0)).toBeCloseTo(1, 9);
    expect(ds.reduce((s, x) => s + x.hashLeaving!, 0)).toBeCloseTo(p.services[0].hashMoving!, 9);
    expect(gone.hashAfter).toBe(0);
    expect(gone.hashLeaving).toBeCloseTo(gone.hashBefore!, 9);
  });

  it('sh, a weight change: the moving connections are exactly those the changed table sends elsewhere', async () => {
    const { d, picks } = await withConns('sh', 3, 2000);
    const edit = (x: Director) => { x.editDest(VIP, { address: '198.19.0.3', port: 80, weight: 3, method: 'route' }); };
    const p = await previewChange(d, edit);
    const real = await after('sh', 3, edit);
    let moving = 0;
    for (const [k, was] of picks) if (real.get(k) !== was) moving++;
    expect(p.moving).toBe(moving);
    expect(moving).toBeGreaterThan(0);
    expect(dest(p, '198.19.0.3').weight).toEqual({ before: 1, after: 3 });
    expect(dest(p, '198.19.0.3').hashAfter).toBeGreaterThan(dest(p, '198.19.0.3').hashBefore!);
  });

  it('rr: connections move only off a removed server; no hash table', async () => {
    const { d } = await withConns('rr', 3, 300);
    const p = await previewChange(d, (x) => x.deleteDest(VIP, { address: '198.19.0.1', port: 80 }));
    expect(p.moving).toBe(100);
    expect(dest(p, '198.19.0.1').moving).toBe(100);
    expect(dest(p, '198.19.0.2').moving).toBe(0);
    expect(p.services[0].hashMoving).toBeNull();
    expect(dest(p, '198.19.0.2').hashBefore).toBeNull();
  });

  it('a change that fails throws as the command would, and an unchanged configuration shows nothing', async () => {
    const { d } = await withConns('mh', 2, 10);
    await expect(previewChange(d, (x) => x.deleteDest(VIP, { address: '198.19.0.9', port: 80 }))).rejects.toThrow();
    expect((await previewChange(d, () => {})).services).toEqual([]);
  });
});

describe('wasmvsadm --dry-run (wasmvsd proxy)', () => {
  let l: Lab;
  let backs: Backend[] = [];
  let held: Client[] = [];
  afterEach(async () => {
    for (const c of held) c.sock.destroy();
    held = [];
    await l?.stop();
    for (const b of backs) await b.kill();
    backs = [];
    l?.cleanup();
  });

  it('prints per server the live connections and the hash share that would move, and changes nothing', async () => {
    requireBuild();
    backs = [await backend('one'), await backend('two'), await backend('three')];
    const port = await freePort();
    l = lab('wasmvs-dryrun-');
    await l.start(`-A -t 127.0.0.1:${port} -s sh\n` + backs.map((b) => `-a -t 127.0.0.1:${port} -r 127.0.0.1:${b.port} -m\n`).join(''));
    // Clients from 24 loopback addresses: sh spreads them by source address.
    for (let i = 0; i < 24; i++) held.push(await client(port, `127.0.1.${i + 1}`));
    const on = (name: string) => held.filter((c) => c.name === name).length;
    const rulesBefore = (await l.adm('-S -n')).out;
    const r = await l.adm(`--dry-run -d -t 127.0.0.1:${port} -r 127.0.0.1:${backs[1].port}`);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(new RegExp(`^-t 127\\.0\\.0\\.1:${port} sh \\(changed\\)\\n`));
    const row = (b: Backend) => r.out.split('\n').find((x) => x.includes(`-> 127.0.0.1:${b.port} `))!.trim().split(/ +/);
    // -> addr status weight conns moving hashNow hashAfter hashLeaving
    expect(row(backs[1]).slice(2, 6)).toEqual(['removed', '1', String(on('two')), String(on('two'))]);
    expect(row(backs[1])[7]).toBe('0.0%');
    expect(Number(row(backs[0])[4])).toBe(on('one'));
    expect(r.out).toMatch(/Would move \d+ \(\d+\.\d%\) of 24 live connections; nothing was changed\.\n$/);
    const j = JSON.parse((await l.adm(['--dry-run', '-d', '-t', `127.0.0.1:${port}`, '-r', `127.0.0.1:${backs[1].port}`, '--json'])).out) as ChangePreview;
    expect(j.connections).toBe(24);
    expect(j.services[0].dests.find((x) => x.status === 'removed')!.moving).toBe(on('two'));
    expect((await l.adm('-S -n')).out).toBe(rulesBefore);
    for (const c of held) expect(c.sock.destroyed).toBe(false);
    // Only -a/-e/-d/-E/-D; a bad change is refused as the command would be.
    const a = await l.adm(`--dry-run -A -t 127.0.0.1:${port + 1}`);
    expect(a.code).toBe(2);
    expect(a.err).toContain('--dry-run previews -a, -e, -d, -E and -D');
    const missing = await l.adm(`--dry-run -d -t 127.0.0.1:${port} -r 127.0.0.1:1`);
    expect(missing.code).toBe(255);
    expect(missing.err).toContain('No such destination');
    await until(async () => (await l.adm('-L -n')).code === 0, 'daemon still answers');
  }, 60_000);
});

describe('the SDK preview names services as ipvsadm -S -n does', () => {
  it('serviceWords equals save.ts ruleService with numeric names, for every kind of service', () => {
    const cases = [
      { fwmark: 0, af: 4 as const, protocol: 'tcp', address: '198.18.0.1', port: 80 },
      { fwmark: 0, af: 4 as const, protocol: 'udp', address: '198.18.0.1', port: 53 },
      { fwmark: 0, af: 4 as const, protocol: 'sctp', address: '198.18.0.1', port: 9 },
      { fwmark: 0, af: 6 as const, protocol: 'tcp', address: '2001:2::1', port: 443 },
      { fwmark: 0, af: 4 as const, protocol: 'other', address: '198.18.0.1', port: 1 },
      { fwmark: 7, af: 4 as const, protocol: 'tcp', address: '', port: 0 },
      { fwmark: 0xffffffff, af: 6 as const, protocol: 'tcp', address: '', port: 0 },
    ];
    for (const s of cases) expect(serviceWords(s as never)).toBe(ruleService(s as never, NUMERIC));
  });
});
