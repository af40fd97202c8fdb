#!/usr/bin/env bash
# Packets/s through one NFQUEUE, same traffic for every consumer (64-byte UDP
# over loopback, OUTPUT hook, iptables-legacy rule as in shared/baselines/nfq_run.sh):
#   unshare -n bash bench/gateway/pps.sh SECONDS OUT.jsonl
# Consumers: the C baseline (libnetfilter_queue, batch 32 and 1 — a baseline
# only, never linked into the addon), the addon alone (batch / per-packet
# verdict messages) and the gateway path (core gwBurst: NAT, DR, pass, and
# pass with one verdict message per packet). '-pp' rows use verdictMode
# 'per-packet' (one message and one sendto per packet, as the C consumer's
# batch 1). LABELS="a b ..." runs only those rows, interleaved per round.
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
  local pps queue=null
  if [[ $line == \{* ]]; then
    pps=$(node -e "console.log(JSON.parse(process.argv[1]).pps)" "$line")
    queue=$(node -e "console.log(JSON.stringify(JSON.parse(process.argv[1]).queue ?? null))" "$line")
  else pps=$(sed -E 's/.*: ([0-9]+) packets\/s.*/\1/' <<<"$line"); fi
  echo "{\"label\":\"$label\",\"pps\":$pps,\"queue\":$queue,\"offered\":\"$(cat "$B/flood" | tr -d '\n')\",\"delivered\":\"$(cat "$B/sink" | tr -d '\n')\"}" | tee -a "$OUT"
}

ALL="c-batch32 c-single addon-batch addon-single addon-pp gw-nat gw-dr gw-dr-pp gw-pass gw-pass-single gw-pass-pp"
for round in $(seq 1 "${ROUNDS:-2}"); do
  for label in ${LABELS:-$ALL}; do
    case $label in
      c-batch32) measure c-batch32 "$B/nfq_bench" 32 128 "$SECS" ;;
      c-single) measure c-single "$B/nfq_bench" 1 128 "$SECS" ;;
      addon-*|gw-*) measure "$label" node bench/gateway/pps.mjs "$label" "$SECS" 64 ;;
      *) echo "unknown label $label" >&2; exit 2 ;;
    esac
  done
done
