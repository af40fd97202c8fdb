// The addon's sliced conntrack dump against the real kernel, in a namespace
// of the test's own: the request and the reads run on the addon's reader
// thread (a dump's syscalls walk the whole conntrack table), and what
// dumpNext hands back, parsed in order on the caller's thread, is every entry
// of the mark once, with its counters once in delta mode; the same entries
// read by their tuples (lookup) once each, mark-filtered; a dump begun again
// starts afresh; close() with a dump under way neither hangs nor crashes.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { missingNfqPrereq, inCI, ADDON } from '../hosts/gateway/prereq.js';
import { inNs, killChildren, sh, waitLine } from '../hosts/gateway/netns.js';
import { CT } from '../../hosts/gateway/ctfeed.js';
import { FAST_MARK_BASE, FAST_MARK_MASK } from '../../hosts/gateway/fastpath.js';

const missing = missingNfqPrereq();
if (missing && !inCI) console.warn(`\n*** SKIPPING conntrack dump suite: ${missing} ***\n`);
const CHILD = fileURLToPath(new URL('./ct-dump-child.mjs', import.meta.url));
const N = 3000;

describe.skipIf(missing !== null && !inCI)('conntrack sliced dump (ct_socket.cc) in a namespace', () => {
  const ns = `wcd${process.pid % 100000}`;
  beforeAll(() => {
    if (missing) throw new Error(`conntrack dump suite prerequisites missing in CI: ${missing}`);
    try { sh('ip', 'netns', 'del', ns); } catch { /* not there */ }
    sh('ip', 'netns', 'add', ns);
    sh('ip', '-n', ns, 'link', 'set', 'lo', 'up');
  });
  afterEach(killChildren);
  afterAll(() => {
    try { sh('ip', 'netns', 'del', ns); } catch { /* gone */ }
  });

  it('lists every entry of the mark once, in slices, counters once; restarts and close are clean', async () => {
    const child = inNs(ns, process.execPath, [CHILD, ADDON, String(N), String(FAST_MARK_BASE + 7), String(FAST_MARK_MASK),
      String(CT.SIZE), String(CT.OSPORT), String(CT.OPKTS)]);
    const r = JSON.parse(await waitLine(child, (l) => l.startsWith('{'), 60_000));
    // Every entry of the mark, each once (the 50 of another mark left out by the kernel's filter), and
    // every datagram in their counters (a source port the kernel picked twice is one entry with two).
    expect(r.entries).toBeGreaterThan(N * 0.9);
    expect(r.first).toMatchObject({ records: r.entries, ports: r.entries, packets: N, active: false });
    // Read a part at a time: slices of about 256 records (whole datagrams), never the dump in one.
    expect(r.first.largest).toBeLessThan(r.entries);
    expect(r.first.calls).toBeGreaterThanOrEqual(Math.ceil(r.entries / 512));
    // The same entries again in delta mode: listed, no packet handed over twice.
    expect(r.again).toMatchObject({ records: r.entries, ports: r.entries, packets: 0, active: false });
    expect(r.waited).toEqual({ records: r.entries, active: false });
    expect(r.restarted).toMatchObject({ records: r.entries, ports: r.entries, active: false });
    // Per-tuple reads (lookup): each asked-for entry once, its counters already handed over (packets 0);
    // a tuple with no entry gives nothing; the mark filter holds for entries asked for by tuple too.
    expect(r.lookup).toMatchObject({ asked: 600, records: 600, same: 600, packets: 0, missing: 0, otherMark: 0, otherOwn: 50, errors: 0 });
    expect(r.lookup.otherAsked).toBe(50);
    expect(r.lookup.refused).toMatch(/do not fit/);
    expect(r.lookup.counted).toBe(600 + 1 + 50 + 50);
    // Destroy events written into a target: as many as fit (a number back), each a destroy record of our mark;
    // all of them over the calls (unless the socket overran); a target not of bytes refused, one too small gets none.
    expect(r.events).toMatchObject({ first: 100, marked: 100, destroyed: 100, none: 0 });
    expect(r.events.badTarget).toMatch(/target must be a Uint8Array/);
    if (r.events.lost === 0) expect(r.events.total).toBe(r.entries);
    else expect(r.events.total).toBeGreaterThan(100);
    expect(r.afterClose).toBe(0); // nothing more, no error
    expect(r.beginAfterClose).toBe('conntrack socket closed');
  });
});
