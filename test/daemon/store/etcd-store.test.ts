// Two real wasmvsd proxies sharing one real etcd-server (--store etcd://…):
// a write through one appears on the other, etcd killed → serving goes on and
// writes fail clearly, etcd back → everything resumes, a restarted director
// resumes from the revision it applied, big writes go in documented chunks.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { Etcd3 } from 'etcd3';
import { lab, backend, freePort, ask, client, until, requireBuild, type Lab, type Backend } from '../../hosts/proxy/harness.js';
import { startDaemon } from '../daemon.js';
import { etcd, haveEtcd, type Etcd } from './etcd.js';

const missing = haveEtcd() ? null : 'etcd-server is not installed (apt-get install etcd-server)';
if (missing && process.env.CI === 'true') throw new Error(`etcd store suite: ${missing} (required in CI)`);

/** A wasmvsd proxy on its own socket and state file, configured from etcd. */
async function director(l: Lab, url: string, name: string, extra: string[] = []): Promise<void> {
  l.daemon = await startDaemon(['proxy', '--socket', l.sock, '--state', l.state, '--store', url, '--name', name, ...extra], l.sock);
  await until(() => l.daemon!.log().includes('control socket'), `${name} ready`);
}

const listing = async (l: Lab) => (await l.adm('-L -n')).out;
const rules = async (l: Lab) => (await l.adm('-S -n')).out;

describe.skipIf(missing !== null)('wasmvsd --store etcd', () => {
  let e: Etcd;
  let a: Lab;
  let b: Lab;
  let backs: Backend[] = [];
  let prefix = 0;
  beforeAll(async () => { requireBuild(); e = await etcd(); }, 30_000);
  afterAll(async () => { await e?.cleanup(); });
  afterEach(async () => {
    for (const l of [a, b]) { await l?.stop(); l?.cleanup(); }
    for (const x of backs) await x.kill();
    backs = [];
    await e.start().catch(() => {}); // a test that killed etcd leaves it running for the next one
  }, 60_000);

  async function pair(): Promise<string> {
    const url = e.url(`t${++prefix}`);
    a = lab('wasmvs-store-a-');
    b = lab('wasmvs-store-b-');
    await director(a, url, 'a');
    await director(b, url, 'b');
    return url;
  }

  it('a write through one director is applied by the other; the layout in etcd is one key per service and per server', async () => {
    await pair();
    backs = [await backend('one'), await backend('two')];
    const port = await freePort();
    expect((await a.adm(`-A -t 127.0.0.1:${port} -s rr`)).code).toBe(0);
    for (const x of backs) expect((await a.adm(`-a -t 127.0.0.1:${port} -r 127.0.0.1:${x.port} -m`)).code).toBe(0);
    await until(async () => (await rules(b)) === (await rules(a)), 'b holds what a wrote', 10_000);
    expect(await listing(b)).toContain(`127.0.0.1:${backs[1].port}`);
    // Whichever director bound the VIP first forwards (the other logs EADDRINUSE and keeps the rules).
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) seen.add(await ask(port));
    expect(seen).toEqual(new Set(['one', 'two']));
    const c = new Etcd3({ hosts: `http://${e.client}` });
    try {
      const kv = await c.getAll().prefix(`/t${prefix}/config/services/`).strings();
      expect(kv).toEqual({
        [`/t${prefix}/config/services/tcp/127.0.0.1:${port}`]: `-A -t 127.0.0.1:${port} -s rr`,
        [`/t${prefix}/config/services/tcp/127.0.0.1:${port}/dests/127.0.0.1:${backs[0].port}`]: `-a -t 127.0.0.1:${port} -r 127.0.0.1:${backs[0].port} -m -w 1`,
        [`/t${prefix}/config/services/tcp/127.0.0.1:${port}/dests/127.0.0.1:${backs[1].port}`]: `-a -t 127.0.0.1:${port} -r 127.0.0.1:${backs[1].port} -m -w 1`,
      });
    } finally { c.close(); }
    // Edits and deletes travel too.
    expect((await b.adm(`-e -t 127.0.0.1:${port} -r 127.0.0.1:${backs[0].port} -m -w 3`)).code).toBe(0);
    expect((await b.adm(`-d -t 127.0.0.1:${port} -r 127.0.0.1:${backs[1].port}`)).code).toBe(0);
    await until(async () => (await rules(a)) === (await rules(b)), 'a holds what b changed', 10_000);
    expect(await rules(a)).toBe(`-A -t 127.0.0.1:${port} -s rr\n-a -t 127.0.0.1:${port} -r 127.0.0.1:${backs[0].port} -m -w 3\n`);
  }, 60_000);

  it('etcd killed: both keep serving, writes fail with a clear message; etcd back: writes and watches resume', async () => {
    await pair();
    backs = [await backend('one')];
    const port = await freePort();
    expect((await a.adm(`-A -t 127.0.0.1:${port} -s rr`)).code).toBe(0);
    expect((await a.adm(`-a -t 127.0.0.1:${port} -r 127.0.0.1:${backs[0].port} -m`)).code).toBe(0);
    await until(async () => (await listing(b)).includes(`127.0.0.1:${backs[0].port}`), 'b applied', 10_000);
    const before = await rules(b);
    await e.kill();
    expect(await ask(port)).toBe('one');
    const w = await a.adm(`-a -t 127.0.0.1:${port} -r 127.0.0.1:1 -m`);
    expect(w.code).not.toBe(0);
    expect(w.err).toMatch(/etcd at 127\.0\.0\.1:\d+ unreachable .*nothing was changed; directors keep serving the last configuration/);
    const wb = await b.adm(`-D -t 127.0.0.1:${port}`);
    expect(wb.code).not.toBe(0);
    expect(wb.err).toContain('unreachable');
    expect(await rules(b)).toBe(before);
    expect(await ask(port)).toBe('one');
    await e.start();
    // The first write after the outage may race the reconnect: bounded retries, then it must succeed.
    await until(async () => (await b.adm(`-a -t 127.0.0.1:${port} -r 127.0.0.1:2 -m -w 0`)).code === 0, 'write after etcd is back', 15_000);
    await until(async () => (await listing(a)).includes('127.0.0.1:2 '), 'a applied the write made through b after the outage', 10_000);
    expect(a.daemon!.log()).toMatch(/reachable again/);
    expect(await ask(port)).toBe('one');
  }, 90_000);

  it('a restarted director resumes from the revision it applied; one whose revision was compacted away loads everything', async () => {
    const url = await pair();
    const port = await freePort();
    expect((await a.adm(`-A -t 127.0.0.1:${port} -s wrr`)).code).toBe(0);
    await until(async () => (await listing(b)).includes(`127.0.0.1:${port}`), 'b applied', 10_000);
    await b.stop();
    const rev = Number(/# etcd revision (\d+)\n/.exec(readFileSync(b.state, 'utf8'))?.[1]);
    expect(rev).toBeGreaterThan(0);
    expect((await a.adm(`-a -t 127.0.0.1:${port} -r 127.0.0.1:7 -m -w 2`)).code).toBe(0);
    expect((await a.adm('--set 100 20 30')).code).toBe(0);
    await director(b, url, 'b');
    expect(b.daemon!.log()).toContain(`following changes after revision ${rev}`);
    expect(b.daemon!.log()).not.toContain('configuration loaded');
    await until(async () => (await rules(b)) === (await rules(a)), 'b caught up', 10_000);
    expect((await b.adm('-L --timeout')).out).toContain('100 20 30');
    // Now compact etcd's history past b's revision while b is down: b must take the configuration whole.
    await b.stop();
    expect((await a.adm(`-d -t 127.0.0.1:${port} -r 127.0.0.1:7`)).code).toBe(0);
    expect((await a.adm(`-a -t 127.0.0.1:${port} -r 127.0.0.1:8 -m`)).code).toBe(0);
    const c = new Etcd3({ hosts: `http://${e.client}` });
    try {
      const head = await c.kv.range({ key: Buffer.from('x') });
      await c.kv.compact({ revision: head.header.revision, physical: true });
    } finally { c.close(); }
    await director(b, url, 'b');
    await until(() => b.daemon!.log().includes('configuration loaded'), 'b reloads after the compaction', 15_000);
    await until(async () => (await rules(b)) === (await rules(a)), 'b holds a\'s configuration', 10_000);
    expect(await rules(b)).toContain('127.0.0.1:8');
    expect(await rules(b)).not.toContain('127.0.0.1:7 ');
  }, 90_000);

  it('a -R larger than one transaction goes in chunks and arrives whole; a refused --atomic -R writes nothing', async () => {
    await pair();
    // 150 services with 2 servers each: 450 keys, four transactions of at most 126.
    let text = '';
    for (let i = 0; i < 150; i++) {
      text += `-A -t 10.9.${i >> 8}.${i & 255}:80 -s rr\n`;
      text += `-a -t 10.9.${i >> 8}.${i & 255}:80 -r 10.8.0.1:80 -g\n-a -t 10.9.${i >> 8}.${i & 255}:80 -r 10.8.0.2:80 -g -w 2\n`;
    }
    const r = await a.adm(['-R'], text);
    expect(r.code).toBe(0);
    await until(async () => (await rules(b)) === (await rules(a)), 'b holds the whole -R', 15_000);
    expect((await rules(b)).split('\n').filter((x) => x).length).toBe(450);
    const c = new Etcd3({ hosts: `http://${e.client}` });
    try {
      expect(await c.getAll().prefix(`/t${prefix}/config/services/`).count()).toBe(450);
      // The last transaction's marker names its place: part 4 of 4.
      expect((JSON.parse((await c.get(`/t${prefix}/config/write`).string())!) as { part: number[] }).part).toEqual([4, 4]);
      const bad = '-A -t 10.7.0.1:80 -s rr\n-a -t 10.7.0.2:80 -r 10.8.0.1:80 -g\n';
      const refused = await a.adm(['-R', '--atomic'], bad);
      expect(refused.code).not.toBe(0);
      expect(await c.getAll().prefix(`/t${prefix}/config/services/`).count()).toBe(450);
      expect(await rules(a)).not.toContain('10.7.0.1');
    } finally { c.close(); }
    // -C is one range delete per service: everything goes on both.
    expect((await b.adm('-C')).code).toBe(0);
    await until(async () => (await rules(a)) === '' && (await rules(b)) === '', 'both cleared', 15_000);
  }, 90_000);

  it('--directors lists the live directors with their applied revision and connection count', async () => {
    await pair();
    backs = [await backend('one')];
    const port = await freePort();
    expect((await a.adm(`-A -t 127.0.0.1:${port} -s rr`)).code).toBe(0);
    expect((await a.adm(`-a -t 127.0.0.1:${port} -r 127.0.0.1:${backs[0].port} -m`)).code).toBe(0);
    const held = await client(port);
    type Listed = { revision: number; directors: { name: string; revision: number; connections: number; pid: number }[] };
    const listed = async (l: Lab) => JSON.parse((await l.adm('--directors --json')).out) as Listed;
    await until(async () => {
      const r = await listed(b);
      return r.directors.length === 2 && r.directors.every((d) => d.revision >= r.revision) && r.directors.some((d) => d.connections === 1);
    }, 'both directors current, one with the held connection', 15_000);
    const r = await listed(a);
    expect(r.directors.map((d) => d.name).sort()).toEqual(['a', 'b']);
    expect(r.directors.find((d) => d.name === 'a')!.pid).toBe(a.daemon!.proc.pid);
    const text = (await b.adm('--directors')).out;
    expect(text).toMatch(/^configuration revision \d+, 2 directors alive\nDirector +Applied +Current +Conns/);
    expect(text).toMatch(/\na +\d+ +yes +[01] +proxy /);
    held.sock.destroy();
    // A stopped director leaves at once (its lease is revoked); a killed one when its lease (10 s) expires.
    await b.stop();
    expect((await listed(a)).directors.map((d) => d.name)).toEqual(['a']);
    await director(b, e.url(`t${prefix}`), 'b');
    await until(async () => (await listed(a)).directors.length === 2, 'b back', 10_000);
    b.daemon!.proc.kill('SIGKILL');
    await b.daemon!.exited;
    b.daemon = null;
    await until(async () => (await listed(a)).directors.length === 1, 'the killed director\'s lease expired', 25_000);
    // etcd away: membership is unknown, and says so.
    await e.kill();
    const away = await a.adm('--directors');
    expect(away.code).toBe(255);
    expect(away.err).toMatch(/etcd at 127\.0\.0\.1:\d+ unreachable .*membership unknown/);
    await e.start();
    // Without --store there is nothing to list: a clear refusal.
    const solo = lab('wasmvs-store-solo-');
    try {
      await solo.start();
      const s = await solo.adm('--directors');
      expect(s.code).toBe(255);
      expect(s.err).toContain('--store etcd://');
    } finally { await solo.stop(); solo.cleanup(); }
  }, 60_000);

  it('a first start with --store seeds a prefix nobody wrote with the state file\'s configuration, list order kept', async () => {
    const url = e.url(`t${++prefix}`);
    a = lab('wasmvs-store-a-');
    b = lab('wasmvs-store-b-');
    // One machine first, with the state file only.
    await a.start();
    expect((await a.adm('-A -f 9 -s mh')).code).toBe(0);
    for (const x of [3, 1, 2]) expect((await a.adm(`-a -f 9 -r 198.19.0.${x}:0 -g -w ${x}`)).code).toBe(0);
    expect((await a.adm('--set 100 20 30')).code).toBe(0);
    const order = (await a.adm('-L -n --nosort')).out;
    await a.stop();
    await director(a, url, 'a');
    await until(() => a.daemon!.log().includes('seeded with the local configuration'), 'a seeds etcd', 10_000);
    expect((await a.adm('-L -n --nosort')).out).toBe(order);
    await director(b, url, 'b');
    await until(async () => (await b.adm('-L -n --nosort')).out === order, 'b holds a\'s configuration in a\'s order', 10_000);
    expect((await b.adm('-L --timeout')).out).toContain('100 20 30');
    // A prefix someone wrote is never overwritten by a newcomer's state file: it takes etcd's.
    await b.stop();
    expect((await a.adm('-d -f 9 -r 198.19.0.1:0')).code).toBe(0);
    const c = lab('wasmvs-store-c-');
    try {
      await c.start();
      expect((await c.adm('-A -t 198.18.7.7:80 -s rr')).code).toBe(0);
      await c.stop();
      await director(c, url, 'c');
      await until(async () => (await c.adm('-L -n --nosort')).out === (await a.adm('-L -n --nosort')).out, 'c holds etcd\'s configuration', 10_000);
      expect(c.daemon!.log()).not.toContain('seeded');
    } finally { await c.stop(); c.cleanup(); }
  }, 90_000);

  it('SIGHUP with --store: the reload of --config is a write through etcd, applied by every director', async () => {
    const url = e.url(`t${++prefix}`);
    a = lab('wasmvs-store-a-');
    b = lab('wasmvs-store-b-');
    writeFileSync(a.config, '-A -f 5 -s rr\n-a -f 5 -r 198.19.0.1:0 -g\n');
    await director(a, url, 'a', ['--config', a.config]);
    await director(b, url, 'b');
    // The first start seeded etcd from --config.
    await until(async () => (await rules(b)).includes('198.19.0.1'), 'b has the seeded configuration', 10_000);
    // Two commands on one service in one request (-d of one server, -a of another).
    writeFileSync(a.config, '-A -f 5 -s rr\n-a -f 5 -r 198.19.0.2:0 -g -w 4\n');
    a.daemon!.proc.kill('SIGHUP');
    await until(async () => (await rules(b)) === '-A -f 5 -s rr\n-a -f 5 -r 198.19.0.2:0 -g -w 4\n', 'b applied the reload', 15_000);
    await until(async () => (await rules(a)) === (await rules(b)), 'a too (from etcd)', 10_000);
    expect(a.daemon!.log()).toMatch(/SIGHUP: 2 of 2 changes written to etcd/);
  }, 60_000);

  it('writes through both directors at once all land, in one order both apply', async () => {
    await pair();
    const writes: Promise<{ code: number }>[] = [];
    for (let i = 0; i < 6; i++) {
      writes.push(a.adm(`-A -t 10.6.0.${i + 1}:80 -s rr`));
      writes.push(b.adm(`-A -u 10.6.0.${i + 1}:53 -s rr`));
    }
    const codes = (await Promise.all(writes)).map((w) => w.code);
    expect(codes).toEqual(new Array(12).fill(0));
    await until(async () => (await rules(b)) === (await rules(a)), 'same configuration', 10_000);
    expect((await rules(a)).split('\n').filter((x) => x).length).toBe(12);
  }, 60_000);
});
