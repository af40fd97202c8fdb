#!/usr/bin/env bash
# Latency under the same load, inside a throw-away network namespace:
#   unshare -n bash bench/proxy/latency.sh [SECONDS]   (ROUNDS=3 interleaved rounds, each in a rotated order
#   of the paths (rotated, common.sh), median reported; ROUNDS=7 gives every path every predecessor)
# wrk (workers.sh, run.sh) keeps its connections busy: a closed loop, so a
# slower proxy is also offered less, and its p99 mostly restates its rate.
# Here every proxy is offered the same fixed rates (RATES, connections per
# second, each started on schedule by bench/proxy/openloop.c, latency from the
# scheduled start to the end of the reply), one short request/close connection
# each, through: direct, HAProxy `mode tcp` nbthread 1 and 2, the naive Node
# net+pipe proxy, wasmvsd proxy --engine js, and --engine native with
# --workers 1 and 2, each with the main thread deciding every connection
# (native-1, native-2: --native-core off) and with each pump deciding its own
# clients on the native core (native-1t, native-2t: --native-core on, the default
# with two pumps). ONLY="…" limits the run to the paths named. The real
# server is connrate's C server (one thread,
# epoll), so the tail is the proxies', not a garbage-collected backend's.
# Needs: gcc, haproxy, `npm run build` and `npm run build:native`.
# Writes bench/out/REPORT-proxy-latency.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-5}
RATES=${RATES:-"1000 3000"}
ROUNDS=${ROUNDS:-3}
. bench/proxy/common.sh
proxy_bench_setup latency dist/hosts/proxy/worker.js gcc haproxy

gcc -O2 -o "$T/openloop" bench/proxy/openloop.c
gcc -O2 -o "$T/connrate" bench/gateway/connrate.c
NAMES="direct:8000 haproxy-1:8011 haproxy-2:8012 node:8013 wasmvs-js:8021 native-1:8031 native-2:8032 native-1t:8034 native-2t:8033"
# ONLY="haproxy-1 native-1 …": those paths alone (a quicker A/B; the report's other rows stay empty).
if [ -n "${ONLY:-}" ]; then NAMES=$(for x in $NAMES; do [[ " $ONLY " == *" ${x%%:*} "* ]] && printf '%s ' "$x"; done); fi
NR=$(wc -w <<< "$RATES"); NP=$(wc -w <<< "$NAMES")
# The server runs as long as the whole bench (each measurement: SECS + 1 s warm-up), with a margin.
"$T/connrate" server 127.0.0.1 8000 $(( ROUNDS * NR * NP * (SECS + 2) + 60 )) 2>/dev/null & PIDS+=($!)
for n in 1 2; do
  haproxy_cfg "$n" "801$n:8000" > "$T/haproxy$n.cfg"
  haproxy -f "$T/haproxy$n.cfg" -q & PIDS+=($!)
done
node "$NODE_PROXY" 8013 8000 & PIDS+=($!)
start_wasmvsd() {  # NAME PORT ARGS...
  local name=$1 port=$2; shift 2
  printf -- "-A -t 127.0.0.1:$port -s wlc\n-a -t 127.0.0.1:$port -r 127.0.0.1:8000 -m\n" > "$T/rules-$name"
  node bin/wasmvsd.js proxy "$@" --socket "$T/$name.sock" --state "$T/state-$name" --config "$T/rules-$name" 2>"$T/$name.log" & PIDS+=($!)
}
start_wasmvsd wasmvs-js 8021 --engine js --splice off
# native-1, native-2: the main thread decides every connection (--native-core off: the default with one pump; with two until 2026-12-07).
start_wasmvsd native-1 8031 --engine native --workers 1 --native-core off
start_wasmvsd native-2 8032 --engine native --workers 2 --native-core off
# One and two pumps, each deciding its own clients on the native core and giving it their state changes (--native-core on, the default with two pumps).
start_wasmvsd native-1t 8034 --engine native --workers 1 --native-core on
start_wasmvsd native-2t 8033 --engine native --workers 2 --native-core on
for i in $(seq 100); do grep -q listening "$T/wasmvs-js.log" && grep -q listening "$T/native-1.log" && grep -q listening "$T/native-2.log" && grep -q listening "$T/native-2t.log" && grep -q listening "$T/native-1t.log" && break; sleep 0.1; done
for n in wasmvs-js native-1 native-2 native-1t native-2t; do grep -q listening "$T/$n.log" || { echo "bench/proxy/latency: wasmvsd $n did not start:"; cat "$T/$n.log"; exit 2; }; done
grep -q 'engine: native' "$T/native-2.log" || { echo 'bench/proxy/latency: --engine native did not start (npm run build:native?)'; exit 2; }
grep -q '"nativeCore":true' "$T/native-2t.log" || { echo 'bench/proxy/latency: native-2t has no native core (wabt missing when the addon was built?)'; exit 2; }

declare -A P50 P99 P999 BAD
for r in $(seq "$ROUNDS"); do
  for rate in $RATES; do
    for name in $(rotated "$r" $NAMES); do
      IFS=: read -r n h <<< "$name"
      line=$("$T/openloop" 127.0.0.1 "$h" "$rate" "$SECS" 1)
      v() { node -e "console.log(JSON.parse(process.argv[1])[process.argv[2]])" "$line" "$1"; }
      P50[$n@$rate]="${P50[$n@$rate]:-} $(v p50_us)"; P99[$n@$rate]="${P99[$n@$rate]:-} $(v p99_us)"; P999[$n@$rate]="${P999[$n@$rate]:-} $(v p999_us)"
      BAD[$n@$rate]=$(( ${BAD[$n@$rate]:-0} + $(v failed) + $(v timeouts) + $(v missed) ))
      echo "round $r rate $rate $n: $line" >&2
    done
  done
done
median() { node -e "const v=process.argv.slice(1).map(Number).sort((a,b)=>a-b);console.log(v[(v.length-1)>>1])" $1; }
ms() { node -e "console.log((Number(process.argv[1])/1000).toFixed(2))" "$1"; }
ratio() { [ -n "$1" ] && [ -n "$2" ] || { echo -; return; }; node -e "console.log((Number(process.argv[1])/Number(process.argv[2])).toFixed(2))" "$1" "$2"; }
mkdir -p bench/out
{
  echo "# wasmvsd proxy — latency at a fixed offered rate ($(date -u +%Y-%m-%dT%H:%MZ), ${SECS} s per measurement after 1 s warm-up, median of ${ROUNDS} interleaved rounds, each in a rotated order)"
  echo
  echo "Machine: $(nproc) vCPU, $(node --version), $(haproxy -v | head -1 | cut -d' ' -f1-3); bench/proxy/openloop.c starts RATE connections per second on schedule (one request, reply to EOF); connrate's C server as the real server."
  echo "Latency from each connection's scheduled start to the end of its reply. Everything shares the same CPUs; one run, noisy VM."
  echo
  echo "| rate (conn/s) | path | p50 ms | p99 ms | p99.9 ms | failed + timed out + missed (all rounds) |"
  echo "|---:|---|---:|---:|---:|---:|"
  declare -A M99
  for rate in $RATES; do
    for name in $NAMES; do
      n=${name%%:*}; M99[$n@$rate]=$(median "${P99[$n@$rate]}")
      echo "| $rate | $n | $(ms "$(median "${P50[$n@$rate]}")") | $(ms "${M99[$n@$rate]}") | $(ms "$(median "${P999[$n@$rate]}")") | ${BAD[$n@$rate]} |"
    done
  done
  echo
  echo "| target: p99 ≤ HAProxy's under the same load | measured (p99 ratio, ≤ 1.00 is met) |"
  echo "|---|---:|"
  for rate in $RATES; do
    # Paths left out (ONLY): empty cells.
    for n in haproxy-1 haproxy-2 wasmvs-js native-1 native-2 native-1t native-2t; do : "${M99[$n@$rate]:=}"; done
    echo "| $rate conn/s, native engine one thread vs HAProxy nbthread 1 | $(ratio "${M99[native-1@$rate]}" "${M99[haproxy-1@$rate]}") |"
    echo "| $rate conn/s, native engine two threads vs HAProxy nbthread 2 | $(ratio "${M99[native-2@$rate]}" "${M99[haproxy-2@$rate]}") |"
    echo "| $rate conn/s, one pump deciding its clients on the native core vs HAProxy nbthread 1 | $(ratio "${M99[native-1t@$rate]}" "${M99[haproxy-1@$rate]}") |"
    echo "| $rate conn/s, two pumps, each deciding its clients on the native core, vs HAProxy nbthread 2 | $(ratio "${M99[native-2t@$rate]}" "${M99[haproxy-2@$rate]}") |"
    echo "| $rate conn/s, JS path vs HAProxy nbthread 1 | $(ratio "${M99[wasmvs-js@$rate]}" "${M99[haproxy-1@$rate]}") |"
  done
} > bench/out/REPORT-proxy-latency.md
cat bench/out/REPORT-proxy-latency.md
