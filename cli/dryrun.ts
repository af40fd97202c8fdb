// wasmvsadm --dry-run (wasmvs, not ipvsadm): what -a/-e/-d/-E/-D would move,
// per real server, without changing anything (the daemon's 'preview', preview.ts).
//   wasmvsadm --dry-run -d -t 10.0.0.1:80 -r 10.1.1.2:80 [--json]
// Exit codes follow wasmvsadm's: 2 for local errors, 255 for daemon refusals.
import { PREVIEW_OPS, type Request, type Reply, type ChangePreview, type ServicePreview } from '../ipvsadm/protocol.js';
import { parseArgs, type ParseOptions } from '../ipvsadm/parse.js';
import { CliError, EXIT, kernelText } from '../ipvsadm/messages.js';

export interface DryRunIo {
  request(req: Omit<Request, 'id'>): Promise<Reply>;
  out(text: string): void;
  err(text: string): void;
  parse?: ParseOptions;
  program?: string;
  sleep?(ms: number): Promise<void>;
}

const pct = (x: number | null) => (x === null ? '-' : `${(x * 100).toFixed(1)}%`);
const of = (n: number, total: number) => (total ? `${n} (${((n / total) * 100).toFixed(1)}%)` : `${n}`);

function serviceText(s: ServicePreview): string {
  const sched = s.scheduler.before === s.scheduler.after ? s.scheduler.after : `${s.scheduler.before ?? '-'} -> ${s.scheduler.after ?? '-'}`;
  const head = `${s.service} ${sched} (${s.status})\n`;
  const rows = [['  -> RemoteAddress:Port', 'Status', 'Weight', 'Conns', 'Moving', 'Hash now', 'Hash after', 'Hash leaving']];
  for (const d of s.dests) {
    const w = d.weight.before === null || d.weight.after === null || d.weight.before === d.weight.after
      ? String(d.weight.after ?? d.weight.before) : `${d.weight.before}->${d.weight.after}`;
    rows.push([`  -> ${d.dest}`, d.status, w, String(d.connections), String(d.moving), pct(d.hashBefore), pct(d.hashAfter), pct(d.hashLeaving)]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const table = rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')).join('\n');
  const hash = s.hashMoving === null ? '' : `; ${pct(s.hashMoving)} of the hash table changes server`;
  return `${head}${table}\n  moving: ${of(s.moving, s.connections)} of ${s.connections} connections${hash}\n`;
}

export function formatPreview(p: ChangePreview): string {
  if (p.services.length === 0) return 'Nothing would change.\n';
  const sampled = p.examined < p.connections ? ` (${p.examined} of ${p.connections} examined)` : '';
  return p.services.map(serviceText).join('') + `Would move ${of(p.moving, p.examined)} of ${p.examined} live connections${sampled}; nothing was changed.\n`;
}

export async function runDryRun(argv: readonly string[], io: DryRunIo): Promise<number> {
  const json = argv.includes('--json');
  const rest = argv.filter((w) => w !== '--dry-run' && w !== '--json');
  let cmd;
  try {
    const { parsed } = parseArgs(rest, { ...io.parse, program: io.program });
    if (parsed.kind !== 'apply' || !PREVIEW_OPS.has(parsed.cmd.op)) throw CliError.local('--dry-run previews -a, -e, -d, -E and -D');
    cmd = parsed.cmd;
  } catch (e) {
    if (!(e instanceof CliError)) throw e;
    io.err(`${e.message}\n`);
    return e.exit;
  }
  const req = { op: 'preview', cmds: [cmd] } as Omit<Request, 'id'>;
  let r = await io.request(req);
  // The daemon's scratch copy is being renewed after an atomic request: bounded retries.
  for (let i = 0; i < 20 && !r.ok && r.error.code === 'EAGAIN'; i++) {
    await (io.sleep ?? ((ms) => new Promise((res) => setTimeout(res, ms))))(100);
    r = await io.request(req);
  }
  if (!r.ok) { io.err(kernelText(r.error) + '\n'); return EXIT.KERNEL; }
  const p = (r as Extract<Reply, { ok: true }> & { preview: ChangePreview }).preview;
  io.out(json ? JSON.stringify(p, null, 2) + '\n' : formatPreview(p));
  return EXIT.OK;
}
