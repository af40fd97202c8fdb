#!/usr/bin/env bash
# Packets/s through one NFQUEUE, same traffic for every consumer (64-byte UDP
# over loopback, OUTPUT hook, iptables-legacy rule as in shared/baselines/nfq_run.sh):
#   unshare -n bash bench/gateway/pps.sh SECONDS OUT.jsonl
# Consumers: the C baseline (libnetfilter_queue, batch 32 and 1 — a baseline
# only, never linked into the addon), the addon alone (batch / per-packet
# verdict messages) and the gateway path (core gwBurst: NAT, DR, pass, and
# pass with one verdict message per packet).
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-4}; OUT=${2:-bench/out/gateway-pps.jsonl}
B=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$B"; }
trap cleanup EXIT
BASE=${BASELINES:-$(pwd)/../shared/baselines}
gcc -O2 -o "$B/nfq_bench" "$BASE/nfq_bench.c" -lnetfilter_queue -lnfnetlink
gcc -O2 -o "$B/udp_flood" "$BASE/udp_flood.c"
gcc -O2 -o "$B/udp_sink" "$BASE/udp_sink.c"
ip link set lo up
iptables-legacy -A OUTPUT -p udp --dport 9999 -j NFQUEUE --queue-num 0
: > "$OUT"

# One measurement: $1 = label, rest = consumer command (counts SECS after 1 s warm-up).
measure() {
  local label=$1; shift
  "$B/udp_sink" 9999 $((SECS + 3)) 2>"$B/sink" & local s=$!; PIDS+=($s)
  "$@" > "$B/consumer" & local q=$!; PIDS+=($q)
  sleep 0.5
  "$B/udp_flood" 9999 $((SECS + 2)) 2>"$B/flood"
  wait $q || true; wait $s || true
  local line; line=$(tail -1 "$B/consumer")
  local pps
  if [[ $line == \{* ]]; then pps=$(node -e "console.log(JSON.parse(process.argv[1]).pps)" "$line")
  else pps=$(sed -E 's/.*: ([0-9]+) packets\/s.*/\1/' <<<"$line"); fi
  echo "{\"label\":\"$label\",\"pps\":$pps,\"offered\":\"$(cat "$B/flood" | tr -d '\n')\",\"delivered\":\"$(cat "$B/sink" | tr -d '\n')\"}" | tee -a "$OUT"
}

for round in $(seq 1 "${ROUNDS:-2}"); do
  measure c-batch32 "$B/nfq_bench" 32 128 "$SECS"
  measure c-single "$B/nfq_bench" 1 128 "$SECS"
  measure addon-batch node bench/gateway/pps.mjs addon-batch "$SECS" 64
  measure addon-single node bench/gateway/pps.mjs addon-single "$SECS" 64
  measure gw-nat node bench/gateway/pps.mjs gw-nat "$SECS" 64
  measure gw-dr node bench/gateway/pps.mjs gw-dr "$SECS" 64
  measure gw-pass node bench/gateway/pps.mjs gw-pass "$SECS" 64
  measure gw-pass-single node bench/gateway/pps.mjs gw-pass-single "$SECS" 64
done
