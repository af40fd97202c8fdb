#!/usr/bin/env bash
# Added latency through one NFQUEUE at a paced rate (default 60,000 packets/s,
# about half the C consumer's measured peak): one-way latency of 64-byte UDP
# over loopback (OUTPUT hook) without a queue, through the C baseline
# consumer (batch 32 and per packet) and through the gateway path (NAT, DR, pass):
#   unshare -n bash bench/gateway/lat.sh SECONDS RATE OUT.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-4}; RATE=${2:-60000}; OUT=${3:-bench/out/gateway-lat.jsonl}
B=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$B"; }
trap cleanup EXIT
BASE=${BASELINES:-$(pwd)/../shared/baselines}
gcc -O2 -o "$B/nfq_bench" "$BASE/nfq_bench.c" -lnetfilter_queue -lnfnetlink
gcc -O2 -o "$B/udp_lat" bench/gateway/udp_lat.c
ip link set lo up
: > "$OUT"

probe() { # $1 label; the consumer (if any) is already running
  echo "{\"label\":\"$1\",\"lat\":$("$B/udp_lat" 9999 "$RATE" "$SECS")}" | tee -a "$OUT"
}
with() { # $1 label, rest = consumer command
  local label=$1; shift
  "$@" > /dev/null & local q=$!; PIDS+=($q)
  sleep 1.5
  probe "$label"
  kill $q 2>/dev/null || true; wait $q 2>/dev/null || true
}

for round in $(seq 1 "${ROUNDS:-2}"); do
  probe none
  iptables-legacy -A OUTPUT -p udp --dport 9999 -j NFQUEUE --queue-num 0
  with c-batch32 "$B/nfq_bench" 32 128 $((SECS + 3))
  with c-single "$B/nfq_bench" 1 128 $((SECS + 3))
  with gw-nat node bench/gateway/pps.mjs gw-nat $((SECS + 3)) 64
  with gw-dr node bench/gateway/pps.mjs gw-dr $((SECS + 3)) 64
  with gw-pass node bench/gateway/pps.mjs gw-pass $((SECS + 3)) 64
  iptables-legacy -D OUTPUT -p udp --dport 9999 -j NFQUEUE --queue-num 0
done
