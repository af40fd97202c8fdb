// Runs inside a test namespace (ct-dump.test.ts): makes N conntrack entries
// with our mark (UDP datagrams to the namespace's loopback from N source
// ports; an nft rule gives their entries the mark), then reads them through
// the addon's sliced dump (dumpBegin / dumpNext / dumpActive), whose socket
// calls a reader thread makes. Prints one JSON line and exits.
import dgram from 'node:dgram';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

const [addonPath, nStr, markStr, maskStr, recStr, sportAt, opktsAt] = process.argv.slice(2);
const N = Number(nStr), MARK = Number(markStr), MASK = Number(maskStr), REC = Number(recStr);
const SPORT = Number(sportAt), OPKTS = Number(opktsAt);
const { Conntrack } = createRequire(import.meta.url)(addonPath);
const hex = (v) => '0x' + (v >>> 0).toString(16);

// Per-entry packet and byte counters, as the gateway turns them on.
execFileSync('sysctl', ['-qw', 'net.netfilter.nf_conntrack_acct=1']);
execFileSync('nft', ['-f', '-'], { input: `table ip ctdumptest {
  chain out { type filter hook output priority mangle; policy accept; udp dport 9 ct mark set ${hex(MARK)}; }
}` });
// Some entries of another mark (a bit under the mask flipped), which the kernel's filter leaves out.
execFileSync('nft', ['add', 'rule', 'ip', 'ctdumptest', 'out', 'udp', 'dport', '10', 'ct', 'mark', 'set', hex(MARK ^ (MASK & -MASK))]);

// One datagram from each of `count` sockets; the source ports used (the kernel may pick one twice:
// then both datagrams are one entry's).
async function send(port, count) {
  const used = new Set();
  for (let i = 0; i < count; i += 100) {
    const socks = [];
    for (let k = i; k < Math.min(count, i + 100); k++) {
      const s = dgram.createSocket('udp4');
      socks.push(new Promise((resolve, reject) => s.send('x', port, '127.0.0.1', (e) => { used.add(s.address().port); s.close(); e ? reject(e) : resolve(); })));
    }
    await Promise.all(socks);
  }
  return used.size;
}
// Conntrack gives an entry destroy events only if a listener existed when the entry was made.
const evs = new Conntrack({ events: true });
const out = { entries: await send(9, N) };
await send(10, 50);

const ct = new Conntrack({ events: true });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A sliced dump polled as the gateway polls it: slices of `max`, a timer while nothing is ready. */
async function sliced(max, deltas) {
  ct.dumpBegin(MARK, MASK, deltas, false);
  const ports = new Set();
  let records = 0, packets = 0, calls = 0, largest = 0;
  const until = Date.now() + 10_000;
  while (ct.dumpActive() && Date.now() < until) {
    const b = ct.dumpNext(max);
    calls++;
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    for (let o = 0; o < b.length; o += REC) {
      ports.add(v.getUint16(o + SPORT, true));
      packets += v.getFloat64(o + OPKTS, true);
    }
    records += b.length / REC;
    largest = Math.max(largest, b.length / REC);
    if (b.length === 0) await sleep(1);
  }
  return { records, ports: ports.size, packets, calls, largest, active: ct.dumpActive() };
}

out.first = await sliced(256, true);
// The same entries again: the ledger hands over no packet twice.
out.again = await sliced(256, true);
// All at once: dumpNext(max, wait) blocks until the end.
ct.dumpBegin(MARK, MASK, false, false);
const whole = ct.dumpNext(1 << 20, true);
out.waited = { records: whole.length / REC, active: ct.dumpActive() };
// A dump begun again before its end starts afresh and lists everything.
ct.dumpBegin(MARK, MASK, false, false);
ct.dumpNext(1, true);
out.restarted = await sliced(100, false);
// Per-tuple reads (lookup, one GET each, no walk): the dump's own records asked for again.
{
  const n = Math.min(600, whole.length / REC);
  const recs = new Uint8Array(whole.subarray(0, n * REC));
  const want = new Set();
  const wv = new DataView(recs.buffer, recs.byteOffset, recs.byteLength);
  for (let o = 0; o < recs.length; o += REC) want.add(wv.getUint16(o + SPORT, true));
  const got = ct.lookup(recs, n, MARK, MASK);
  const gv = new DataView(got.buffer, got.byteOffset, got.byteLength);
  let same = 0, packets = 0;
  for (let o = 0; o < got.length; o += REC) {
    if (want.has(gv.getUint16(o + SPORT, true))) same++;
    packets += gv.getFloat64(o + OPKTS, true);
  }
  // A tuple no entry has (another client port): nothing, no error.
  const bogus = new Uint8Array(recs.subarray(0, REC));
  new DataView(bogus.buffer).setUint16(SPORT, 1, true);
  // Entries of the other mark, asked for by their own tuples: the filter leaves them out.
  const other = MARK ^ (MASK & -MASK);
  const theirs = ct.dump(other, MASK, false, false);
  let refused = 'no error';
  try { ct.lookup(recs, n + 1, MARK, MASK); } catch (e) { refused = e.message; }
  out.lookup = {
    asked: n, records: got.length / REC, same, packets, missing: ct.lookup(bogus, 1, MARK, MASK).length,
    otherMark: ct.lookup(theirs, theirs.length / REC, MARK, MASK).length / REC, otherAsked: theirs.length / REC,
    otherOwn: ct.lookup(theirs, theirs.length / REC, other, MASK).length / REC, refused, counted: ct.stats().lookups, errors: ct.stats().lookupErrors, errno: ct.stats().lookupErrno,
  };
}
// Destroy events straight into a caller's memory (the core's REGION_CT): the flush makes one per entry.
evs.flush(MARK, MASK);
{
  const target = new Uint8Array(100 * REC);
  const first = evs.events(MARK, MASK, 1000, false, target);
  const v = new DataView(target.buffer);
  let marked = 0, destroyed = 0;
  for (let o = 0; o < target.length; o += REC) {
    if (((v.getUint32(o + 4, true) & MASK) >>> 0) === ((MARK & MASK) >>> 0)) marked++;
    if (v.getUint8(o) === 3) destroyed++;
  }
  let rest = 0;
  for (let i = 0; i < 100; i++) {
    const n = evs.events(MARK, MASK, 100, false, target);
    rest += n;
    if (n < 100) break;
  }
  let badTarget;
  try { evs.events(MARK, MASK, 10, false, new Uint32Array(10)); badTarget = 'no error'; } catch (e) { badTarget = e.message; }
  const none = evs.events(MARK, MASK, 10, false, new Uint8Array(REC - 1));
  out.events = { first: typeof first === 'number' ? first : 'not a number', marked, destroyed, total: first + rest, lost: evs.stats().enobufs, badTarget, none };
}
evs.close();
// close() with a dump under way: no hang, and the socket is closed for later calls.
ct.dumpBegin(MARK, MASK, false, false);
ct.close();
try { out.afterClose = ct.dumpNext(10).length; } catch (e) { out.afterClose = e.message; }
try { ct.dumpBegin(MARK, MASK); out.beginAfterClose = 'no error'; } catch (e) { out.beginAfterClose = e.message; }
execFileSync('nft', ['delete', 'table', 'ip', 'ctdumptest']);
process.stdout.write(JSON.stringify(out) + '\n');
process.exit(0);
