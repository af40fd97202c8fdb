// Short TCP connections under load for the reconfiguration suite (run inside
// the namespaces); every wait is bounded, one line per event.
//   servers ADDR PORT[,PORT...]        per connection "<address>:<port>\n" (where it reached), then the
//                                      server closes; "ready" once every port listens
//   load VIP PORT TOTAL INFLIGHT       at least TOTAL connections, INFLIGHT at a time, each read to its
//                                      end (5 s at most), and on until an "end N" line on stdin, then N
//                                      more (ten times TOTAL at most); "done N" after every 250, then one
//                                      JSON line: {total, ok, failed, timeouts, errors: {code: n},
//                                      served: {"addr:port": n}}; stdin closed counts as "end 0"
//   reuse VIP PORT LOCALPORT           "ready", then per "go" line on stdin one connection from LOCALPORT,
//                                      read to its end (5 s at most): "served <addr:port> <ms>",
//                                      "error <code>" or "timeout"
//   reuse-rst VIP PORT LOCALPORT       the same, but the client resets each connection (RST, no FIN) once
//                                      it has the server's line
import net from 'node:net';

const [mode, addr, portText, a3, a4] = process.argv.slice(2);
setTimeout(() => { console.log('timeout'); process.exit(3); }, 120_000).unref();

/**
 * One connection read to its end (5 s at most): done('ok', "<addr:port>"), done('timeout') or done('error', code).
 * reset: the client ends it with a RST as soon as it has the server's line.
 */
function once(options, done, reset = false) {
  const c = net.connect(options);
  let got = '', finished = false;
  const end = (how, what) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    if (reset && how === 'ok') c.resetAndDestroy();
    else c.destroy();
    done(how, what);
  };
  const timer = setTimeout(() => end('timeout'), 5000);
  c.on('data', (d) => {
    got += d;
    if (reset && got.endsWith('\n')) end('ok', got.trim());
  });
  c.on('end', () => (got.endsWith('\n') ? end('ok', got.trim()) : end('error', 'short')));
  c.on('error', (e) => end('error', e.code ?? e.message));
}

if (mode === 'servers') {
  const ports = portText.split(',').map(Number);
  let up = 0;
  for (const port of ports) {
    net.createServer((c) => {
      c.on('error', () => {});
      c.end(`${c.localAddress}:${c.localPort}\n`);
    }).listen(port, addr, () => { if (++up === ports.length) console.log('ready'); });
  }
} else if (mode === 'load') {
  // The test ends the load once its last change is made (stdin "end N"): a machine slow enough to have
  // the load finish before that change would otherwise leave the change with nothing to carry.
  const port = Number(portText), min = Number(a3), inflight = Number(a4), cap = 10 * min;
  const r = { total: 0, ok: 0, failed: 0, timeouts: 0, errors: {}, served: {} };
  let started = 0, ended = 0, stopAt = cap, told = false, reported = false; // stopAt: cap until the test says "end"
  const finish = () => {
    if (reported || ended !== started || started < stopAt) return;
    reported = true;
    r.total = started;
    console.log(JSON.stringify(r));
  };
  const one = () => {
    started++;
    once({ port, host: addr }, (how, what) => {
      if (how === 'ok') {
        r.ok++;
        r.served[what] = (r.served[what] ?? 0) + 1;
      } else if (how === 'timeout') r.timeouts++;
      else {
        r.failed++;
        r.errors[what] = (r.errors[what] ?? 0) + 1;
      }
      if (++ended % 250 === 0) console.log(`done ${ended}`);
      if (started < stopAt) one();
      else finish();
    });
  };
  let buf = '';
  const end = (more) => {
    if (told) return;
    told = true;
    stopAt = Math.max(min, Math.min(cap, started + more));
    finish();
  };
  process.stdin.on('data', (d) => {
    buf += d;
    const m = /^end (\d+)$/m.exec(buf);
    if (m) end(Number(m[1]));
  });
  process.stdin.on('end', () => end(0));
  for (let i = 0; i < Math.min(inflight, cap); i++) one();
} else if (mode === 'reuse' || mode === 'reuse-rst') {
  // The server closes first (or this side resets), so this side leaves no TIME_WAIT and the next "go" binds the same port.
  const port = Number(portText), local = Number(a3);
  const go = () => {
    const t0 = Date.now();
    once({ port, host: addr, localPort: local }, (how, what) =>
      console.log(how === 'ok' ? `served ${what} ${Date.now() - t0}` : how === 'timeout' ? 'timeout' : `error ${what}`), mode === 'reuse-rst');
  };
  let buf = '';
  process.stdin.on('data', (d) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      buf = buf.slice(i + 1);
      go();
    }
  });
  console.log('ready');
}
