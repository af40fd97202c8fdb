// Changes without drops through a real wasmvsd proxy: weight 0, deleting a
// real server (expire_nodest_conn off and on), SIGHUP reload of --config
// applying only the difference, and SIGTERM's graceful stop.
import { describe, it, expect, afterEach } from 'vitest';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { createSocket } from 'node:dgram';
import { lab, backend, freePort, ask, client, until, listening, requireBuild, type Lab, type Backend, type Client } from './harness.js';

/** Send a line on a held connection and wait for its echo (the connection still carries data). */
async function echoes(c: Client, text: string): Promise<boolean> {
  const before = c.data().length;
  c.sock.write(text);
  try {
    await until(() => c.data().slice(before).includes(text), `echo of ${text}`, 5000);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether nothing listens on the port (ECONNREFUSED). A reset after the handshake is not that: a
 * service without real servers takes the client and resets it, sometimes before 'connect' is emitted.
 */
function refused(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, host);
    s.once('connect', () => { s.destroy(); resolve(false); });
    s.once('error', (e) => resolve((e as NodeJS.ErrnoException).code === 'ECONNREFUSED'));
  });
}

/** Whether a UDP socket holds 127.0.0.1:port (binding it ourselves fails with EADDRINUSE). */
function udpBound(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', (e) => { s.close(); resolve((e as NodeJS.ErrnoException).code === 'EADDRINUSE'); });
    s.bind(port, '127.0.0.1', () => { s.close(); resolve(false); });
  });
}

/** The daemon's control socket, one JSON request line and its reply at a time: apply → each command's ok. */
async function control(path: string): Promise<{ apply(cmds: unknown[]): Promise<boolean[]>; close(): void }> {
  const sock = connect(path);
  await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
  let buf = '';
  let waiting: ((line: string) => void) | null = null;
  sock.setEncoding('utf8');
  sock.on('data', (d: string) => {
    buf += d;
    const nl = buf.indexOf('\n');
    if (nl >= 0 && waiting) { const line = buf.slice(0, nl); buf = buf.slice(nl + 1); const w = waiting; waiting = null; w(line); }
  });
  let id = 0;
  return {
    apply: (cmds) => new Promise((resolve) => {
      waiting = (line) => {
        const r = JSON.parse(line) as { results?: { ok: boolean }[] };
        resolve((r.results ?? []).map((x) => x.ok));
      };
      sock.write(JSON.stringify({ id: ++id, op: 'apply', cmds }) + '\n');
    }),
    close: () => sock.destroy(),
  };
}

describe('wasmvsd proxy: changes without drops', () => {
  let l: Lab;
  let backs: Backend[] = [];
  afterEach(async () => {
    await l?.stop();
    for (const b of backs) await b.kill();
    backs = [];
    l?.cleanup();
  });

  async function setup(sched: string, n: number, extraConfig = ''): Promise<{ vip: string; port: number; bs: Backend[] }> {
    requireBuild();
    l = lab();
    backs = await Promise.all(Array.from({ length: n }, (_, i) => backend(`b${i}`)));
    const port = await freePort();
    const vip = `127.0.0.1:${port}`;
    const rules = [`-A -t ${vip} -s ${sched}`, ...backs.map((b) => `-a -t ${vip} -r 127.0.0.1:${b.port} -m -w 1`)];
    await l.start(rules.join('\n') + '\n' + extraConfig);
    await listening(l, port);
    return { vip, port, bs: backs };
  }

  it('weight 0: no new connection reaches the real server, its open one keeps transferring', async () => {
    const { vip, port, bs } = await setup('rr', 2);
    const held = await client(port);
    const target = bs.find((b) => b.name === held.name)!;
    expect((await l.adm(`-e -t ${vip} -r 127.0.0.1:${target.port} -m -w 0`)).code).toBe(0);
    for (let i = 0; i < 6; i++) {
      const c = await client(port);
      expect(c.name).not.toBe(target.name);
      c.sock.destroy();
    }
    expect(await echoes(held, 'still-here\n')).toBe(true);
    expect((await l.adm('-L -n')).out).toContain(`127.0.0.1:${target.port}              Masq    0      1`);
    held.sock.destroy();
  });

  it('deleting a real server keeps its open connection (expire_nodest_conn=0)', async () => {
    const { vip, port, bs } = await setup('rr', 2);
    const held = await client(port);
    const target = bs.find((b) => b.name === held.name)!;
    expect((await l.adm(`-d -t ${vip} -r 127.0.0.1:${target.port}`)).code).toBe(0);
    expect(await echoes(held, 'after-delete\n')).toBe(true);
    for (let i = 0; i < 3; i++) expect(await ask(port)).not.toBe(target.name);
    held.sock.destroy();
  });

  it('-E and -D of the service: open connections go on; after -D the VIP refuses new ones', async () => {
    const { vip, port } = await setup('rr', 2);
    const held = await client(port);
    expect((await l.adm(`-E -t ${vip} -s wlc`)).code).toBe(0);
    expect(await echoes(held, 'after-edit\n')).toBe(true);
    expect(await ask(port)).toMatch(/^b[01]$/);
    expect((await l.adm(`-D -t ${vip}`)).code).toBe(0);
    await until(() => refused(port), 'listener closed after -D');
    expect(await echoes(held, 'after-service-delete\n')).toBe(true);
    held.sock.destroy();
  });

  it('-A is answered once the service listens and -D once it no longer does, as ipvsadm returns once the kernel has it', async () => {
    const { port } = await setup('rr', 1);
    const port2 = await freePort();
    const svc = { protocol: 'tcp', address: '127.0.0.1', port: port2 };
    // One control connection, the next step taken the moment a reply arrives (no wasmvsadm process in between).
    const ctl = await control(l.sock);
    try {
      for (let round = 0; round < 3; round++) {
        expect(await ctl.apply([{ op: 'add-service', svc, opts: { scheduler: 'rr' } }])).toEqual([true]);
        expect(await refused(port2), `round ${round}, after -A`).toBe(false);
        expect(await ctl.apply([{ op: 'delete-service', svc }])).toEqual([true]);
        expect(await refused(port2), `round ${round}, after -D`).toBe(true);
      }
      // IPv6 (the journal writes [::1]:PORT), and UDP: bound before the answer, gone after -D.
      const v6 = { protocol: 'tcp', address: '::1', port: port2 };
      expect(await ctl.apply([{ op: 'add-service', svc: v6, opts: {} }])).toEqual([true]);
      expect(await refused(port2, '::1')).toBe(false);
      expect(await ctl.apply([{ op: 'delete-service', svc: v6 }])).toEqual([true]);
      expect(await refused(port2, '::1')).toBe(true);
      const udp = { protocol: 'udp', address: '127.0.0.1', port: port2 };
      expect(await ctl.apply([{ op: 'add-service', svc: udp, opts: {} }])).toEqual([true]);
      expect(await udpBound(port2)).toBe(true);
      expect(await ctl.apply([{ op: 'delete-service', svc: udp }])).toEqual([true]);
      expect(await udpBound(port2)).toBe(false);
      // A real server's change is answered as before; the first service serves on.
      expect(await ctl.apply([{ op: 'edit-server', svc: { protocol: 'tcp', address: '127.0.0.1', port }, dest: { address: '127.0.0.1', port: backs[0].port, method: 'masq', weight: 2 } }])).toEqual([true]);
      expect(await ask(port)).toBe('b0');
      // -C: answered once every listener is closed.
      expect(await ctl.apply([{ op: 'flush' }])).toEqual([true]);
      expect(await refused(port)).toBe(true);
    } finally {
      ctl.close();
    }
  });

  it('expire_nodest_conn=1: deleting a real server cuts its connections', async () => {
    const { vip, port, bs } = await setup('rr', 2, '# wasmvs-proxy option expire_nodest_conn=1\n');
    const held = await client(port);
    const other = await client(port);
    const target = bs.find((b) => b.name === held.name)!;
    let closed = false;
    held.sock.on('close', () => { closed = true; });
    held.sock.on('error', () => {});
    expect((await l.adm(`-d -t ${vip} -r 127.0.0.1:${target.port}`)).code).toBe(0);
    await until(() => closed, 'connection to the deleted real server cut');
    expect(await echoes(other, 'untouched\n')).toBe(true);
    other.sock.destroy();
  });

  it('SIGHUP re-reads --config and applies only the difference', async () => {
    const { vip, port, bs } = await setup('rr', 2);
    const held = await client(port);
    const kept = bs.find((b) => b.name === held.name)!;
    const gone = bs.find((b) => b !== kept)!;
    const extra = await backend('new');
    backs.push(extra);
    writeFileSync(l.config, [`-A -t ${vip} -s rr`, `-a -t ${vip} -r 127.0.0.1:${kept.port} -m -w 1`,
      `-a -t ${vip} -r 127.0.0.1:${extra.port} -m -w 2`].join('\n') + '\n');
    l.daemon!.proc.kill('SIGHUP');
    await until(() => l.daemon!.log().includes('SIGHUP: configuration reloaded'), 'reload');
    const list = (await l.adm('-L -n')).out;
    expect(list).toContain(`127.0.0.1:${extra.port}              Masq    2      0`);
    expect(list).not.toContain(`127.0.0.1:${gone.port}`);
    // The untouched real server kept its entry and counters: ActiveConn 1 is the held connection.
    expect(list).toContain(`127.0.0.1:${kept.port}              Masq    1      1`);
    expect(await echoes(held, 'through-reload\n')).toBe(true);
    // One log line per change: the deleted and the added real server.
    expect(l.daemon!.log().match(/"msg":"config change"/g)?.length).toBe(2);
    expect(l.daemon!.log()).toContain(`"rule":"-a -t ${vip} -r 127.0.0.1:${extra.port} -m -w 2"`);
    held.sock.destroy();
  });

  it('wasmvsadm --drain: no new connections, the open one transfers, progress until drained, --cancel', async () => {
    const { vip, port, bs } = await setup('rr', 2);
    const held = await client(port);
    const target = bs.find((b) => b.name === held.name)!;
    const r = await l.adm(`--drain -t ${vip} -r 127.0.0.1:${target.port}`);
    expect(r).toEqual({ code: 0, err: '', out: `TCP 127.0.0.1:${port} -> 127.0.0.1:${target.port}: draining, 1 open (ActiveConn 1, InActConn 0)\n` });
    for (let i = 0; i < 4; i++) expect(await ask(port)).not.toBe(target.name);
    expect(await echoes(held, 'while-draining\n')).toBe(true);
    // Drain is a state, not a weight: -L still shows weight 1.
    expect((await l.adm('-L -n')).out).toContain(`127.0.0.1:${target.port}              Masq    1      1`);
    held.sock.end();
    await until(async () => (await l.adm('--drain')).out.includes(`127.0.0.1:${target.port}: drained, 0 open`), 'drained');
    expect((await l.adm(`--drain -t ${vip} -r 127.0.0.1:${target.port} --cancel`)).out).toContain('cancelled');
    const names = new Set<string>();
    for (let i = 0; i < 4; i++) names.add(await ask(port));
    expect(names.has(target.name)).toBe(true);
    expect((await l.adm(`--drain -t ${vip} -r 127.0.0.1:1`)).err).toBe('No such destination\n');
  });

  it('wasmvsadm --drain --deadline --wait: the deadline cuts what is left', async () => {
    const { vip, port, bs } = await setup('rr', 2);
    const held = await client(port);
    const target = bs.find((b) => b.name === held.name)!;
    let cut = false;
    held.sock.on('error', () => {});
    held.sock.on('close', () => { cut = true; });
    const r = await l.adm(`--drain -t ${vip} -r 127.0.0.1:${target.port} --deadline 1 --wait`);
    expect(r.code).toBe(0);
    expect(r.out).toContain('drained (deadline reached, the rest was reset)');
    await until(() => cut, 'held connection cut at the deadline');
  });

  it('SIGTERM: stops accepting, lets open connections finish, exits 0', async () => {
    const { port } = await setup('rr', 2);
    const held = await client(port);
    const d = l.daemon!;
    d.proc.kill('SIGTERM');
    await until(() => refused(port), 'listener closed');
    expect(await echoes(held, 'draining\n')).toBe(true);
    held.sock.end();
    expect(await d.exited).toBe(0);
    l.daemon = null;
  });
});
