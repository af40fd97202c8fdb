// Connection sync between two real wasmvsd proxies on loopback: entries made
// through director A (connections and persistence templates) appear in B's
// `wasmvsadm -L -c` with the same real server and state; a director started
// later holds A's table as soon as it answers (the bulk snapshot comes before
// ready); frames with a wrong key, altered or replayed are refused and counted.
import { describe, it, expect, beforeAll, afterEach } from 'vitest';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lab, backend, freePort, client, until, requireBuild, type Lab, type Backend, type Client } from '../../hosts/proxy/harness.js';
import { startDaemon } from '../daemon.js';
import { frame, KIND_BATCH, KIND_HELLO, KIND_SNAPSHOT_END } from '../../../daemon/sync.js';
import { encodeEntries } from '../../../sdk/sync.js';

const KEY = 'test-sync-key-0123456789abcdef';

/** -L -c -n without the expire column (it ticks), sorted. */
async function conns(l: Lab): Promise<string[]> {
  const r = await l.adm('-L -c -n');
  expect(r.code).toBe(0);
  return r.out.split('\n').slice(2).filter((x) => x.trim()).map((x) => x.trim().split(/\s+/).filter((_, i) => i !== 1).join(' ')).sort();
}

describe('wasmvsd connection sync', () => {
  let dir: string;
  let labs: Lab[] = [];
  let backs: Backend[] = [];
  let held: Client[] = [];
  let raw: Socket[] = [];
  beforeAll(() => requireBuild());
  afterEach(async () => {
    for (const c of held) c.sock.destroy();
    for (const s of raw) s.destroy();
    for (const l of labs) { await l.stop(); l.cleanup(); }
    for (const b of backs) await b.kill();
    if (dir) rmSync(dir, { recursive: true, force: true });
    labs = []; backs = []; held = []; raw = [];
  }, 60_000);

  /** A director with the shared rules, its sync listener and peers. */
  async function director(name: string, rules: string, listen: string, peers: string[], key = KEY, wait = '2'): Promise<Lab> {
    const l = lab(`wasmvs-sync-${name}-`);
    labs.push(l);
    writeFileSync(l.config, rules);
    const keyFile = join(l.dir, 'sync.key');
    writeFileSync(keyFile, key + '\n');
    const args = ['proxy', '--socket', l.sock, '--state', l.state, '--config', l.config, '--name', name,
      '--sync-listen', listen, '--sync-key', keyFile, '--sync-wait', wait];
    if (peers.length) args.push('--sync-peers', peers.join(','));
    l.daemon = await startDaemon(args, l.sock);
    await until(() => l.daemon!.log().includes('control socket'), `${name} ready`);
    return l;
  }

  async function setup(): Promise<{ rules: string; vip: number }> {
    dir = mkdtempSync(join(tmpdir(), 'wasmvs-sync-'));
    backs = [await backend('one'), await backend('two')];
    const vip = await freePort();
    const rules = `-A -t 127.0.0.1:${vip} -s rr -p 300\n` + backs.map((b) => `-a -t 127.0.0.1:${vip} -r 127.0.0.1:${b.port} -m\n`).join('');
    return { rules, vip };
  }

  it('connections and templates made through A appear on B with the same real server and state', async () => {
    const { rules, vip } = await setup();
    const pa = await freePort(), pb = await freePort('127.0.0.2');
    const a = await director('a', rules, `127.0.0.1:${pa}`, [`127.0.0.2:${pb}`]);
    const b = await director('b', rules, `127.0.0.2:${pb}`, [`127.0.0.1:${pa}`]);
    expect(b.daemon!.log()).toMatch(/sync: snapshot from a .* imported \(0 entries here\)/);
    // Two clients (two templates), three connections held open through A's VIP.
    held.push(await client(vip), await client(vip), await client(vip, '127.0.0.3'));
    expect(new Set(held.slice(0, 2).map((c) => c.name)).size).toBe(1); // persistence: one server per client
    // The native engine relays the real server's first bytes before the main thread has read its
    // ESTABLISHED event (batched): bounded wait for the table, as for any event that crosses threads.
    await until(async () => (await conns(a)).filter((x) => x.includes('ESTABLISHED')).length === 3, 'A lists three ESTABLISHED', 5_000);
    const onA = await conns(a);
    expect(onA.filter((x) => x.includes('ESTABLISHED'))).toHaveLength(3);
    expect(onA.filter((x) => / 127\.0\.0\.\d+:0 /.test(x))).toHaveLength(2); // the templates (client port 0)
    await until(async () => JSON.stringify(await conns(b)) === JSON.stringify(onA), 'B lists what A lists', 10_000);
    // An ended connection ends on B too.
    const port0 = held[0].sock.localPort!;
    held[0].sock.destroy();
    await until(async () => (await conns(a)).some((x) => x.includes(`:${port0} `) && !x.includes('ESTABLISHED')), 'A saw the close');
    await until(async () => JSON.stringify(await conns(b)) === JSON.stringify(await conns(a)), 'B follows the state change', 10_000);
  }, 60_000);

  it('a director started later holds the table as soon as it answers (the snapshot comes before ready)', async () => {
    const { rules, vip } = await setup();
    const pa = await freePort(), pc = await freePort('127.0.0.2');
    const a = await director('a', rules, `127.0.0.1:${pa}`, [`127.0.0.2:${pc}`], KEY, '1');
    expect(a.daemon!.log()).toContain('sync: no peer sent its snapshot within 1 s');
    for (let i = 0; i < 5; i++) held.push(await client(vip, `127.0.0.${10 + i}`));
    const onA = await conns(a);
    expect(onA).toHaveLength(10);
    const c = await director('c', rules, `127.0.0.2:${pc}`, [`127.0.0.1:${pa}`], KEY, '10');
    // No wait: c reported ready only after the import.
    expect(await conns(c)).toEqual(onA);
    expect(c.daemon!.log()).toMatch(/sync: snapshot from a .* imported \(10 entries here\)/);
  }, 60_000);

  it('a director started later waits for every peer\'s table, not only the first one to arrive', async () => {
    const { rules, vip } = await setup();
    const pa = await freePort(), pc = await freePort('127.0.0.2'), pf = await freePort('127.0.0.4');
    const a = await director('a', rules, `127.0.0.1:${pa}`, [], KEY, '1');
    for (let i = 0; i < 3; i++) held.push(await client(vip, `127.0.0.${10 + i}`));
    // Peer f speaks the protocol by hand: its table (one entry a does not have) comes 800 ms after a's.
    const key = Buffer.from(KEY);
    const entry = encodeEntries([{ af: 4, daf: 4, proto: 6, state: 1, template: false, expires: 600, cport: 40001,
      vport: vip, dport: backs[1].port, caddr: [0x7f000062, 0, 0, 0], vaddr: [0x7f000001, 0, 0, 0], daddr: [0x7f000001, 0, 0, 0] }]);
    const fake: Server = createServer((s) => {
      raw.push(s);
      s.on('error', () => {});
      s.write(frame(KIND_HELLO, 0n, Buffer.concat([Buffer.alloc(16, 9), Buffer.from('f')]), null, null));
      s.once('data', (d: Buffer) => {
        const nonce = d.subarray(13, 29);
        setTimeout(() => {
          s.write(frame(KIND_BATCH, 1n, entry, key, nonce));
          s.write(frame(KIND_SNAPSHOT_END, 2n, Buffer.alloc(0), key, nonce));
        }, 800);
      });
    });
    await new Promise<void>((r) => fake.listen(pf, '127.0.0.4', () => r()));
    try {
      const c = await director('c', rules, `127.0.0.2:${pc}`, [`127.0.0.1:${pa}`, `127.0.0.4:${pf}`], KEY, '10');
      // No wait: c answered only with both tables imported.
      const onC = await conns(c);
      expect(onC.filter((x) => x.includes('ESTABLISHED') && !x.includes('127.0.0.98'))).toHaveLength(3);
      expect(onC.some((x) => x.includes('127.0.0.98:40001'))).toBe(true);
      const log = c.daemon!.log();
      expect(log.indexOf('sync: snapshot from f')).toBeGreaterThan(log.indexOf('sync: snapshot from a'));
      expect(log.indexOf('sync: snapshot from f')).toBeLessThan(log.indexOf('control socket'));
    } finally {
      fake.close();
    }
  }, 60_000);

  it('a wrong key, an altered frame and a replayed frame are refused and counted; a good frame is imported', async () => {
    const { rules } = await setup();
    const pa = await freePort(), pb = await freePort('127.0.0.2');
    const a = await director('a', rules, `127.0.0.1:${pa}`, []);
    // A director with another key: its frames are refused, nothing of it is imported.
    const b = await director('b', rules, `127.0.0.2:${pb}`, [`127.0.0.1:${pa}`], 'another-key-0123456789abcdef', '1');
    await until(() => a.daemon!.log().includes('refused (bad MAC: wrong key or altered)'), 'A refused B');
    expect(b.daemon!.log()).toContain('refused (bad MAC');
    expect(await conns(b)).toEqual([]);
    await b.stop(); // it would keep redialing
    // A speaker of the protocol with the right key, by hand.
    const key = Buffer.from(KEY);
    const entry = encodeEntries([{ af: 4, daf: 4, proto: 6, state: 1, template: false, expires: 600, cport: 40000,
      vport: Number(/127\.0\.0\.1:(\d+)/.exec(rules)![1]), dport: backs[1].port,
      caddr: [0x7f000063, 0, 0, 0], vaddr: [0x7f000001, 0, 0, 0], daddr: [0x7f000001, 0, 0, 0] }]);
    async function session(): Promise<{ nonce: Buffer; s: Socket }> {
      const s = connect(pa, '127.0.0.1');
      raw.push(s);
      const first = await new Promise<Buffer>((r) => s.once('data', r));
      expect(first[4]).toBe(KIND_HELLO);
      s.write(frame(KIND_HELLO, 0n, Buffer.concat([Buffer.alloc(16, 7), Buffer.from('hand')]), null, null));
      return { nonce: first.subarray(13, 29), s };
    }
    const refused = () => Number(/(\d+) refused so far/.exec([...a.daemon!.log().matchAll(/.*refused so far/g)].pop()?.[0] ?? '0 refused so far')![1]);
    let before = refused();
    // Altered: one byte of the entry flipped after the MAC was computed.
    let x = await session();
    const bad = frame(KIND_BATCH, 1n, entry, key, x.nonce);
    bad[20] ^= 1;
    x.s.write(bad);
    await until(() => refused() > before, 'altered frame refused');
    before = refused();
    // Replayed: a good frame sent twice (the second has a used sequence number), and into a new session (other nonce).
    x = await session();
    const good = frame(KIND_BATCH, 1n, entry, key, x.nonce);
    x.s.write(good);
    await until(async () => (await conns(a)).some((l) => l.includes('127.0.0.99:40000')), 'good frame imported');
    x.s.write(good);
    await until(() => refused() > before, 'replay in the session refused');
    before = refused();
    x = await session();
    x.s.write(good);
    await until(() => refused() > before, 'replay into another session refused');
    expect(a.daemon!.log()).toMatch(/replayed or reordered/);
    const line = (await conns(a)).find((l) => l.includes('127.0.0.99:40000'))!;
    expect(line).toContain(`127.0.0.1:${backs[1].port}`);
    expect(line).toContain('ESTABLISHED');
  }, 60_000);
});
