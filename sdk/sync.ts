// Connection sync (docs/many-directors.md): the table's entries as compact
// records another director can import, their wire encoding, and the import.
// The record carries what IPVS's sync message v1 carries (ip_vs_sync.c:
// protocol, TEMPLATE flag, state, ports, client/VIP/real-server addresses,
// seconds left) minus what this core derives itself (the forwarding method
// and the counters' flags come from the real server found by address).
import { directorCore, type Director } from './director.js';
import { layout as L, status } from './core/abi.gen.js';

/** One entry as synced. Addresses are the core's four u32 words (IPv4: word 0). */
export interface SyncEntry {
  af: 4 | 6;
  /** 6/17/132; 0 for a fwmark template. */
  proto: number;
  /** TCP state index, CONN_S_UDP, or CONN_S_ASSURED / 0 for templates. */
  state: number;
  daf: 4 | 6;
  template: boolean;
  /** Seconds left; 0 = the entry ended (remove it). */
  expires: number;
  cport: number;
  vport: number;
  dport: number;
  caddr: number[];
  vaddr: number[];
  daddr: number[];
}

/** Why an import was refused. */
export type ImportOutcome = 'imported' | 'removed' | 'no-service' | 'no-dest' | 'no-entry' | 'invalid' | 'full';

/** Stable identity of an entry across directors (its lookup key). */
export function entryKey(e: SyncEntry): string {
  const c = e.caddr, v = e.vaddr;
  return e.af === 4
    ? `${e.template ? 'T' : 'C'}${e.proto}/${c[0]}:${e.cport}/${v[0]}:${e.vport}`
    : `${e.template ? 't' : 'c'}${e.proto}/${c[0]}.${c[1]}.${c[2]}.${c[3]}:${e.cport}/${v[0]}.${v[1]}.${v[2]}.${v[3]}:${e.vport}`;
}

/**
 * Every live entry of the table, a page at a time, with the core's id (the
 * listing's walk: not a snapshot, see connPages).
 */
export function* syncPages(director: Director, now?: number): Generator<{ id: number; e: SyncEntry }[]> {
  const core = directorCore(director);
  const t = director.now(now);
  let cursor = 0;
  do {
    const n = core.x.connList(cursor, t);
    if (n < 0) throw new Error(`connection listing failed (${n})`);
    const dv = core.view();
    const page: { id: number; e: SyncEntry }[] = [];
    for (let i = 0; i < n; i++) {
      const p = core.listAddr(i, L.CONN_RECORD_SIZE);
      const af = dv.getUint8(p + L.CONN_AF) === 6 ? 6 : 4;
      const daf = dv.getUint8(p + L.CONN_DAF) === 6 ? 6 : 4;
      const w = (o: number, v6: boolean) => (v6
        ? [dv.getUint32(p + o, true), dv.getUint32(p + o + 4, true), dv.getUint32(p + o + 8, true), dv.getUint32(p + o + 12, true)]
        : [dv.getUint32(p + o, true), 0, 0, 0]);
      page.push({
        id: dv.getUint32(p + L.CONN_ID, true),
        e: {
          af, proto: dv.getUint8(p + L.CONN_PROTO), state: dv.getUint8(p + L.CONN_STATE), daf,
          template: (dv.getUint32(p + L.CONN_FLAGS, true) & L.CONN_F_TEMPLATE) !== 0,
          expires: dv.getUint32(p + L.CONN_EXPIRES, true),
          cport: dv.getUint16(p + L.CONN_CPORT, true), vport: dv.getUint16(p + L.CONN_VPORT, true),
          dport: dv.getUint16(p + L.CONN_DPORT, true),
          caddr: w(L.CONN_CADDR, af === 6), vaddr: w(L.CONN_VADDR, af === 6), daddr: w(L.CONN_DADDR, daf === 6),
        },
      });
    }
    cursor = core.x.listCursor();
    yield page;
  } while (cursor !== 0);
}

/**
 * Import one entry into the director's table: the service by (af, protocol,
 * VIP, port) or fwmark, the real server by address; the state and seconds
 * left as given. Returns the outcome and the local entry's id.
 */
export function importEntry(director: Director, e: SyncEntry, now?: number): { outcome: ImportOutcome; id: number } {
  const core = directorCore(director);
  const dv = core.view();
  const p = core.specAddr();
  new Uint8Array(dv.buffer, p, L.CONN_RECORD_SIZE).fill(0);
  dv.setUint8(p + L.CONN_AF, e.af);
  dv.setUint8(p + L.CONN_PROTO, e.proto);
  dv.setUint8(p + L.CONN_STATE, e.state);
  dv.setUint8(p + L.CONN_DAF, e.daf);
  dv.setUint32(p + L.CONN_FLAGS, e.template ? L.CONN_F_TEMPLATE : 0, true);
  dv.setUint32(p + L.CONN_EXPIRES, e.expires >>> 0, true);
  dv.setUint16(p + L.CONN_CPORT, e.cport, true);
  dv.setUint16(p + L.CONN_VPORT, e.vport, true);
  dv.setUint16(p + L.CONN_DPORT, e.dport, true);
  for (let k = 0; k < 4; k++) {
    dv.setUint32(p + L.CONN_CADDR + 4 * k, (e.caddr[k] ?? 0) >>> 0, true);
    dv.setUint32(p + L.CONN_VADDR + 4 * k, (e.vaddr[k] ?? 0) >>> 0, true);
    dv.setUint32(p + L.CONN_DADDR + 4 * k, (e.daddr[k] ?? 0) >>> 0, true);
  }
  const st = core.x.connImport(director.now(now));
  if (st > 0) return { outcome: 'imported', id: st };
  if (st === status.OK) return { outcome: 'removed', id: 0 };
  const outcome: ImportOutcome = st === status.E_NOSERVICE ? 'no-service' : st === status.E_NODEST ? 'no-dest'
    : st === status.E_NOCONN ? 'no-entry' : st === status.E_INVAL ? 'invalid' : 'full';
  return { outcome, id: 0 };
}

// --- wire encoding -------------------------------------------------------------
// An entry: flags u8 (1 template, 2 IPv6 client side, 4 IPv6 real server),
// proto u8, state u8, seconds left u32, cport/vport/dport u16, then the
// client, VIP and real-server addresses (4 or 16 bytes each). IPv4: 25 bytes
// (IPVS's sync v1 IPv4 entry: 36 bytes).

const addrBytes = (af: number) => (af === 6 ? 16 : 4);

/** Encoded size of one entry. */
export function entrySize(e: SyncEntry): number {
  return 13 + 2 * addrBytes(e.af) + addrBytes(e.daf);
}

export function encodeEntries(list: readonly SyncEntry[]): Buffer {
  let n = 0;
  for (const e of list) n += entrySize(e);
  const b = Buffer.alloc(n);
  let o = 0;
  const addr = (w: number[], af: number) => {
    // Words are numeric (first byte most significant): big-endian is network order.
    if (af === 4) { b.writeUInt32BE(w[0] >>> 0, o); o += 4; return; }
    for (let k = 0; k < 4; k++) { b.writeUInt32BE((w[k] ?? 0) >>> 0, o); o += 4; }
  };
  for (const e of list) {
    b[o++] = (e.template ? 1 : 0) | (e.af === 6 ? 2 : 0) | (e.daf === 6 ? 4 : 0);
    b[o++] = e.proto;
    b[o++] = e.state;
    b.writeUInt32BE(e.expires >>> 0, o); o += 4;
    b.writeUInt16BE(e.cport, o); o += 2;
    b.writeUInt16BE(e.vport, o); o += 2;
    b.writeUInt16BE(e.dport, o); o += 2;
    addr(e.caddr, e.af);
    addr(e.vaddr, e.af);
    addr(e.daddr, e.daf);
  }
  return b;
}

/** Decode entries; throws on a truncated or malformed buffer. */
export function decodeEntries(b: Buffer): SyncEntry[] {
  const out: SyncEntry[] = [];
  let o = 0;
  const addr = (af: number): number[] => {
    if (af === 4) { const w = b.readUInt32BE(o); o += 4; return [w, 0, 0, 0]; }
    const w: number[] = [];
    for (let k = 0; k < 4; k++) { w.push(b.readUInt32BE(o)); o += 4; }
    return w;
  };
  while (o < b.length) {
    if (b.length - o < 13) throw new Error('truncated sync entry');
    const f = b[o++];
    if (f & ~7) throw new Error(`bad sync entry flags ${f}`);
    const af = f & 2 ? 6 : 4, daf = f & 4 ? 6 : 4;
    const proto = b[o++], state = b[o++];
    const expires = b.readUInt32BE(o); o += 4;
    const cport = b.readUInt16BE(o), vport = b.readUInt16BE(o + 2), dport = b.readUInt16BE(o + 4); o += 6;
    if (b.length - o < 2 * addrBytes(af) + addrBytes(daf)) throw new Error('truncated sync entry');
    const caddr = addr(af), vaddr = addr(af), daddr = addr(daf);
    out.push({ af, daf, proto, state, template: (f & 1) !== 0, expires, cport, vport, dport, caddr, vaddr, daddr });
  }
  return out;
}
