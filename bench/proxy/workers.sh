#!/usr/bin/env bash
# Connections per second with proxy workers, inside a throw-away network namespace:
#   unshare -n bash bench/proxy/workers.sh [SECONDS]   (ROUNDS=3 interleaved rounds, each in a rotated order
#   of the paths (rotated, common.sh), median reported)
# Short request/close connections (wrk, Connection: close, WRK_THREADS=2 threads,
# WRK_CONNS=64 connections) through: direct, HAProxy `mode tcp` with nbthread 1
# and nbthread 2, the naive Node net+pipe proxy (shared/baselines/node_proxy.mjs),
# and wasmvsd proxy (release core, --splice off) with --workers 1 (one process)
# and --workers 2 (two worker processes, scheduling in the daemon), and with
# --engine native --workers 1 and 2 (one and two engine threads in one process,
# the addon owning every TCP socket), with scheduling in the main thread
# (native-1, native-2: --native-core off) and on each pump (native-1t, native-2t:
# --native-core on, the default with two pumps), with the p50
# and p99 latency and each proxy's CPU time per connection (all its threads and
# child processes; for --workers 2 also the daemon's own share). Same backend
# (a one-process Node HTTP server), same load generator, one run. Needs: wrk,
# haproxy, `npm run build`. Writes bench/out/REPORT-proxy-workers.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-5}
WT=${WRK_THREADS:-2}
WC=${WRK_CONNS:-64}
. bench/proxy/common.sh
proxy_bench_setup workers dist/hosts/proxy/worker.js wrk haproxy

node -e "require('http').createServer((q,r)=>r.end('ok\n')).listen(8000,'127.0.0.1')" & PIDS+=($!)
declare -A PROXYPID
for n in 1 2; do
  haproxy_cfg "$n" "801$n:8000" > "$T/haproxy$n.cfg"
  haproxy -f "$T/haproxy$n.cfg" -q & PIDS+=($!); PROXYPID[haproxy-$n]=$!
done
node "$NODE_PROXY" 8013 8000 & PIDS+=($!); PROXYPID[node]=$!
for n in 1 2; do
  printf -- "-A -t 127.0.0.1:802$n -s wlc\n-a -t 127.0.0.1:802$n -r 127.0.0.1:8000 -m\n" > "$T/rules$n"
  node bin/wasmvsd.js proxy --engine js --splice off --workers $n --socket "$T/s$n.sock" --state "$T/state$n" --config "$T/rules$n" 2>"$T/wasmvsd$n.log" & PIDS+=($!); PROXYPID[wasmvs-$n]=$!
done
for n in 1 2; do
  printf -- "-A -t 127.0.0.1:803$n -s wlc\n-a -t 127.0.0.1:803$n -r 127.0.0.1:8000 -m\n" > "$T/rulesn$n"
  # native-1, native-2: the main thread decides every connection (--native-core off: the default with one pump; with two until 2026-12-07).
  node bin/wasmvsd.js proxy --engine native --workers $n --native-core off --socket "$T/n$n.sock" --state "$T/staten$n" --config "$T/rulesn$n" 2>"$T/wasmvsdn$n.log" & PIDS+=($!); PROXYPID[native-$n]=$!
done
# One and two pumps, each deciding its own clients on the native core and giving it their state changes
# (--native-core on, the default with two pumps: native-1t, native-2t).
for n in 1 2; do
  printf -- "-A -t 127.0.0.1:804$n -s wlc\n-a -t 127.0.0.1:804$n -r 127.0.0.1:8000 -m\n" > "$T/rulesn${n}t"
  node bin/wasmvsd.js proxy --engine native --workers $n --native-core on --socket "$T/n${n}t.sock" --state "$T/staten${n}t" --config "$T/rulesn${n}t" 2>"$T/wasmvsdn${n}t.log" & PIDS+=($!); PROXYPID[native-${n}t]=$!
done
for i in $(seq 100); do grep -q listening "$T/wasmvsd2.log" && grep -q listening "$T/wasmvsd1.log" && grep -q listening "$T/wasmvsdn2.log" && grep -q listening "$T/wasmvsdn2t.log" && grep -q listening "$T/wasmvsdn1t.log" && break; sleep 0.1; done
grep -q 'engine: native' "$T/wasmvsdn2.log" || { echo 'bench/proxy: wasmvsd --engine native did not start (npm run build:native?):'; cat "$T/wasmvsdn2.log"; exit 2; }
grep -q 'listening' "$T/wasmvsd2.log" || { echo 'bench/proxy: wasmvsd --workers 2 did not start:'; cat "$T/wasmvsd2.log"; exit 2; }
grep -q '"nativeCore":true' "$T/wasmvsdn2t.log" || echo 'bench/proxy: note: native-2t decides on the main thread (no native core in the addon: wabt missing where it was built?)' >&2

# CPU seconds (user+sys) a proxy has used so far: the process, its threads and its children (wasmvsd's workers).
cpu() {
  [ -n "$1" ] || { echo 0; return; }
  local t=0 p
  for p in $1 $(pgrep -P "$1" || true); do t=$(awk -v t="$t" -v h="$(getconf CLK_TCK)" '{printf "%.2f", t + ($14+$15)/h}' "/proc/$p/stat"); done
  echo "$t"
}
# CPU seconds of the process alone (wasmvsd's main process: scheduling, table, accounting).
cpu1() { awk -v h="$(getconf CLK_TCK)" '{printf "%.2f", ($14+$15)/h}' "/proc/$1/stat"; }
# wrk's latency percentile $2 ("50%", "99%") in ms.
pct() { awk -v p="$2" '$1==p {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v=v*1000}; print v}' "$1"; }
cps() {
  wrk -t"$WT" -c"$WC" -d"${SECS}s" --latency -H 'Connection: close' "http://127.0.0.1:$1/" > "$T/wrk.$1"
  echo "$(awk '/Requests\/sec/ {print $2}' "$T/wrk.$1") $(pct "$T/wrk.$1" 50%) $(pct "$T/wrk.$1" 99%)"
}
perconn() { node -e "const [a,b,q,s]=process.argv.slice(1).map(Number);console.log(((b-a)*1e6/(q*s)).toFixed(0))" "$1" "$2" "$3" "$SECS"; }

ROUNDS=${ROUNDS:-3}
NAMES="direct:8000 haproxy-1:8011 haproxy-2:8012 node:8013 wasmvs-1:8021 wasmvs-2:8022 native-1:8031 native-2:8032 native-1t:8041 native-2t:8042"
# ONLY="haproxy-1 native-1 …": those paths alone (a quicker A/B; the report's other rows stay empty).
if [ -n "${ONLY:-}" ]; then NAMES=$(for x in $NAMES; do [[ " $ONLY " == *" ${x%%:*} "* ]] && printf '%s ' "$x"; done); fi
declare -A RP PM PN CC CM
for r in $(seq "$ROUNDS"); do
  for name in $(rotated "$r" $NAMES); do
    IFS=: read -r n h <<< "$name"
    pid=${PROXYPID[$n]:-}
    a=$(cpu "$pid"); am=0; [ -n "$pid" ] && am=$(cpu1 "$pid")
    read -r q p50 p <<< "$(cps "$h")"
    b=$(cpu "$pid"); bm=0; [ -n "$pid" ] && bm=$(cpu1 "$pid")
    # The proxy's CPU microseconds per connection (wrk's requests over the run's seconds); "main": its first process alone.
    if [ -n "$pid" ]; then c=$(perconn "$a" "$b" "$q"); cm=$(perconn "$am" "$bm" "$q"); else c=-; cm=-; fi
    RP[$n]="${RP[$n]:-} $q"; PM[$n]="${PM[$n]:-} $p50"; PN[$n]="${PN[$n]:-} $p"; CC[$n]="${CC[$n]:-} $c"; CM[$n]="${CM[$n]:-} $cm"
    echo "round $r $n: $q conn/s, p50 $p50 ms, p99 $p ms, proxy CPU $c µs/conn (main process $cm)" >&2
  done
done
# Every connection went through the daemons' tables: their Conns counters say how many each scheduled.
CONNS1=$(WASMVS_SOCKET="$T/s1.sock" node bin/wasmvsadm.js -L -n --stats | awk '/^TCP/ {print $3}')
CONNS2=$(WASMVS_SOCKET="$T/s2.sock" node bin/wasmvsadm.js -L -n --stats | awk '/^TCP/ {print $3}')
CONNSN1=$(WASMVS_SOCKET="$T/n1.sock" node bin/wasmvsadm.js -L -n --stats | awk '/^TCP/ {print $3}')
CONNSN2=$(WASMVS_SOCKET="$T/n2.sock" node bin/wasmvsadm.js -L -n --stats | awk '/^TCP/ {print $3}')
median() { node -e "const v=process.argv.slice(1).map(Number).sort((a,b)=>a-b);console.log(v[(v.length-1)>>1])" $1; }
spread() { node -e "const v=process.argv.slice(1).map(Number).sort((a,b)=>a-b);console.log(v[0]+'–'+v[v.length-1])" $1; }
ratio() { [ -n "$1" ] && [ -n "$2" ] || { echo -; return; }; node -e "console.log((Number(process.argv[1])/Number(process.argv[2])).toFixed(2))" "$1" "$2"; }
declare -A RPS P50 P99 RS CPC CPM
for name in $NAMES; do
  n=${name%%:*}; RPS[$n]=$(median "${RP[$n]}"); P50[$n]=$(median "${PM[$n]}"); P99[$n]=$(median "${PN[$n]}"); RS[$n]=$(spread "${RP[$n]}")
  if [ "$n" = direct ]; then CPC[$n]=-; CPM[$n]=-; else CPC[$n]=$(median "${CC[$n]}"); CPM[$n]=$(median "${CM[$n]}"); fi
done
# Paths left out (ONLY): empty cells.
for n in direct haproxy-1 haproxy-2 node wasmvs-1 wasmvs-2 native-1 native-2 native-1t native-2t; do : "${RPS[$n]:=}" "${P50[$n]:=}" "${P99[$n]:=}" "${RS[$n]:=}" "${CPC[$n]:=}" "${CPM[$n]:=}"; done
mkdir -p bench/out
{
  echo "# wasmvsd proxy --workers — connections per second ($(date -u +%Y-%m-%dT%H:%MZ), ${SECS} s per measurement, median of ${ROUNDS} interleaved rounds, each in a rotated order)"
  echo
  echo "Machine: $(nproc) vCPU, $(node --version), $(haproxy -v | head -1 | cut -d' ' -f1-3), wrk -t$WT -c$WC Connection: close, one Node HTTP backend."
  echo "Everything (load generator, proxies, backend) shares the same CPUs; one run, noisy VM."
  echo
  echo "| path | conn/s (request + close) | (rounds' range) | p50 ms | p99 ms | proxy CPU µs per connection | of which wasmvsd's main process |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for name in $NAMES; do
    n=${name%%:*}; m=-; [ "$n" = wasmvs-2 ] && m=${CPM[$n]}
    echo "| $n | ${RPS[$n]} | ${RS[$n]} | ${P50[$n]} | ${P99[$n]} | ${CPC[$n]} | $m |"
  done
  echo
  echo "| target | measured |"
  echo "|---|---:|"
  echo "| conn/s, one worker (wasmvs-1) ≥ 1.0× naive Node proxy | $(ratio "${RPS[wasmvs-1]}" "${RPS[node]}")× |"
  echo "| conn/s, all workers (wasmvs-2) ≥ 1.0× HAProxy nbthread 2 | $(ratio "${RPS[wasmvs-2]}" "${RPS[haproxy-2]}")× |"
  echo "| conn/s, wasmvs-2 vs wasmvs-1 | $(ratio "${RPS[wasmvs-2]}" "${RPS[wasmvs-1]}")× |"
  echo "| conn/s, HAProxy nbthread 2 vs nbthread 1 | $(ratio "${RPS[haproxy-2]}" "${RPS[haproxy-1]}")× |"
  echo "| p99 ≤ HAProxy's (same threads) | wasmvs-1 ${P99[wasmvs-1]} ms vs haproxy-1 ${P99[haproxy-1]} ms; wasmvs-2 ${P99[wasmvs-2]} ms vs haproxy-2 ${P99[haproxy-2]} ms |"
  echo "| CPU per connection, wasmvs-2 vs wasmvs-1 (the workers' overhead) | $(ratio "${CPC[wasmvs-2]}" "${CPC[wasmvs-1]}")× |"
  echo "| conn/s, native engine one thread (native-1) ≥ 1.0× naive Node proxy | $(ratio "${RPS[native-1]}" "${RPS[node]}")× |"
  echo "| conn/s, native engine one thread vs HAProxy nbthread 1 | $(ratio "${RPS[native-1]}" "${RPS[haproxy-1]}")× |"
  echo "| conn/s, native engine two threads (native-2) ≥ 1.0× HAProxy nbthread 2 | $(ratio "${RPS[native-2]}" "${RPS[haproxy-2]}")× |"
  echo "| conn/s, one pump deciding on the native core (native-1t) vs HAProxy nbthread 1 | $(ratio "${RPS[native-1t]}" "${RPS[haproxy-1]}")× |"
  echo "| conn/s, two pumps each deciding on the native core (native-2t) vs HAProxy nbthread 2 | $(ratio "${RPS[native-2t]}" "${RPS[haproxy-2]}")× |"
  echo "| p99 ≤ HAProxy's (same threads), native engine | native-1 ${P99[native-1]} ms vs haproxy-1 ${P99[haproxy-1]} ms; native-2 ${P99[native-2]} ms (native-2t ${P99[native-2t]}) vs haproxy-2 ${P99[haproxy-2]} ms; native-1t ${P99[native-1t]} ms |"
  echo "| CPU per connection, native-1 vs haproxy-1 | ${CPC[native-1]} vs ${CPC[haproxy-1]} µs |"
  echo "| CPU per connection, native-1t, native-2t vs haproxy-2 | ${CPC[native-1t]}, ${CPC[native-2t]} vs ${CPC[haproxy-2]} µs |"
  echo
  echo "Connections scheduled by each daemon's table in the run (Conns): --workers 1 ${CONNS1:-?}, --workers 2 ${CONNS2:-?}, --engine native --workers 1 ${CONNSN1:-?}, --engine native --workers 2 ${CONNSN2:-?}."
} > bench/out/REPORT-proxy-workers.md
cat bench/out/REPORT-proxy-workers.md
