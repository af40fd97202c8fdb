// The record of original sysctl values (no root, no kernel): durable round
// trip, removal after restoring, and a record of another namespace or with a
// path outside /proc/sys never written.
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SysctlRecordFile, restoreRecorded } from '../../../hosts/gateway/sysctl-record.js';

function withDir(f: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'wasmvs-sysrec-'));
  try { f(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
}

describe('sysctl record', () => {
  it('saves, restores in its own namespace and is removed', () => withDir((dir) => {
    const file = join(dir, 'wasmvsd.sysctl.json');
    const rec = new SysctlRecordFile(file, 'net:[1]');
    // With the iptables-nft tables the run may make (absent before it): handed back to be removed, never written.
    rec.save(new Map([['/proc/sys/net/ipv4/ip_forward', '0'], ['nft:ip raw', 'absent'], ['/proc/sys/net/ipv4/conf/all/rp_filter', '1'], ['nft:ip6 mangle', 'absent']]));
    expect(existsSync(`${file}.tmp`)).toBe(false);
    const written: string[] = [];
    const r = restoreRecorded(rec, (p, v) => void written.push(`${p}=${v}`), 'net:[1]');
    expect(r).toEqual({ restored: ['net.ipv4.ip_forward=0', 'net.ipv4.conf.all.rp_filter=1'], problems: [], tables: ['ip raw', 'ip6 mangle'] });
    expect(written).toEqual(['/proc/sys/net/ipv4/ip_forward=0', '/proc/sys/net/ipv4/conf/all/rp_filter=1']);
    expect(existsSync(file)).toBe(false);
    expect(restoreRecorded(rec, () => { throw new Error('nothing to write'); }, 'net:[1]')).toEqual({ restored: [], problems: [], tables: [] });
  }));

  it('another namespace\'s record is not written here and stays', () => withDir((dir) => {
    const file = join(dir, 'wasmvsd.sysctl.json');
    new SysctlRecordFile(file, 'net:[1]').save(new Map([['/proc/sys/net/ipv4/ip_forward', '0']]));
    const r = restoreRecorded(new SysctlRecordFile(file, 'net:[2]'), () => { throw new Error('must not write'); }, 'net:[2]');
    expect(r.restored).toEqual([]);
    expect(r.problems[0]).toMatch(/recorded in network namespace net:\[1\], not this one \(net:\[2\]\)/);
    expect(existsSync(file)).toBe(true);
  }));

  it('a path outside /proc/sys is ignored; an unreadable record is none', () => withDir((dir) => {
    const file = join(dir, 'r.json');
    writeFileSync(file, JSON.stringify({ netns: 'n', sysctl: { '/etc/passwd': 'x' } }));
    const r = restoreRecorded(new SysctlRecordFile(file, 'n'), () => { throw new Error('must not write'); }, 'n');
    expect(r.problems).toEqual([`${file}: /etc/passwd is not a sysctl; ignored`]);
    writeFileSync(file, '{"netns":');
    expect(new SysctlRecordFile(file, 'n').load()).toBeNull();
  }));
});
