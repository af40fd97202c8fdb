// The Node-only parts: name resolution, daemon arguments, default paths, and
// the import graphs of wasmvsadm and of wasmvsd before it starts (neither loads
// the core or a data path for --help, --version or a refused option).
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseServices, argResolver, hostNamesIn, listingNames } from '../../cli/resolve.js';
import { parseDaemonArgs } from '../../cli/wasmvsd.js';
import { defaultMemoryLimitMiB } from '../../daemon/wasmvsd.js';
import { socketPath, statePath } from '../../daemon/paths.js';
import { parseArgs } from '../../ipvsadm/parse.js';
import { service, dest } from '../ipvsadm/fixtures.js';

describe('name resolution', () => {
  it('parses /etc/services both ways, first name wins', () => {
    const db = parseServices('# c\nhttp\t80/tcp\twww # WorldWideWeb\nhttp 80/udp\ndomain 53/udp\nfoo 53/udp\n');
    expect(db.byPort.get('tcp/80')).toBe('http');
    expect(db.byPort.get('udp/53')).toBe('domain');
    expect(db.byName.get('tcp/www')).toBe(80);
    expect(db.byName.get('tcp/domain')).toBeUndefined();
  });

  it('host names in address options are looked up before parsing (localhost via /etc/hosts)', async () => {
    expect(hostNamesIn(['-A', '-t', 'localhost:http', '-r', '198.18.0.1:80', '-M', 'netmask.example', '-s', 'rr'])).toEqual(['localhost', 'netmask.example']);
    const r = await argResolver(['localhost'], 2000);
    expect(r.hostToAddr!('localhost')).toBe('127.0.0.1');
    const { parsed } = parseArgs(['-A', '-t', 'localhost:http'], r);
    expect(parsed).toMatchObject({ kind: 'apply', cmd: { op: 'add-service', svc: { protocol: 'tcp', address: '127.0.0.1', port: 80 } } });
  });

  it('listing names fall back to numbers within the deadline', async () => {
    const names = await listingNames([service({ address: '198.18.0.1', port: 80, dests: [dest('198.18.1.1', 53)] })], 300);
    // A name if the resolver knows one, else the number; never a hang or an empty string.
    expect(names.host(4, '198.18.0.1')).toMatch(/\S/);
    expect(names.host(4, '198.18.7.7')).toBe('198.18.7.7');
    expect(names.port(80, 'tcp')).toBe('http');
    expect(names.port(1, 'sctp')).toMatch(/^(1|\w.*)$/);
    expect(names.port(40000, 'tcp')).toBe('40000');
  });
});

describe('wasmvsd arguments and paths', () => {
  it('parses its options', () => {
    expect(parseDaemonArgs(['proxy', '--socket', '/s', '--state=/f', '--conn-tab-bits', '16'])).toMatchObject({ mode: 'proxy', socket: '/s', state: '/f', connTabBits: 16 });
    expect(parseDaemonArgs([])).toBe('a mode is required: proxy or gateway');
    expect(parseDaemonArgs(['gateway', '--conn-tab-bits', '21'])).toBe('invalid --conn-tab-bits 21 (8..20)');
    expect(parseDaemonArgs(['proxy', 'gateway'])).toBe('unexpected argument gateway');
    expect(parseDaemonArgs(['proxy', '--socket'])).toBe('--socket needs a value');
  });

  it('--memory-limit: the core\'s budget in MiB, by default a quarter of the machine capped at 4 GiB', () => {
    expect(parseDaemonArgs(['proxy', '--memory-limit', '512'])).toMatchObject({ memoryLimitMiB: 512 });
    expect(parseDaemonArgs(['proxy', '--memory-limit=4096'])).toBe('invalid --memory-limit 4096 (MiB, 16..4095)');
    expect(parseDaemonArgs(['proxy', '--memory-limit', 'lots'])).toBe('invalid --memory-limit lots (MiB, 16..4095)');
    expect(parseDaemonArgs(['proxy'])).not.toHaveProperty('memoryLimitMiB');
    expect(defaultMemoryLimitMiB(8 * 2 ** 30)).toBe(2048);
    expect(defaultMemoryLimitMiB(64 * 2 ** 30)).toBe(4095);
    expect(defaultMemoryLimitMiB(128 * 2 ** 20)).toBe(64);
  });

  it('socket and state defaults', () => {
    expect(socketPath('/x', { WASMVS_SOCKET: '/y' }, 1000)).toBe('/x');
    expect(socketPath(undefined, { WASMVS_SOCKET: '/y' }, 0)).toBe('/y');
    expect(socketPath(undefined, {}, 0)).toBe('/run/wasmvs/wasmvsd.sock');
    expect(socketPath(undefined, { XDG_RUNTIME_DIR: '/run/user/1000' }, 1000)).toBe('/run/user/1000/wasmvs/wasmvsd.sock');
    expect(statePath(undefined, {}, 0)).toBe('/var/lib/wasmvs/wasmvsd.rules');
    expect(statePath(undefined, { XDG_STATE_HOME: '/h/.st' }, 1000)).toBe('/h/.st/wasmvs/wasmvsd.rules');
  });
});

/** Every module a file loads at run time (type-only imports excluded), as paths from the repository root. */
function importGraph(entry: string): { files: string[]; specifiers: string[] } {
  const seen = new Set<string>();
  const specifiers = new Set<string>();
  const walk = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const src = readFileSync(file, 'utf8');
    for (const m of src.matchAll(/^(?:import|export)\s[^'"]*?from\s+'([^']+)'/gm)) {
      if (/^(?:import|export)\s+type\s/.test(m[0])) continue;
      specifiers.add(m[1]);
      if (m[1].startsWith('.')) walk(resolve(dirname(file), m[1].replace(/\.js$/, '.ts')));
    }
  };
  walk(fileURLToPath(new URL(`../../${entry}`, import.meta.url)));
  const root = fileURLToPath(new URL('../../', import.meta.url));
  return { files: [...seen].map((f) => relative(root, f)), specifiers: [...specifiers] };
}

describe('module boundaries', () => {
  it('the parser, formatters, runner and handler are pure (the playground loads them)', () => {
    for (const entry of ['ipvsadm/run.ts', 'daemon/local.ts', 'daemon/handler.ts']) {
      expect(importGraph(entry).specifiers.filter((s) => s.startsWith('node:'))).toEqual([]);
    }
  });

  it('wasmvsadm imports neither the core, the Director nor a data path', () => {
    const rel = importGraph('cli/wasmvsadm.ts').files;
    expect(rel).toContain('cli/client.ts');
    expect(rel.filter((f) => /^hosts\/|^sdk\/(director|core\/(core|load))|^native\//.test(f))).toEqual([]);
  });

  it('wasmvsd reads its options and answers --help without the core, the daemon or a host (only the hosts\' options.ts)', () => {
    const rel = importGraph('cli/wasmvsd.ts').files;
    expect(rel).toEqual(expect.arrayContaining(['daemon/options.ts', 'daemon/usage.ts', 'hosts/proxy/options.ts', 'hosts/gateway/options.ts']));
    expect(rel.filter((f) => /^hosts\/(?!(proxy|gateway)\/options\.ts$)|^sdk\/(director|core\/(core|load))|^native\/|^daemon\/(wasmvsd|handler|server)\.ts$/.test(f))).toEqual([]);
    // The daemon and the hosts come in by import() once the options are accepted.
    const src = readFileSync(fileURLToPath(new URL('../../cli/wasmvsd.ts', import.meta.url)), 'utf8');
    expect([...src.matchAll(/\bimport\('([^']+)'\)/g)].map((m) => m[1]).sort())
      .toEqual(['../daemon/wasmvsd.js', '../hosts/gateway/cleanup.js', '../hosts/gateway/datapath.js', '../hosts/proxy/datapath.js']);
  });
});
