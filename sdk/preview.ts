// Change preview (wasmvsadm --dry-run, the SDK's previewChange): what a change
// would move, computed on a copy of the configuration; the live Director is
// only read. Per real server of each service the change touches:
//   - live connections to it, and how many the new configuration would send
//     elsewhere: all of them when it is removed; with dh/sh/mh, those whose
//     client the new table maps to another server (a director that takes the
//     flow over without its connection entry sends it there);
//   - with dh/sh/mh, its share of the hash table before and after, and the
//     share that leaves it.
// Pure apart from Director calls (no node: imports).
import type { Director } from './director.js';
import type { ServiceInfo, ServiceKey, DestInfo } from './types.js';
import { WasmvsError } from './errors.js';
import { copyConfig, keyOf, applyCmd, PREVIEW_OPS, type ConfigCmd } from './commands.js';

/** Live connections examined at most (each is one scheduler call on the copy). */
export const PREVIEW_MAX_CONNECTIONS = 200_000;
const HASHED = new Set(['dh', 'sh', 'mh']);

// What a change would move (wasmvsadm --dry-run; computed here).
export interface DestPreview {
  /** addr:port ([v6]:port). */
  dest: string;
  status: 'kept' | 'added' | 'removed';
  weight: { before: number | null; after: number | null };
  /** Live connections to it (templates not counted). */
  connections: number;
  /** Of those, the ones the new configuration sends elsewhere. */
  moving: number;
  /** Share of the dh/sh/mh table (0..1) before and after; null without a table. */
  hashBefore: number | null;
  hashAfter: number | null;
  /** Share of the table that maps to it before and elsewhere after. */
  hashLeaving: number | null;
}

export interface ServicePreview {
  /** ipvsadm's service words: "-t 10.0.0.1:80", "-f 7". */
  service: string;
  status: 'changed' | 'added' | 'removed';
  scheduler: { before: string | null; after: string | null };
  connections: number;
  moving: number;
  /** Share of the hash table whose server changes; null unless both sides have a table of one size. */
  hashMoving: number | null;
  dests: DestPreview[];
}

export interface ChangePreview {
  services: ServicePreview[];
  /** Live connections of the services shown, and how many were examined (all, up to PREVIEW_MAX_CONNECTIONS). */
  connections: number;
  examined: number;
  moving: number;
}

// Numeric ipvsadm words, as `ipvsadm -S -n` writes them (ipvsadm/save.ts's ruleService with
// numeric names; test/daemon/dryrun.test.ts checks the two agree).
const PROTO_OPT: Record<string, string> = { tcp: '-t', udp: '-u', sctp: '--sctp-service' };
const endpoint = (af: 4 | 6, address: string, port: number) => (af === 6 ? `[${address}]:${port}` : `${address}:${port}`);
export function serviceWords(s: Pick<ServiceInfo, 'fwmark' | 'af' | 'protocol' | 'address' | 'port'>): string {
  if (s.fwmark) return s.af === 6 ? `-f ${s.fwmark >>> 0} -6` : `-f ${s.fwmark >>> 0}`;
  const proto = s.protocol ?? 'tcp';
  return `${PROTO_OPT[proto] ?? '--xxx-service'} ${endpoint(s.af, s.address ?? '', s.port)}`;
}
const svcId = serviceWords;
const destId = (d: Pick<DestInfo, 'af' | 'address' | 'port'>) => endpoint(d.af, d.address, d.port);

interface Side { svc: ServiceInfo; dests: Map<string, DestInfo>; table: string[] | null; line: string }

function sides(d: Director): Map<string, Side> {
  const out = new Map<string, Side>();
  for (const s of d.services()) {
    const key = keyOf(s);
    const list = d.dests(key);
    const dests = new Map(list.map((x) => [destId(x), x]));
    let table: string[] | null = null;
    if (HASHED.has(s.scheduler)) {
      const byId = new Map(list.map((x) => [x.id, destId(x)]));
      table = d.schedTable(key).map((id) => (id ? byId.get(id) ?? '' : ''));
    }
    const line = JSON.stringify([s.scheduler, s.flags, s.persistent, s.netmask, s.ops, list.map((x) => [destId(x), x.weight, x.method, x.uThreshold, x.lThreshold])]);
    out.set(svcId(s), { svc: s, dests, table, line });
  }
  return out;
}

const share = (table: string[] | null, dest: string) => (table && table.length ? table.filter((t) => t === dest).length / table.length : null);

/**
 * The preview of `change` applied to `scratch`, a Director that is made a
 * copy of `live` first (its configuration is replaced; it keeps nothing).
 * `change` throws like the command would (e.g. a missing server): so does this.
 */
export function previewOn(live: Director, scratch: Director, change: (d: Director) => void): ChangePreview {
  copyConfig(live, scratch);
  change(scratch);
  const before = sides(live);
  const after = sides(scratch);
  const touched = new Map<string, ServicePreview>();
  const ids = new Set([...before.keys(), ...after.keys()]);
  for (const id of ids) {
    const b = before.get(id);
    const a = after.get(id);
    if (b && a && b.line === a.line) continue;
    const sp: ServicePreview = {
      service: id, status: !b ? 'added' : !a ? 'removed' : 'changed',
      scheduler: { before: b?.svc.scheduler ?? null, after: a?.svc.scheduler ?? null },
      connections: 0, moving: 0, hashMoving: null, dests: [],
    };
    const bt = b?.table ?? null;
    const at = a?.table ?? null;
    if (bt && at && bt.length === at.length && bt.length) {
      let n = 0;
      for (let i = 0; i < bt.length; i++) if (bt[i] !== at[i]) n++;
      sp.hashMoving = n / bt.length;
    }
    const names = [...new Set([...(b?.dests.keys() ?? []), ...(a?.dests.keys() ?? [])])];
    for (const dn of names) {
      const db = b?.dests.get(dn);
      const da = a?.dests.get(dn);
      let leaving: number | null = null;
      if (bt && at && bt.length === at.length && bt.length) {
        let n = 0;
        for (let i = 0; i < bt.length; i++) if (bt[i] === dn && at[i] !== dn) n++;
        leaving = n / bt.length;
      }
      sp.dests.push({
        dest: dn, status: !db ? 'added' : !da ? 'removed' : 'kept',
        weight: { before: db?.weight ?? null, after: da?.weight ?? null },
        connections: 0, moving: 0, hashBefore: share(bt, dn), hashAfter: share(at, dn), hashLeaving: leaving,
      });
    }
    touched.set(id, sp);
  }
  // Live connections of the touched services, found through their server's id.
  const owner = new Map<number, { sp: ServicePreview; dp: DestPreview; svc: ServiceInfo; hashedAfter: boolean }>();
  for (const [id, sp] of touched) {
    const b = before.get(id);
    if (!b) continue;
    const a = after.get(id);
    for (const d of b.dests.values()) {
      const dp = sp.dests.find((x) => x.dest === destId(d))!;
      owner.set(d.id, { sp, dp, svc: b.svc, hashedAfter: !!a && HASHED.has(a.svc.scheduler) });
    }
  }
  let examined = 0;
  let total = 0;
  let moving = 0;
  if (owner.size) {
    for (const page of live.connectionPages()) {
      for (const c of page) {
        if (c.template) continue;
        const o = owner.get(c.destId);
        if (!o) continue;
        total++;
        if (examined >= PREVIEW_MAX_CONNECTIONS) continue;
        examined++;
        o.dp.connections++;
        o.sp.connections++;
        let moves = o.dp.status === 'removed';
        if (!moves && o.hashedAfter && c.protocol !== 'ip') {
          const key: ServiceKey = keyOf(o.svc);
          const pick = scratch.schedule({
            protocol: c.protocol, client: c.client, virtual: c.virtual, ...('fwmark' in key ? { fwmark: key.fwmark } : {}),
          });
          moves = pick === null || destId({ af: pick.dest.address.includes(':') ? 6 : 4, address: pick.dest.address, port: pick.dest.port }) !== o.dp.dest;
        }
        if (moves) { o.dp.moving++; o.sp.moving++; moving++; }
      }
    }
  }
  return { services: [...touched.values()], connections: total, examined, moving };
}


/** The preview of configuration commands (the daemon's 'preview' request). */
export function previewCmds(live: Director, scratch: Director, cmds: readonly ConfigCmd[]): ChangePreview {
  for (const c of cmds) {
    if (!PREVIEW_OPS.has(c.op)) throw new WasmvsError('EBADREQUEST', `wasmvsd: --dry-run previews -a, -e, -d, -E and -D, not ${c.op}`);
  }
  return previewOn(live, scratch, (d) => { for (const c of cmds) applyCmd(d, c); });
}

/**
 * SDK: what `change` would move if applied to `live`, without changing it.
 *   const p = await previewChange(director, (d) => d.deleteDest(svc, { address: '10.1.1.2', port: 80 }));
 */
export async function previewChange(live: Director, change: (d: Director) => void): Promise<ChangePreview> {
  // Through the instance's class: the handler (and wasmvsadm through it) must not load the core.
  const scratch = await (live.constructor as typeof Director).create({ seed: 1, connections: false });
  return previewOn(live, scratch, change);
}
