// --sync-peers etcd: the sync peers are the directors registered under the
// --store prefix. Each director puts PREFIX/sync/NAME = its --sync-listen
// address on a lease (10 s, kept alive; revoked at stop) and watches
// PREFIX/sync/: a director that appears is dialled, one that leaves is no
// longer redialled.
import type { Etcd3, Lease, Watcher } from 'etcd3';
import { parseEtcdUrl } from './store-etcd.js';
import { parseHostPort, type ConnSync, type HostPort } from './sync.js';

export const SYNC_PREFIX = 'sync/';

export interface EtcdPeers { initial: HostPort[]; close(): Promise<void> }

export async function etcdPeers(storeUrl: string, name: string, listen: string, sync: () => ConnSync | null,
  log: (m: string) => void): Promise<EtcdPeers> {
  const url = parseEtcdUrl(storeUrl);
  if (typeof url === 'string') throw new Error(url);
  const { Etcd3: Client } = await import('etcd3');
  const client: Etcd3 = new Client({ hosts: url.hosts, dialTimeout: 2000 });
  const dir = url.prefix + SYNC_PREFIX;
  const where = url.hosts.map((h) => h.replace('http://', '')).join(',');
  let lease: Lease | null = null;
  const register = async () => {
    lease = client.lease(10, { autoKeepAlive: true });
    lease.on('lost', () => { log('sync: etcd lease lost, registering again'); void register().catch(() => {}); });
    await lease.put(dir + name).value(listen);
  };
  const initial: HostPort[] = [];
  const known = new Map<string, HostPort>();
  try {
    await register();
    const all = await client.getAll().prefix(dir).strings();
    for (const [k, v] of Object.entries(all)) {
      if (k === dir + name) continue;
      const hp = parseHostPort(v, `etcd ${k}`);
      known.set(k, hp);
      initial.push(hp);
    }
  } catch (e) {
    log(`sync: etcd at ${where} unreachable (${e instanceof Error ? e.message : String(e)}): no peers from it for now`);
  }
  let watcher: Watcher | null = null;
  try {
    watcher = await client.watch().prefix(dir).create();
    watcher.on('put', (kv) => {
      const k = kv.key.toString();
      if (k === dir + name) return;
      try {
        const hp = parseHostPort(kv.value.toString(), `etcd ${k}`);
        known.set(k, hp);
        sync()?.addPeer(hp);
      } catch (e) { log(`sync: ${(e as Error).message}`); }
    });
    watcher.on('delete', (kv) => {
      const hp = known.get(kv.key.toString());
      if (hp) sync()?.dropPeer(hp);
    });
  } catch { /* the lease and listing failed too: logged above */ }
  return {
    initial,
    async close() {
      try { await watcher?.cancel(); } catch { /* gone */ }
      try { if (lease) await Promise.race([lease.revoke(), new Promise((r) => setTimeout(r, 1000))]); } catch { /* expires */ }
      client.close();
    },
  };
}
