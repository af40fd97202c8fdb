#!/usr/bin/env bash
# Memory per idle proxied TCP connection, side by side, inside a throw-away network namespace:
#   unshare -n bash bench/proxy/idle.sh [CONNECTIONS]      (ROUNDS=3, median reported)
# For HAProxy `mode tcp` (nbthread 1), the naive Node pipe proxy (shared/baselines/node_proxy.mjs),
# wasmvsd proxy on the JS path (--splice off) and on the native path (--splice on: handed to the
# pump at accept) and on the native engine (--engine native: the addon's thread owns both sockets
# from the accept on): CONNECTIONS client connections are opened through each proxy to one echo backend,
# each proves its path end to end (one byte echoed), then all sit idle; the proxy's resident set
# (VmRSS, all threads) is read before and after, settled for 2 s. Per connection = the difference ÷
# CONNECTIONS. Kernel socket memory is the same for every proxy and not counted. Needs haproxy,
# `npm run build` (and `npm run build:native` for the native column). Writes bench/out/REPORT-proxy-idle.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-2000}
ROUNDS=${ROUNDS:-3}
. bench/proxy/common.sh
proxy_bench_setup idle dist/daemon/wasmvsd.js haproxy
ulimit -n "$(ulimit -Hn)"

# The echo backend, and a client that opens N connections, checks each with one echoed byte, holds them
# until told (SIGTERM), and prints "ready" once all are through.
cat > "$T/echo.mjs" <<'JS'
import { createServer } from 'node:net';
createServer((s) => { s.on('error', () => {}); s.pipe(s); }).listen(9000, '127.0.0.1');
JS
cat > "$T/hold.mjs" <<'JS'
import { connect } from 'node:net';
const [port, n] = process.argv.slice(2).map(Number);
const socks = [];
let ok = 0;
const deadline = setTimeout(() => { console.error(`hold: only ${ok}/${n} through port ${port}`); process.exit(1); }, 60_000);
function one(i) {
  if (i >= n) return;
  const s = connect(port, '127.0.0.1');
  socks.push(s);
  s.on('error', (e) => { console.error(`hold: ${e.message}`); process.exit(1); });
  s.once('connect', () => s.write('x'));
  s.once('data', () => { if (++ok === n) { clearTimeout(deadline); console.log('ready'); } one(i + 64); });
}
for (let i = 0; i < 64; i++) one(i);
process.on('SIGTERM', () => { for (const s of socks) s.destroy(); process.exit(0); });
JS
node "$T/echo.mjs" & PIDS+=($!)

TIMEOUT=10m haproxy_cfg 1 9001:9000 > "$T/haproxy.cfg"
declare -A PID
# Fresh proxies every round: a heap that already grew once would hide the next round's growth.
start() {
  haproxy -f "$T/haproxy.cfg" -q & PIDS+=($!); PID[haproxy]=$!
  node "$NODE_PROXY" 9002 9000 & PIDS+=($!); PID[node]=$!
  rm -f "$T"/a.* "$T"/b.* "$T"/c.*
  node bin/wasmvsd.js proxy --engine js --splice off --socket "$T/a.sock" --state "$T/a.state" --config "$T/rules9003" 2>"$T/a.log" & PIDS+=($!); PID[wasmvs]=$!
  node bin/wasmvsd.js proxy --engine js --splice on --socket "$T/b.sock" --state "$T/b.state" --config "$T/rules9004" 2>"$T/b.log" & PIDS+=($!); PID[wasmvs-splice]=$!
  node bin/wasmvsd.js proxy --engine native --socket "$T/c.sock" --state "$T/c.state" --config "$T/rules9005" 2>"$T/c.log" & PIDS+=($!); PID[wasmvs-native]=$!
  for i in $(seq 100); do grep -q 'control socket' "$T/b.log" && grep -q 'control socket' "$T/a.log" && grep -q 'control socket' "$T/c.log" && break; sleep 0.1; done
  grep -q 'kernel to kernel' "$T/b.log" || { echo 'bench/proxy/idle: wasmvsd --splice on did not start (npm run build:native?):'; cat "$T/b.log"; exit 2; }
}
stop() { for n in haproxy node wasmvs wasmvs-splice wasmvs-native; do kill "${PID[$n]}" 2>/dev/null || true; wait "${PID[$n]}" 2>/dev/null || true; done; }
for p in 9003 9004 9005; do printf -- '-A -t 127.0.0.1:%s -s wlc\n-a -t 127.0.0.1:%s -r 127.0.0.1:9000 -m\n' $p $p > "$T/rules$p"; done

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }   # KiB
declare -A PER
for r in $(seq "$ROUNDS"); do
  start
  for name in haproxy:9001 node:9002 wasmvs:9003 wasmvs-splice:9004 wasmvs-native:9005; do
    IFS=: read -r n port <<< "$name"
    sleep 2; before=$(rss "${PID[$n]}")
    node "$T/hold.mjs" "$port" "$N" > "$T/hold.out" & hp=$!
    for i in $(seq 600); do grep -q ready "$T/hold.out" && break; kill -0 $hp 2>/dev/null || break; sleep 0.1; done
    grep -q ready "$T/hold.out" || { echo "bench/proxy/idle: $n did not carry $N connections"; exit 1; }
    sleep 2; after=$(rss "${PID[$n]}")
    kill $hp; wait $hp 2>/dev/null || true
    per=$(node -e "console.log(((${after}-${before})*1024/${N}/1024).toFixed(1))")
    PER[$n]="${PER[$n]:-} $per"
    echo "round $r $n: RSS ${before} → ${after} KiB, ${per} KiB per idle connection" >&2
  done
  stop
done
median() { node -e "const v=process.argv.slice(1).map(Number).sort((a,b)=>a-b);console.log(v[(v.length-1)>>1])" -- $1; }
spread() { node -e "const v=process.argv.slice(1).map(Number).sort((a,b)=>a-b);console.log(v[0]+'–'+v[v.length-1])" -- $1; }
mkdir -p bench/out
{
  echo "# Memory per idle proxied TCP connection ($(date -u +%Y-%m-%dT%H:%MZ), ${N} connections, median of ${ROUNDS} rounds)"
  echo
  echo "Machine: $(nproc) vCPU, $(node --version), $(haproxy -v | head -1 | cut -d' ' -f1-3). Growth of the proxy's resident set"
  echo "(VmRSS) with ${N} idle connections open through it, each checked end to end first; kernel socket buffers not counted (the same for all)."
  echo
  echo "| proxy | KiB per idle connection | (rounds' range) | vs HAProxy |"
  echo "|---|---:|---:|---:|"
  h=$(median "${PER[haproxy]}")
  for n in haproxy node wasmvs wasmvs-splice wasmvs-native; do
    m=$(median "${PER[$n]}")
    echo "| $n | $m | $(spread "${PER[$n]}") | $(node -e "console.log((${m}/${h}).toFixed(2))")× |"
  done
} > bench/out/REPORT-proxy-idle.md
cat bench/out/REPORT-proxy-idle.md
