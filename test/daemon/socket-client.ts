// Raw clients of a control socket for the bounds tests: one that sends a
// line that never ends, one that sends requests and never reads, one that
// asks and waits for a reply line. Every wait is bounded.
import { connect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';

export function open(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

export interface Flood { sent: number; reply: string; closed: boolean }

/**
 * Send one request line that never ends, 1 MiB at a time, until the daemon
 * answers or closes, or `maxBytes` are sent.
 */
export async function floodLine(path: string, maxBytes: number): Promise<Flood> {
  const s = await open(path);
  const out: Flood = { sent: 0, reply: '', closed: false };
  s.setEncoding('utf8');
  s.on('data', (d: string) => { out.reply += d; });
  s.on('error', () => { /* EPIPE once the daemon cut us off */ });
  const closed = new Promise<void>((r) => s.once('close', () => { out.closed = true; r(); }));
  const chunk = Buffer.alloc(1 << 20, 'a');
  s.write('{"id":7,"op":"hello","pad":"');
  while (out.sent < maxBytes && out.reply === '' && !out.closed && !s.destroyed) {
    const more = s.write(chunk);
    out.sent += chunk.length;
    if (!more) await Promise.race([new Promise((r) => s.once('drain', r)), closed]);
  }
  // The reply (if any) and the close arrive within a bounded wait.
  await Promise.race([closed, new Promise((r) => setTimeout(r, 5000))]);
  s.destroy();
  return out;
}

/** Send `lines` and never read: the daemon's answers pile up on its side only as far as it lets them. */
export async function stuckReader(path: string, lines: string[]): Promise<Socket> {
  const s = await open(path);
  s.on('error', () => { /* closed by the daemon */ });
  s.pause();
  s.write(lines.join(''));
  return s;
}

/** One request, its reply line (bounded wait). */
export async function ask(path: string, request: object, timeoutMs = 10_000): Promise<Record<string, unknown>> {
  const s = await open(path);
  s.setEncoding('utf8');
  try {
    return await new Promise((resolve, reject) => {
      let buf = '';
      const t = setTimeout(() => reject(new Error(`no reply within ${timeoutMs} ms`)), timeoutMs);
      s.on('data', (d: string) => {
        buf += d;
        const nl = buf.indexOf('\n');
        if (nl >= 0) { clearTimeout(t); resolve(JSON.parse(buf.slice(0, nl))); }
      });
      s.once('close', () => { clearTimeout(t); reject(new Error(`closed without a reply: ${buf}`)); });
      s.write(JSON.stringify(request) + '\n');
    });
  } finally {
    s.destroy();
  }
}

/** Resident and peak resident memory of a process, in MiB (Linux). */
export function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}
