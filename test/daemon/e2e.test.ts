// End to end with real processes: wasmvsd on a temporary socket and state
// file, driven by wasmvsadm as an operator would (add, list, save); kill -9 and restart.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, statSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBuild, startDaemon, wasmvsadm, type Daemon } from './daemon.js';

const LIST = 'IP Virtual Server version 1.2.1 (size=4096)\n'
  + 'Prot LocalAddress:Port Scheduler Flags\n'
  + '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n'
  + 'TCP  198.18.0.1:80 lc\n'
  + '  -> 198.18.1.1:80                Masq    100    0          0         \n';

describe('wasmvsd + wasmvsadm', () => {
  let dir: string, sock: string, state: string;
  let daemon: Daemon | null = null;
  const env = () => ({ WASMVS_SOCKET: sock });

  beforeAll(() => {
    requireBuild();
    dir = mkdtempSync(join(tmpdir(), 'wasmvs-e2e-'));
    sock = join(dir, 'ctl', 'wasmvsd.sock');
    state = join(dir, 'state', 'wasmvsd.rules');
  });
  afterAll(() => {
    daemon?.proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('no daemon: "Can\'t initialize ipvs" naming the socket, exit 2', async () => {
    const r = await wasmvsadm(['-L', '-n'], env());
    expect(r.code).toBe(2);
    expect(r.err).toBe(`Can't initialize ipvs: No such file or directory\nAre you sure that wasmvsd is running and listening on ${sock}?\n`);
  });

  it('-A, -a, -L -n and the state file, then kill -9 and restart on the same state file', async () => {
    daemon = await startDaemon(['proxy', '--socket', sock, '--state', state], sock);
    expect(statSync(sock).mode & 0o777).toBe(0o600);
    expect(daemon.log()).toContain(`control socket ${sock}`);
    expect(await wasmvsadm(['-A', '-t', '198.18.0.1:80', '-s', 'lc'], env())).toEqual({ code: 0, out: '', err: '' });
    expect(await wasmvsadm(['-a', '-t', '198.18.0.1:80', '-r', '198.18.1.1', '-m', '-w', '100'], env())).toEqual({ code: 0, out: '', err: '' });
    expect(await wasmvsadm(['-L', '-n'], env())).toEqual({ code: 0, out: LIST, err: '' });
    expect(readFileSync(state, 'utf8')).toBe('-A -t 198.18.0.1:80 -s lc\n-a -t 198.18.0.1:80 -r 198.18.1.1:80 -m -w 100\n');

    daemon.proc.kill('SIGKILL');
    await daemon.exited;
    daemon = await startDaemon(['proxy', '--socket', sock, '--state', state], sock);
    expect(await wasmvsadm(['-Ln'], env())).toEqual({ code: 0, out: LIST, err: '' });
    expect(await wasmvsadm(['--socket', sock, '-S', '-n'], {})).toEqual({
      code: 0, out: '-A -t 198.18.0.1:80 -s lc\n-a -t 198.18.0.1:80 -r 198.18.1.1:80 -m -w 100\n', err: '',
    });
  });

  it('-L without -n names ports from /etc/services and never hangs on DNS', async () => {
    const r = await wasmvsadm(['-L'], env());
    expect(r.code).toBe(0);
    expect(r.out.split('\n')[3]).toMatch(/^TCP  \S+:http lc$/);
  });

  it('daemon errors keep their ipvsadm texts and codes', async () => {
    expect(await wasmvsadm(['-A', '-t', '198.18.0.1:80'], env())).toEqual({ code: 255, out: '', err: 'Service already exists\n' });
    expect(await wasmvsadm(['-L', '-t', '198.18.0.2:80'], env())).toEqual({ code: 1, out: '', err: 'No such service\n' });
  });

  it('-R from stdin and --json', async () => {
    const r = await wasmvsadm(['-R'], env(), '# more\n-A -u 198.18.0.1:53 -s rr\n-a -u 198.18.0.1:53 -r 198.18.1.2:53 -m\n');
    expect(r).toEqual({ code: 0, out: '', err: '' });
    const j = await wasmvsadm(['-L', '--json'], env());
    expect(j.code).toBe(0);
    const doc = JSON.parse(j.out);
    expect(doc.schema).toBe(1);
    expect(doc.services.map((s: { protocol: string; port: number }) => `${s.protocol}:${s.port}`)).toEqual(['tcp:80', 'udp:53']);
  });

  it('garbage on the control socket gets error replies; the daemon keeps serving', async () => {
    const replies = await new Promise<string[]>((resolve, reject) => {
      const s = connect(sock);
      let buf = '';
      s.setEncoding('utf8');
      s.on('data', (d) => { buf += d; if (buf.split('\n').length > 4) { s.end(); resolve(buf.trim().split('\n')); } });
      s.on('error', reject);
      s.write('not json\n{"id":7,"op":"apply","cmds":[{"op":"add-service","svc":{"protocol":"tcp","address":{"x":1},"port":-1}}]}\n');
      s.write('{"id":8,"op":"list","svc":42}\n{"id":9,"op":"hello"}\n');
    });
    expect(JSON.parse(replies[0]).ok).toBe(false);
    expect(JSON.parse(replies[1]).results[0].ok).toBe(false);
    expect(JSON.parse(replies[2]).ok).toBe(false);
    expect(JSON.parse(replies[3])).toMatchObject({ id: 9, ok: true, hello: { size: 4096, mode: 'proxy' } });
    expect((await wasmvsadm(['-L', '-n', '-t', '198.18.0.1:80'], env())).code).toBe(0);
  });

  it('edits and deletions survive kill -9 (journal replay)', async () => {
    for (const args of [['-e', '-t', '198.18.0.1:80', '-r', '198.18.1.1', '-m', '-w', '7', '-x', '50'], ['-D', '-u', '198.18.0.1:53'],
      ['-a', '-t', '198.18.0.1:80', '-r', '198.18.1.3:8080', '-m'], ['-E', '-t', '198.18.0.1:80', '-s', 'rr', '-p', '60']]) {
      expect(await wasmvsadm(args, env())).toEqual({ code: 0, out: '', err: '' });
    }
    const before = await wasmvsadm(['-L', '-n', '--thresholds'], env());
    expect(before.out).toContain('TCP  198.18.0.1:80 rr persistent 60');
    daemon!.proc.kill('SIGKILL');
    await daemon!.exited;
    daemon = await startDaemon(['proxy', '--socket', sock, '--state', state], sock);
    expect(await wasmvsadm(['-L', '-n', '--thresholds'], env())).toEqual(before);
  });

  it('a damaged state file: bad lines are logged and skipped, a torn last line dropped, the rest is loaded', async () => {
    const sock2 = join(dir, 'second.sock');
    const state2 = join(dir, 'second.rules');
    writeFileSync(state2, '-A -t 198.18.0.7:80 -s rr\n-a -t 198.18.0.7:80 -r 198.18.1.1 -w 99999\n-A -t 198.18.0.8:80 -s nosuch\n-a -t 198.18.0.7:80 -r 198.18.1.2 -m\n-A -t 198.18.0.9:8');
    const d2 = await startDaemon(['proxy', '--socket', sock2, '--state', state2], sock2);
    try {
      expect(d2.log()).toContain(`${state2}:2: illegal weight specified (line skipped)`);
      expect(d2.log()).toContain('Scheduler or persistence engine not found (rule skipped)');
      // The last line has no newline: torn mid-append, never acknowledged (it could be port 80 cut to 8).
      expect(d2.log()).toContain(`${state2}: torn last line ignored (never acknowledged): "-A -t 198.18.0.9:8"`);
      expect((await wasmvsadm(['-S', '-n'], { WASMVS_SOCKET: sock2 })).out).toBe(
        '-A -t 198.18.0.7:80 -s rr\n-a -t 198.18.0.7:80 -r 198.18.1.2:80 -m -w 1\n');
    } finally {
      d2.proc.kill('SIGTERM');
      await d2.exited;
    }
  });

  it('a big -R into an empty daemon: one state write that replays after kill -9', async () => {
    const sock3 = join(dir, 'third.sock');
    const state3 = join(dir, 'third.rules');
    const lines = ['--set 10 20 30'];
    for (let s = 0; s < 100; s++) {
      lines.push(`-A -t 198.18.1.${s}:80 -s rr`);
      for (let d = 1; d <= 3; d++) lines.push(`-a -t 198.18.1.${s}:80 -r 198.19.${s}.${d}:8080 -m -w ${d}`);
    }
    let d3 = await startDaemon(['proxy', '--socket', sock3, '--state', state3], sock3);
    try {
      const env3 = { WASMVS_SOCKET: sock3 };
      expect(await wasmvsadm(['-R'], env3, lines.join('\n') + '\n')).toEqual({ code: 0, out: '', err: '' });
      // The state file is the restore itself (timeouts first), not a journal waiting for compaction.
      expect(readFileSync(state3, 'utf8')).toBe(lines.map((l) => l + '\n').join(''));
      const before = await wasmvsadm(['-S', '-n'], env3);
      expect(before.out.split('\n').length).toBe(401);
      d3.proc.kill('SIGKILL');
      await d3.exited;
      d3 = await startDaemon(['proxy', '--socket', sock3, '--state', state3], sock3);
      expect(await wasmvsadm(['-S', '-n'], env3)).toEqual(before);
      expect((await wasmvsadm(['-L', '--timeout'], env3)).out).toBe('Timeout (tcp tcpfin udp): 10 20 30\n');
    } finally {
      d3.proc.kill('SIGTERM');
      await d3.exited;
    }
  });

  it('a -R of 10,000+ records is journaled as --packed lines; they replay after kill -9', async () => {
    const sock4 = join(dir, 'fourth.sock');
    const state4 = join(dir, 'fourth.rules');
    const lines: string[] = [];
    for (let s = 0; s < 2100; s++) {
      const v = `198.18.${s >> 8}.${s & 255}:80`;
      lines.push(`-A -t ${v} -s rr`);
      for (let d = 1; d <= 4; d++) lines.push(`-a -t ${v} -r 198.19.${d}.${s & 255}:8080 -m -w ${d}`);
    }
    let d4 = await startDaemon(['proxy', '--socket', sock4, '--state', state4], sock4);
    try {
      const env4 = { WASMVS_SOCKET: sock4 };
      expect(await wasmvsadm(['-R'], env4, lines.join('\n') + '\n')).toEqual({ code: 0, out: '', err: '' });
      const file = readFileSync(state4, 'utf8');
      expect(file).toMatch(/^--packed [A-Za-z0-9+/]+=*\n$/);
      // The data path logs a bulk change, not the packed line.
      expect(d4.log()).not.toContain('--packed');
      const before = await wasmvsadm(['-S', '-n'], env4);
      expect(before.out.split('\n').length).toBe(lines.length + 1);
      d4.proc.kill('SIGKILL');
      await d4.exited;
      d4 = await startDaemon(['proxy', '--socket', sock4, '--state', state4], sock4);
      expect(await wasmvsadm(['-S', '-n'], env4)).toEqual(before);
      // Started from it, the daemon rewrote the file as rules a person reads.
      const rewritten = readFileSync(state4, 'utf8');
      expect(rewritten).not.toContain('--packed');
      expect(rewritten.split('\n').length).toBe(lines.length + 1);
    } finally {
      d4.proc.kill('SIGTERM');
      await d4.exited;
    }
  });

  it('SIGTERM: clean exit 0, socket removed', async () => {
    daemon!.proc.kill('SIGTERM');
    expect(await daemon!.exited).toBe(0);
    daemon = null;
    expect((await wasmvsadm(['-L'], env())).code).toBe(2);
  });
});
