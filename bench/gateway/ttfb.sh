#!/usr/bin/env bash
# Time to first byte of a new connection to the LAST of N services, through
# `wasmvsd gateway` (the userspace path, and with --fast-path on: only the SYN
# through the core) vs a kube-proxy-shaped iptables DNAT ruleset of N services
# (shared/baselines/gen_kube_rules.py, 7 rules/service, addresses mapped into
# 198.18.0.0/15), same director namespace, same client and servers:
#   ROUNDS=3 flock /tmp/wasmvs-bench.lock bash bench/gateway/ttfb.sh OUT.jsonl [COUNT] [N...]
#   (root; default N = 100 20000; IMPLS="kube-iptables wasmvs-gateway wasmvs-gateway-fast" by default;
#   VIPS=scattered spreads the VIPs over 198.19.0.0/16 instead of numbering them consecutively)
# Each round measures every size and implementation in turn; at the end the
# medians over rounds of the p50s and the ratios. Namespaces, addresses and
# processes are the script's own and removed at exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/gateway/common.sh
OUT=${1:-bench/out/gateway-ttfb.jsonl}; COUNT=${2:-200}; shift $(( $# > 2 ? 2 : $# )) || true
SIZES=("$@"); [ ${#SIZES[@]} -gt 0 ] || SIZES=(100 20000)
BASE=${BASELINES:-$(pwd)/../shared/baselines}
P=$$; CL=tfc$P; DIR=tfd$P; RS=tfr$P
T=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true
  for n in $CL $DIR $RS; do ip netns del $n 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT
for n in $CL $DIR $RS; do ip netns add $n; ip -n $n link set lo up; done
ip link add tc$P netns $CL type veth peer name td$P netns $DIR
ip link add te$P netns $DIR type veth peer name tr$P netns $RS
ip -n $CL addr add 198.18.40.2/24 dev tc$P; ip -n $CL link set tc$P up
ip -n $DIR addr add 198.18.40.1/24 dev td$P; ip -n $DIR link set td$P up
ip -n $DIR addr add 198.18.41.1/24 dev te$P; ip -n $DIR link set te$P up
ip -n $RS addr add 198.18.41.2/24 dev tr$P; ip -n $RS addr add 198.18.41.3/24 dev tr$P; ip -n $RS link set tr$P up
ip -n $CL route add 198.19.0.0/16 via 198.18.40.1
ip -n $RS route add default via 198.18.41.1
ip netns exec $DIR sysctl -qw net.ipv4.ip_forward=1
ip netns exec $RS node -e "require('net').createServer(c=>{c.on('error',()=>{});c.write('x')}).listen(8080,'0.0.0.0')" & PIDS+=($!)
sleep 0.5
: > "$OUT"
# The director's conntrack table emptied between measurements (through our addon; no conntrack tool needed).
ctflush() { if [[ -f $CTFEED ]]; then ctflush_ns $DIR; fi; }
# VIPS=consecutive (default): service s at 198.19.0.0 + s - 1, which the gateway's rules merge into a
# few CIDR blocks; VIPS=scattered: s - 1 times an odd constant mod 65536, so no two neighbours are
# adjacent (as ClusterIPs drawn at random from a range are) and every VIP is its own match.
if [[ ${VIPS:-consecutive} == scattered ]]; then
  vip() { local a=$(( (($1 - 1) * 40503 + 7) & 65535 )); echo "198.19.$(( a >> 8 )).$(( a & 255 ))"; }
else
  vip() { echo "198.19.$(( ($1 - 1) >> 8 )).$(( ($1 - 1) & 255 ))"; }
fi
client() { ip netns exec $CL node bench/gateway/ttfb-client.mjs "$(vip "$1")" 80 "$COUNT"; }

IMPLS=${IMPLS:-kube-iptables wasmvs-gateway wasmvs-gateway-fast}
for round in $(seq 1 "${ROUNDS:-1}"); do
for N in "${SIZES[@]}"; do
  if [[ " $IMPLS " == *" kube-iptables "* ]]; then
  # kube-proxy shape: VIP 10.96.x.y -> 198.19.x.y, every endpoint -> 198.18.41.2:8080.
  python3 "$BASE/gen_kube_rules.py" "$N" | sed -E -e 's/-d 10\.96\./-d 198.19./' \
    -e 's#-s 172\.[0-9.]+/32#-s 198.18.41.2/32#' -e 's/--to-destination 172\.[0-9.]+:8080/--to-destination 198.18.41.2:8080/' > "$T/kube"
  if [[ ${VIPS:-consecutive} == scattered ]]; then # the same VIPs as vip() gives
    perl -pi -e 's{-d 198\.19\.(\d+)\.(\d+)/}{my $a = (($1 * 256 + $2) * 40503 + 7) & 65535; "-d 198.19." . ($a >> 8) . "." . ($a & 255) . "/"}e' "$T/kube"
  fi
  t0=$(date +%s.%N); ip netns exec $DIR iptables-restore < "$T/kube"; t1=$(date +%s.%N)
  ip netns exec $DIR iptables -t nat -A PREROUTING -j KUBE-SERVICES
  echo "{\"impl\":\"kube-iptables\",\"vips\":\"${VIPS:-consecutive}\",\"round\":$round,\"services\":$N,\"load1\":$(cut -d' ' -f1 /proc/loadavg),\"rules\":$(grep -c '^-A' "$T/kube"),\"load_s\":$(printf "%.3f" "$(echo "$t1-$t0" | bc)"),\"ttfb\":$(client "$N")}" | tee -a "$OUT"
  ip netns exec $DIR iptables -t nat -F; ip netns exec $DIR iptables -t nat -X
  ctflush
  fi

  # wasmvsd gateway: the same N services, two NAT real servers each, loaded with one -R.
  for ((s = 1; s <= N; s++)); do
    v=$(vip $s); echo "-A -t $v:80 -s rr"; echo "-a -t $v:80 -r 198.18.41.2:8080 -m"; echo "-a -t $v:80 -r 198.18.41.3:8080 -m"
  done > "$T/wasmvs"
  for impl in wasmvs-gateway wasmvs-gateway-fast; do
    [[ " $IMPLS " == *" $impl "* ]] || continue
    fast=off; [[ $impl == wasmvs-gateway-fast ]] && fast=on
    rm -f "$T/state.$N"
    ip netns exec $DIR node bin/wasmvsd.js gateway --socket "$T/sock" --state "$T/state.$N" --queue 1 --fast-path $fast 2> "$T/gw.log" & G=$!; PIDS+=($G)
    for i in $(seq 1 100); do [ -S "$T/sock" ] && break; sleep 0.1; done
    t0=$(date +%s.%N); node bin/wasmvsadm.js --socket "$T/sock" -R < "$T/wasmvs"; t1=$(date +%s.%N)
    if [[ $fast == on ]]; then # the daemon's log lines are written asynchronously: bounded wait
      for i in $(seq 1 50); do grep -q 'fast path on' "$T/gw.log" && break; sleep 0.1; done
      grep -q 'fast path on' "$T/gw.log" || { echo "fast path did not come on: $(cat "$T/gw.log")" >&2; exit 1; }
    fi
    # -R returns once the core has the services; the queue rules (and the fast path's DNAT map) follow
    # in the background, for part of the services first: load_s is until one connection to the last
    # VIP gets its byte (bounded: 120 tries), so "first" below is the second connection after the load.
    for i in $(seq 1 120); do
      ip netns exec $CL node bench/gateway/ttfb-client.mjs "$(vip "$N")" 80 1 | grep -q '"failed":0' && break
      sleep 0.2
    done
    t1=$(date +%s.%N)
    rules=$(ip netns exec $DIR iptables -t mangle -S WASMVS-GW | grep -c '^-A' || true)
    echo "{\"impl\":\"$impl\",\"vips\":\"${VIPS:-consecutive}\",\"round\":$round,\"services\":$N,\"rules\":$rules,\"load_s\":$(printf "%.3f" "$(echo "$t1-$t0" | bc)"),\"load1\":$(cut -d' ' -f1 /proc/loadavg),\"ttfb\":$(client "$N")}" | tee -a "$OUT"
    kill $G; wait $G || true
    rm -f "$T/sock"
    ctflush
  done
done
done
node -e "
  const rows = require('fs').readFileSync(process.argv[1], 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[(s.length - 1) >> 1] : NaN; };
  const p50 = (impl, n) => med(rows.filter((r) => r.impl === impl && r.services === n).map((r) => r.ttfb.p50));
  const sizes = [...new Set(rows.map((r) => r.services))].sort((a, b) => a - b), [lo, hi] = [sizes[0], sizes[sizes.length - 1]];
  for (const impl of [...new Set(rows.map((r) => r.impl))]) {
    console.log(impl.padEnd(22), sizes.map((n) => n + ' services: p50 ' + p50(impl, n) + ' us').join(', '), ' ' + hi + '/' + lo + ' =', (p50(impl, hi) / p50(impl, lo)).toFixed(2),
      impl === 'kube-iptables' ? '' : ' vs kube-iptables at ' + hi + ': ' + (p50(impl, hi) / p50('kube-iptables', hi)).toFixed(2) + ', at ' + lo + ': ' + (p50(impl, lo) / p50('kube-iptables', lo)).toFixed(2));
  }
" "$OUT"
