// wasmvsadm --directors (wasmvs, not ipvsadm): the directors sharing the
// daemon's etcd store (wasmvsd --store etcd://…), from their leased entries.
//   wasmvsadm --directors [--json]
// Exit codes follow wasmvsadm's: 2 for local errors, 255 for daemon refusals.
import type { Request, Reply, DirectorEntry } from '../ipvsadm/protocol.js';
import { EXIT, kernelText } from '../ipvsadm/messages.js';

export interface DirectorsIo {
  request(req: Omit<Request, 'id'>): Promise<Reply>;
  out(text: string): void;
  err(text: string): void;
  now?(): number;
}

/** Seconds since an ISO time, as "3s". */
const age = (iso: string, now: number) => `${Math.max(0, Math.round((now - Date.parse(iso)) / 1000))}s`;

export function formatDirectors(list: readonly DirectorEntry[], revision: number, now = Date.now()): string {
  const rows = [['Director', 'Applied', 'Current', 'Conns', 'Mode', 'Pid', 'Host', 'Up', 'Seen']];
  for (const d of [...list].sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))) {
    rows.push([d.name, String(d.revision), d.revision >= revision ? 'yes' : 'no', String(d.connections), d.mode,
      String(d.pid), d.host, age(d.since, now), `${age(d.updated, now)} ago`]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  '));
  return `configuration revision ${revision}, ${list.length} director${list.length === 1 ? '' : 's'} alive\n${lines.join('\n')}\n`;
}

export async function runDirectors(argv: readonly string[], io: DirectorsIo): Promise<number> {
  const extra = argv.filter((w) => w !== '--directors' && w !== '--json');
  if (extra.length) { io.err(`--directors takes no other option than --json (got ${extra.join(' ')})\n`); return EXIT.LOCAL; }
  const r = await io.request({ op: 'directors' });
  if (!r.ok) { io.err(kernelText(r.error) + '\n'); return EXIT.KERNEL; }
  const body = r as Extract<Reply, { ok: true }> & { directors: DirectorEntry[]; revision: number };
  if (argv.includes('--json')) io.out(JSON.stringify({ revision: body.revision, directors: body.directors }, null, 2) + '\n');
  else io.out(formatDirectors(body.directors, body.revision, io.now?.() ?? Date.now()));
  return EXIT.OK;
}
