// --sync-peers etcd: directors sharing a --store find their sync peers in the
// etcd membership (PREFIX/sync/NAME, leased). A director started later gets
// the connections the first one holds (from its snapshot) before it answers.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { lab, backend, freePort, client, until, requireBuild, type Lab, type Backend, type Client } from '../../hosts/proxy/harness.js';
import { startDaemon } from '../daemon.js';
import { etcd, haveEtcd, type Etcd } from '../store/etcd.js';

const missing = haveEtcd() ? null : 'etcd-server is not installed (apt-get install etcd-server)';
if (missing && process.env.CI === 'true') throw new Error(`sync etcd-peers suite: ${missing} (required in CI)`);

async function conns(l: Lab): Promise<string[]> {
  const r = await l.adm('-L -c -n');
  return r.out.split('\n').slice(2).filter((x) => x.trim()).map((x) => x.trim().split(/\s+/).filter((_, i) => i !== 1).join(' ')).sort();
}

describe.skipIf(missing !== null)('wasmvsd --sync-peers etcd', () => {
  let e: Etcd;
  let labs: Lab[] = [];
  let backs: Backend[] = [];
  let held: Client[] = [];
  beforeAll(async () => { requireBuild(); e = await etcd(); }, 30_000);
  afterAll(async () => { await e?.cleanup(); });
  afterEach(async () => {
    for (const c of held) c.sock.destroy();
    for (const l of labs) { await l.stop(); l.cleanup(); }
    for (const b of backs) await b.kill();
    labs = []; backs = []; held = [];
  }, 60_000);

  async function director(name: string, url: string, listen: string): Promise<Lab> {
    const l = lab(`wasmvs-sync-etcd-${name}-`);
    labs.push(l);
    const keyFile = join(l.dir, 'sync.key');
    writeFileSync(keyFile, 'etcd-peers-test-key-0123456789\n');
    l.daemon = await startDaemon(['proxy', '--socket', l.sock, '--state', l.state, '--store', url, '--name', name,
      '--sync-listen', listen, '--sync-peers', 'etcd', '--sync-key', keyFile], l.sock);
    await until(() => l.daemon!.log().includes('control socket'), `${name} ready`);
    return l;
  }

  it('the second director finds the first in etcd and holds its connections when it answers; a stopped one leaves PREFIX/sync/', async () => {
    const url = e.url('sync1');
    const a = await director('a', url, `127.0.0.1:${await freePort()}`);
    backs = [await backend('one')];
    const vip = await freePort();
    expect((await a.adm(`-A -t 127.0.0.1:${vip} -s rr -p 60`)).code).toBe(0);
    expect((await a.adm(`-a -t 127.0.0.1:${vip} -r 127.0.0.1:${backs[0].port} -m`)).code).toBe(0);
    held.push(await client(vip), await client(vip, '127.0.0.5'));
    const onA = await conns(a);
    expect(onA).toHaveLength(4);
    const b = await director('b', url, `127.0.0.2:${await freePort('127.0.0.2')}`);
    expect(await conns(b)).toEqual(onA);
    expect(b.daemon!.log()).toMatch(/sync: snapshot from a .* imported \(4 entries here\)/);
    const c = new Etcd3({ hosts: `http://${e.client}` });
    try {
      expect(Object.keys(await c.getAll().prefix('/sync1/sync/').strings()).sort()).toEqual(['/sync1/sync/a', '/sync1/sync/b']);
      await b.stop();
      expect(Object.keys(await c.getAll().prefix('/sync1/sync/').strings())).toEqual(['/sync1/sync/a']);
    } finally { c.close(); }
  }, 60_000);
});
