// docs/many-directors.md's worked example as a user runs it: a real etcd, two
// proxies sharing it, a write through one seen on the other, the layout in
// etcd, --directors, an outage (write refused, configuration kept) and the
// recovery — run as written with `bash -e` from the repository root.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { claimed, ROOT } from './blocks.js';

const blocks = claimed('docs/many-directors.md', 'many-directors.test.ts').map((b) => b.body);

const have = (cmd: string, arg: string) => spawnSync(cmd, [arg], { stdio: 'ignore' }).status === 0;
const missing = !have('etcd', '--version') ? 'etcd-server is not installed' : !have('etcdctl', 'version') ? 'etcd-client is not installed' : null;
if (missing && process.env.CI === 'true') throw new Error(`docs/many-directors.md example: ${missing}`);

describe('docs/many-directors.md worked example', () => {
  it.skipIf(missing !== null)('runs as written and leaves no process behind', () => {
    expect(blocks).toHaveLength(1);
    const r = spawnSync('bash', ['-e', '-c', blocks[0]], { cwd: ROOT, encoding: 'utf8', timeout: 150_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const out = r.stdout;
    // Director two listed what was written through one, then etcd's keys.
    expect(out).toContain('-a -t 127.0.0.1:18080 -r 127.0.0.1:18082 -m -w 2\n/lb/config/services/tcp/127.0.0.1:18080\n-A -t 127.0.0.1:18080 -s mh\n');
    expect(out).toMatch(/configuration revision \d+, 2 directors alive\nDirector +Applied +Current/);
    expect(out).toMatch(/\none +\d+ +yes /);
    expect(out).toMatch(/\ntwo +\d+ +yes /);
    expect(out).toMatch(/-> 127\.0\.0\.1:18081 +removed +1 +0 +0 +33\.3% +0\.0% +33\.3%\n/);
    expect(out).toContain('33.3% of the hash table changes server');
    expect(r.stderr).toMatch(/etcd at 127\.0\.0\.1:12379 unreachable .*nothing was changed/);
    expect(out).toContain('refused (exit 255)');
    // The last listing: the deletion made after the outage reached director two.
    expect(out.endsWith('-A -t 127.0.0.1:18080 -s mh\n-a -t 127.0.0.1:18080 -r 127.0.0.1:18082 -m -w 2\n')).toBe(true);
    expect(spawnSync('pgrep', ['-f', 'etcd --name doc'], { encoding: 'utf8' }).stdout).toBe('');
  }, 180_000);
});
