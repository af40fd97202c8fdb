#!/usr/bin/env bash
# Side-by-side proxy benchmark, inside a throw-away network namespace:
#   unshare -n bash bench/proxy/run.sh [SECONDS]      (ROUNDS=3 interleaved rounds, median reported)
# Bulk TCP throughput (iperf3, 1 stream) and short request/close connections
# per second with latency percentiles (wrk, Connection: close) for: direct,
# HAProxy `mode tcp` (nbthread 1), a naive Node net+pipe proxy
# (shared/baselines/node_proxy.mjs) and wasmvsd proxy (release core) twice:
# the JS path (--splice off), the native splice path (--splice on) and the
# native engine (--engine native: the addon's thread owns every TCP socket,
# copy then splice past 64 KiB) — the last two need `npm run build:native` —, same backends, same load generator, one run. Needs: iperf3, wrk, haproxy
# (Debian packages), `npm run build`. Writes bench/out/REPORT-proxy.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-5}
. bench/proxy/common.sh
proxy_bench_setup run dist/daemon/wasmvsd.js iperf3 wrk haproxy

# Backends: iperf3 (bulk) and a tiny HTTP server (request/close).
iperf3 -s -p 5201 >/dev/null 2>&1 & PIDS+=($!)
node -e "require('http').createServer((q,r)=>r.end('ok\n')).listen(8000,'127.0.0.1')" & PIDS+=($!)

# Proxies: bulk on 52xx, HTTP on 80xx.  1 = HAProxy, 2 = node pipe, 3 = wasmvs (JS path), 4 = wasmvs --splice on, 5 = wasmvs --engine native.
haproxy_cfg 1 5211:5201 8011:8000 > "$T/haproxy.cfg"
declare -A BULKPID
haproxy -f "$T/haproxy.cfg" -q & PIDS+=($!); BULKPID[haproxy]=$!
node "$NODE_PROXY" 5212 5201 & PIDS+=($!); BULKPID[node]=$!
node "$NODE_PROXY" 8012 8000 & PIDS+=($!)
printf -- '-A -t 127.0.0.1:5213 -s wlc\n-a -t 127.0.0.1:5213 -r 127.0.0.1:5201 -m\n-A -t 127.0.0.1:8013 -s wlc\n-a -t 127.0.0.1:8013 -r 127.0.0.1:8000 -m\n' > "$T/rules"
node bin/wasmvsd.js proxy --engine js --splice off --socket "$T/s.sock" --state "$T/state" --config "$T/rules" 2>"$T/wasmvsd.log" & PIDS+=($!); BULKPID[wasmvs]=$!
sed 's/521[3]/5214/; s/801[3]/8014/' "$T/rules" > "$T/rules-splice"
node bin/wasmvsd.js proxy --engine js --splice on --socket "$T/s2.sock" --state "$T/state2" --config "$T/rules-splice" 2>"$T/wasmvsd-splice.log" & PIDS+=($!); BULKPID[wasmvs-splice]=$!
sed 's/521[3]/5215/; s/801[3]/8015/' "$T/rules" > "$T/rules-native"
node bin/wasmvsd.js proxy --engine native --socket "$T/s3.sock" --state "$T/state3" --config "$T/rules-native" 2>"$T/wasmvsd-native.log" & PIDS+=($!); BULKPID[wasmvs-native]=$!
sleep 1.5
for i in $(seq 100); do grep -q 'control socket' "$T/wasmvsd-splice.log" && break; sleep 0.1; done
grep -q 'kernel to kernel' "$T/wasmvsd-splice.log" || { echo 'bench/proxy: wasmvsd --splice on did not start (npm run build:native?):'; cat "$T/wasmvsd-splice.log"; exit 2; }
for i in $(seq 100); do grep -q 'listening' "$T/wasmvsd-native.log" && break; sleep 0.1; done
grep -q 'engine: native' "$T/wasmvsd-native.log" || { echo 'bench/proxy: wasmvsd --engine native did not start (npm run build:native?):'; cat "$T/wasmvsd-native.log"; exit 2; }

# CPU seconds (user+sys, all threads) a process has used so far; 0 without a pid (direct).
cpu() { if [ -n "$1" ]; then awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($14+$15)/t}' "/proc/$1/stat"; else echo 0; fi; }
# Gbit/s, and the proxy's CPU seconds per GB moved (a figure the shared VM's noise moves less than throughput).
bulk() {
  local a b
  a=$(cpu "$2"); iperf3 -c 127.0.0.1 -p "$1" -t "$SECS" -J > "$T/iperf.json"; b=$(cpu "$2")
  node -e "const j=JSON.parse(require('fs').readFileSync(process.argv[1],'utf8'));const r=j.end?.sum_received;console.log(r ? (r.bits_per_second/1e9).toFixed(2)+' '+(process.argv[3]==='x'?'-':((process.argv[2])/(r.bytes/1e9)).toFixed(3)) : 'error:'+j.error+' -')" "$T/iperf.json" "$(node -e "console.log((${b}-${a}).toFixed(2))")" "${2:-x}"
}
# wrk: requests/s and p99 latency (ms) with a new connection per request.
cps() {
  wrk -t1 -c32 -d"${SECS}s" --latency -H 'Connection: close' "http://127.0.0.1:$1/" > "$T/wrk.$1"
  local rps p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$T/wrk.$1")
  p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v=v*1000}; print v}' "$T/wrk.$1")
  echo "$rps $p99"
}

# Rounds interleave the paths so drifts of the shared VM hit all of them; the median is reported.
ROUNDS=${ROUNDS:-3}
declare -A GB RP PN CG
for r in $(seq "$ROUNDS"); do
  for name in direct:5201:8000 haproxy:5211:8011 node:5212:8012 wasmvs:5213:8013 wasmvs-splice:5214:8014 wasmvs-native:5215:8015; do
    IFS=: read -r n b h <<< "$name"
    read -r g c <<< "$(bulk "$b" "${BULKPID[$n]:-}")"; read -r q p <<< "$(cps "$h")"
    GB[$n]="${GB[$n]:-} $g"; RP[$n]="${RP[$n]:-} $q"; PN[$n]="${PN[$n]:-} $p"; CG[$n]="${CG[$n]:-} $c"
    echo "round $r $n: $g Gbit/s ($c CPU s/GB), $q conn/s, p99 $p ms" >&2
  done
done
median() { node -e "const v=process.argv.slice(1).map(Number).sort((a,b)=>a-b);console.log(v[(v.length-1)>>1])" $1; }
# The rounds' range, so the spread of the shared VM is visible beside each median.
spread() { node -e "const v=process.argv.slice(1).map(Number).sort((a,b)=>a-b);console.log(v[0]+'–'+v[v.length-1])" $1; }
declare -A GBPS RPS P99 GS RS CPG
for n in direct haproxy node wasmvs wasmvs-splice wasmvs-native; do
  GBPS[$n]=$(median "${GB[$n]}"); RPS[$n]=$(median "${RP[$n]}"); P99[$n]=$(median "${PN[$n]}")
  if [ "$n" = direct ]; then CPG[$n]=-; else CPG[$n]=$(median "${CG[$n]}"); fi
  GS[$n]=$(spread "${GB[$n]}"); RS[$n]=$(spread "${RP[$n]}")
done

ratio() { node -e "console.log((Number(process.argv[1])/Number(process.argv[2])).toFixed(2))" "$1" "$2"; }
mkdir -p bench/out
{
  echo "# wasmvsd proxy — side by side ($(date -u +%Y-%m-%dT%H:%MZ), ${SECS} s per measurement, median of ${ROUNDS} interleaved rounds)"
  echo
  echo "Machine: $(nproc) vCPU, $(node --version), $(haproxy -v | head -1 | cut -d' ' -f1-3), iperf3 1 stream, wrk -t1 -c32 Connection: close."
  echo "Everything (load generator, proxies, backends) shares the same CPUs; one run, noisy VM."
  echo
  echo "| path | bulk Gbit/s | (rounds' range) | proxy CPU s per GB (bulk) | conn/s (request + close) | (rounds' range) | p99 latency ms |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for n in direct haproxy node wasmvs wasmvs-splice wasmvs-native; do echo "| $n | ${GBPS[$n]} | ${GS[$n]} | ${CPG[$n]} | ${RPS[$n]} | ${RS[$n]} | ${P99[$n]} |"; done
  echo
  echo "| target | measured |"
  echo "|---|---:|"
  echo "| bulk (pure JS path) ≥ 1.0× naive Node pipe | $(ratio "${GBPS[wasmvs]}" "${GBPS[node]}")× |"
  echo "| bulk (pure JS path) ≥ 0.9× HAProxy | $(ratio "${GBPS[wasmvs]}" "${GBPS[haproxy]}")× |"
  echo "| bulk (native splice path) ≥ 1.2× HAProxy | $(ratio "${GBPS[wasmvs-splice]}" "${GBPS[haproxy]}")× |"
  echo "| bulk (native splice path) vs naive Node pipe | $(ratio "${GBPS[wasmvs-splice]}" "${GBPS[node]}")× |"
  echo "| conn/s, one worker ≥ 1.0× naive Node proxy | $(ratio "${RPS[wasmvs]}" "${RPS[node]}")× |"
  echo "| conn/s, one worker vs HAProxy nbthread 1 | $(ratio "${RPS[wasmvs]}" "${RPS[haproxy]}")× |"
  echo "| conn/s, one worker, native splice path vs naive Node proxy | $(ratio "${RPS[wasmvs-splice]}" "${RPS[node]}")× |"
  echo "| bulk (native engine) ≥ 1.2× HAProxy | $(ratio "${GBPS[wasmvs-native]}" "${GBPS[haproxy]}")× |"
  echo "| conn/s, one thread, native engine ≥ 1.0× naive Node proxy | $(ratio "${RPS[wasmvs-native]}" "${RPS[node]}")× |"
  echo "| conn/s, one thread, native engine vs HAProxy nbthread 1 | $(ratio "${RPS[wasmvs-native]}" "${RPS[haproxy]}")× |"
  echo "| p99 ≤ HAProxy's | wasmvs ${P99[wasmvs]} ms, --splice on ${P99[wasmvs-splice]} ms, --engine native ${P99[wasmvs-native]} ms, HAProxy ${P99[haproxy]} ms, direct ${P99[direct]} ms |"
} > bench/out/REPORT-proxy.md
cat bench/out/REPORT-proxy.md
