// Chaos: the state file's disk fills up under a stream of `wasmvsadm -a`
// (eight at a time, as several operators or scripts would), then space comes
// back and the daemon is SIGKILLed and restarted. What may be lost: nothing
// acknowledged; a refused command is refused with the reason and never comes
// back. The state file sits on a small tmpfs mounted here (root only).
import { describe, it, expect, afterAll } from 'vitest';
import { mkdirSync, writeFileSync, rmSync, statfsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { lab, requireBuild, type Lab } from '../hosts/proxy/harness.js';
import type { Run } from '../daemon/daemon.js';
import { tmpfsProblem, requireOrSkip } from './kit.js';

const skip = requireOrSkip('chaos disk-full suite', tmpfsProblem());

// Long lines (~95 bytes in the journal) so the disk fills in a few dozen commands; 2001:2::/48 only.
const VIP = '[2001:2:0:1111:2222:3333:4444:5555]:80';
const rip = (i: number) => `[2001:2:0:aaaa:bbbb:cccc:dddd:${(0xe000 + i).toString(16)}]:8080`;
const ENOSPC = 'wasmvsd: state file write failed: ENOSPC; command not applied\n';

/** The real servers of the -S output, by address. */
function servers(out: string): Set<string> {
  const got = new Set<string>();
  for (const line of out.split('\n')) {
    const m = / -r (\S+)/.exec(line);
    if (m) got.add(m[1]);
  }
  return got;
}

describe.skipIf(skip)('chaos: the state file\'s disk fills up', () => {
  let l: Lab;
  let disk = '';
  let mounted = false;
  afterAll(async () => {
    const d = l?.daemon;
    if (d) { d.proc.kill('SIGKILL'); await d.exited; }
    // A daemon that still held the state file open would make umount fail: fall back to a lazy one.
    if (mounted) {
      try { execFileSync('umount', [disk], { stdio: 'pipe' }); } catch { execFileSync('umount', ['-l', disk], { stdio: 'pipe' }); }
    }
    l?.cleanup();
  });

  it('lost: nothing acknowledged; every -a refused with ENOSPC is absent after space returns and a kill -9', async () => {
    requireBuild();
    l = lab('wasmvs-chaos-disk-');
    disk = join(l.dir, 'disk');
    mkdirSync(disk);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', disk]);
    mounted = true;
    l.state = join(disk, 'state.rules');
    await l.start();
    expect((await l.adm(['-A', '-t', VIP, '-s', 'wlc'])).code).toBe(0);
    // Fill every free page: what is left is the rest of the state file's last page (about 40 lines).
    const fs = statfsSync(disk);
    writeFileSync(join(disk, 'filler'), Buffer.alloc(fs.bavail * fs.bsize));

    const acked: number[] = [];
    const refused: number[] = [];
    const other: Run[] = [];
    let next = 0;
    // Groups of 8 concurrent commands until a group is refused, then one more group; at most 40 groups.
    for (let group = 0, refusedGroups = 0; group < 40 && refusedGroups < 2; group++) {
      const ids = Array.from({ length: 8 }, () => next++);
      const runs = await Promise.all(ids.map((i) => l.adm(['-a', '-t', VIP, '-r', rip(i), '-m', '-w', '1'])));
      runs.forEach((r, k) => {
        if (r.code === 0 && r.err === '') acked.push(ids[k]);
        else if (r.code === 255 && r.err === ENOSPC) refused.push(ids[k]);
        else other.push(r);
      });
      if (runs.some((r) => r.code !== 0)) refusedGroups++;
    }
    console.log(`chaos disk-full: ${next} -a in ${next / 8} groups of 8`);
    expect(other).toEqual([]);
    expect(acked.length).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);
    // Deletes on the full disk (their lines are shorter, so the first may still fit): until one is refused, and that server stays.
    const deleted: number[] = [];
    let keptByRefusal = -1;
    for (const i of acked.slice(0, 10)) {
      const r = await l.adm(['-d', '-t', VIP, '-r', rip(i)]);
      if (r.code === 0 && r.err === '') { deleted.push(i); continue; }
      expect(r).toEqual({ code: 255, out: '', err: ENOSPC });
      keptByRefusal = i;
      break;
    }
    expect(keptByRefusal).toBeGreaterThanOrEqual(0);
    acked.splice(0, deleted.length);
    expect(l.daemon!.proc.exitCode).toBeNull();
    const live = servers((await l.adm('-S -n')).out);

    // Space comes back: the next command is accepted.
    rmSync(join(disk, 'filler'));
    expect(await l.adm(['-a', '-t', VIP, '-r', rip(next), '-m', '-w', '1'])).toEqual({ code: 0, out: '', err: '' });
    acked.push(next);
    live.add(rip(next));
    const before = (await l.adm('-S -n')).out;
    expect(servers(before)).toEqual(live);

    l.daemon!.proc.kill('SIGKILL');
    await l.daemon!.exited;
    l.daemon = null;
    await l.start();
    const after = (await l.adm('-S -n')).out;
    const back = servers(after);
    const lost = acked.filter((i) => !back.has(rip(i)));
    const ghosts = [...refused, ...deleted].filter((i) => back.has(rip(i)));
    console.log(`chaos disk-full: ${acked.length} -a acknowledged, ${refused.length} refused with ENOSPC, ${deleted.length} -d acknowledged before one was refused; ` +
      `after kill -9: ${lost.length} acknowledged lost, ${ghosts.length} refused present`);
    expect(lost).toEqual([]);
    expect(ghosts).toEqual([]);
    expect(back.size).toBe(acked.length);
    expect(after).toBe(before);
  });
});
