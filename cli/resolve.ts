// Node-only name resolution for wasmvsadm: /etc/services both ways, host
// names to IPv4 addresses for arguments, and reverse lookups for listings
// without -n, bounded by a short deadline after which numbers are shown.
import { readFileSync } from 'node:fs';
import { lookup, lookupService } from 'node:dns/promises';
import { parseAddr } from '../sdk/address.js';
import type { Names } from '../ipvsadm/names.js';
import type { Resolver, Proto } from '../ipvsadm/values.js';
import type { ServiceEntry, ConnEntry } from '../ipvsadm/protocol.js';

export interface ServicesDb { byName: Map<string, number>; byPort: Map<string, string> }

export function parseServices(text: string): ServicesDb {
  const byName = new Map<string, number>();
  const byPort = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const [name, portProto, ...aliases] = line.split(/\s+/);
    const m = /^(\d+)\/(\w+)$/.exec(portProto ?? '');
    if (!m) continue;
    const port = Number(m[1]), proto = m[2];
    if (!byPort.has(`${proto}/${port}`)) byPort.set(`${proto}/${port}`, name);
    for (const n of [name, ...aliases]) if (!byName.has(`${proto}/${n}`)) byName.set(`${proto}/${n}`, port);
  }
  return { byName, byPort };
}

let db: ServicesDb | null = null;
export function servicesDb(path = '/etc/services'): ServicesDb {
  if (!db) {
    try { db = parseServices(readFileSync(path, 'utf8')); } catch { db = parseServices(''); }
  }
  return db;
}

/** Options whose value is host[:port] or a host (netmask). */
const HOST_OPTS = new Set(['-t', '-u', '-r', '-M', '--tcp-service', '--udp-service', '--sctp-service', '--real-server', '--netmask']);

/** The host name in an address argument, or null for literals (cheap tests: -R feeds 10^5 of these). */
function hostPart(v: string): string | null {
  // Bracketed or bare IPv6 (two colons or more) is never a name.
  if (v.startsWith('[') || v.indexOf(':') !== v.lastIndexOf(':')) return null;
  const colon = v.indexOf(':');
  const h = colon >= 0 ? v.slice(0, colon) : v;
  if (h === '' || /^[0-9.]*$/.test(h)) return null;
  return parseAddr(h) ? null : h;
}

/** Host names appearing as values of address options in argv. */
export function hostNamesIn(argv: readonly string[]): string[] {
  const out = new Set<string>();
  for (let i = 0; i + 1 < argv.length; i++) {
    if (!HOST_OPTS.has(argv[i])) continue;
    const h = hostPart(argv[i + 1]);
    if (h) out.add(h);
  }
  return [...out];
}

function withDeadline<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<T>((resolve) => { timer = setTimeout(() => resolve(fallback), ms); });
  return Promise.race([p.catch(() => fallback), t]).finally(() => clearTimeout(timer));
}

/** A parser Resolver with the given host names looked up first (IPv4, as gethostbyname). */
export async function argResolver(hosts: readonly string[], timeoutMs = 2000): Promise<Resolver> {
  const found = new Map<string, string>();
  await Promise.all(hosts.map(async (h) => {
    const a = await withDeadline(lookup(h, { family: 4 }).then((r) => r.address), timeoutMs, undefined);
    if (a) found.set(h, a);
  }));
  const s = servicesDb();
  return {
    hostToAddr: (name) => found.get(name),
    serviceToPort: (name: string, proto: Proto) => s.byName.get(`${proto}/${name}`),
  };
}

/** Names for a listing: reverse lookups in parallel, all bounded by one deadline. */
export async function listingNames(items: readonly ServiceEntry[] | readonly ConnEntry[], deadlineMs = 1000): Promise<Names> {
  const addrs = new Set<string>();
  for (const it of items) {
    if ('dests' in it) {
      if (it.address) addrs.add(it.address);
      for (const d of it.dests) addrs.add(d.address);
    } else {
      addrs.add(it.client.address); addrs.add(it.virtual.address); addrs.add(it.dest.address);
    }
  }
  const hosts = new Map<string, string>();
  await Promise.all([...addrs].map(async (a) => {
    const r = await withDeadline(lookupService(a, 0).then((x) => x.hostname), deadlineMs, a);
    hosts.set(a, r);
  }));
  const s = servicesDb();
  return {
    host: (_af, address) => hosts.get(address) ?? address,
    port: (port, proto) => s.byPort.get(`${proto}/${port}`) ?? String(port),
  };
}
