#!/usr/bin/env bash
# Established-flow throughput through a NAT director, same traffic for every
# path (iperf3 TCP, client -> VIP:5201 -> real server, VIP local on the
# director's lo, as in docs/gateway.md), one fresh gateway per measurement:
#   userspace  wasmvsd gateway (every packet through the core)
#   fast       wasmvsd gateway --fast-path on (new flows through the core, conntrack the rest)
#   nft        a plain nftables DNAT of the same flows, no wasmvs (the kernel's own ceiling)
# Root; its own namespaces (198.18.0.0/15), removed at exit. Run it under the bench lock:
#   flock /tmp/wasmvs-bench.lock bash bench/gateway/fastpath.sh SECONDS OUT.jsonl
# OFFLOAD=off: TSO, GSO and GRO off on every veth, so the director handles
# MTU-sized packets (packets/s) rather than 64 KiB super-packets (bytes/s).
# FAMILY=6: the same over IPv6 (2001:2::/48; the fast path's ip6 table, and
# a plain `dnat ip6` as the reference).
# Prints one JSON line per run, then the median of each path and the ratios.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-5}; OUT=${2:-bench/out/gateway-fastpath.jsonl}; ROUNDS=${ROUNDS:-3}
T=gfb$(( $$ % 10000 ))
CL=${T}c DIR=${T}d RS=${T}r
FAMILY=${FAMILY:-4}
if [[ $FAMILY == 6 ]]; then
  VIP=2001:2:0:42::1 RIP=2001:2:0:41::2 CLA=2001:2:0:40::2 DIN=2001:2:0:40::1 DOUT=2001:2:0:41::1 LEN=64 HOST=128 NODAD=nodad
  SVC="[$VIP]:5201" REAL="[$RIP]:5201" NFT=ip6 FWD=net.ipv6.conf.all.forwarding
else
  VIP=198.18.42.1 RIP=198.18.41.2 CLA=198.18.40.2 DIN=198.18.40.1 DOUT=198.18.41.1 LEN=24 HOST=32 NODAD=
  SVC="$VIP:5201" REAL="$RIP:5201" NFT=ip FWD=net.ipv4.ip_forward
fi
Q=$(( 900 + $$ % 50 ))
W=$(mktemp -d)
mkdir -p "$(dirname "$OUT")"
GW=""
cleanup() {
  [[ -n $GW ]] && kill "$GW" 2>/dev/null && wait "$GW" 2>/dev/null || true
  for n in $CL $DIR $RS; do ip netns del "$n" 2>/dev/null || true; done
  rm -rf "$W"
}
trap cleanup EXIT
for n in $CL $DIR $RS; do ip netns add "$n"; ip -n "$n" link set lo up; done
ip link add ${T}c0 netns $CL type veth peer name ${T}d0 netns $DIR
ip link add ${T}d1 netns $DIR type veth peer name ${T}r0 netns $RS
ip -n $CL addr add $CLA/$LEN dev ${T}c0 $NODAD; ip -n $CL link set ${T}c0 up
ip -n $DIR addr add $DIN/$LEN dev ${T}d0 $NODAD; ip -n $DIR link set ${T}d0 up
ip -n $DIR addr add $DOUT/$LEN dev ${T}d1 $NODAD; ip -n $DIR link set ${T}d1 up
ip -n $RS addr add $RIP/$LEN dev ${T}r0 $NODAD; ip -n $RS link set ${T}r0 up
ip -n $DIR addr add $VIP/$HOST dev lo $NODAD
ip -n $CL route add $VIP/$HOST via $DIN
ip -n $RS route add default via $DOUT
if [[ ${OFFLOAD:-on} == off ]]; then
  for p in "$CL ${T}c0" "$DIR ${T}d0" "$DIR ${T}d1" "$RS ${T}r0"; do set -- $p; ip netns exec "$1" ethtool -K "$2" tso off gso off gro off >/dev/null; done
fi

adm() { node bin/wasmvsadm.js --socket "$W/gw.sock" "$@"; }
start_gw() {
  rm -f "$W/gw.rules"
  ip netns exec $DIR node bin/wasmvsd.js gateway --socket "$W/gw.sock" --state "$W/gw.rules" --queue $Q "$@" >"$W/gw.log" 2>&1 &
  GW=$!
  for _ in $(seq 100); do adm -L -n >/dev/null 2>&1 && break; sleep 0.1; done
  adm -A -t "$SVC" -s rr
  adm -a -t "$SVC" -r "$REAL" -m
  sleep 0.5
}
stop_gw() { kill "$GW"; wait "$GW" || true; GW=""; }
rx() { cat /sys/class/net/$1/statistics/rx_packets; }

pkts() { ip netns exec $DIR cat /sys/class/net/${T}d0/statistics/rx_packets /sys/class/net/${T}d1/statistics/rx_packets | paste -sd+ | bc; }

# One measurement: $1 = label (userspace | fast | nft).
run() {
  local label=$1
  case $label in
    userspace) start_gw --fast-path off ;;
    fast)
      start_gw --fast-path on
      want='fast path on'; [[ $FAMILY == 6 ]] && want='fast path on for IPv4 and IPv6'
      grep -q "$want" "$W/gw.log" || { echo "fast path did not come on: $(cat "$W/gw.log")" >&2; exit 1; } ;;
    nft)
      # A gateway run before left iptables-nft's built-in chains behind (empty, still hooked): gone, so the
      # plain DNAT pays no hook of ours.
      for t in "ip raw" "ip mangle" "ip6 raw" "ip6 mangle"; do ip netns exec $DIR nft delete table $t 2>/dev/null || true; done
      ip netns exec $DIR sysctl -qw $FWD=1
      ip netns exec $DIR nft -f - <<EOF2
table $NFT benchdnat {
  chain pre { type nat hook prerouting priority dstnat; policy accept; $NFT daddr $VIP tcp dport 5201 dnat to $REAL; }
}
EOF2
      ;;
  esac
  ip netns exec $RS iperf3 -s -1 -B $RIP >/dev/null 2>&1 & local s=$!
  sleep 0.3
  local a b; a=$(pkts)
  ip netns exec $CL iperf3 -c $VIP -t "$SECS" -J >"$W/iperf.json" || true
  b=$(pkts)
  wait $s 2>/dev/null || true
  local queued=null
  if [[ $label == nft ]]; then
    ip netns exec $DIR nft delete table $NFT benchdnat
    ip netns exec $DIR sysctl -qw $FWD=0
  else
    stop_gw
    queued=$(grep -o 'gateway: packets=[0-9]*' "$W/gw.log" | tail -1 | cut -d= -f2)
  fi
  node -e "
    const j = JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8'));
    const bps = Math.round(j.end?.sum_received?.bits_per_second ?? 0);
    console.log(JSON.stringify({ label: process.argv[2], family: Number(process.argv[7]), offload: process.argv[6], seconds: Number(process.argv[3]), bps, director_rx_packets: Number(process.argv[4]),
      director_pps: Math.round(Number(process.argv[4]) / Number(process.argv[3])), queued: process.argv[5] === 'null' ? null : Number(process.argv[5]) }));
  " "$W/iperf.json" "$label" "$SECS" "$((b - a))" "${queued:-null}" "${OFFLOAD:-on}" "$FAMILY" | tee -a "$OUT"
}

: >"$OUT"
for round in $(seq "$ROUNDS"); do
  for label in ${LABELS:-userspace fast nft}; do run "$label"; done
done
node -e "
  const rows = require('fs').readFileSync(process.argv[1], 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const med = (l, k) => { const v = rows.filter((r) => r.label === l).map((r) => r[k]).sort((a, b) => a - b); return v.length ? v[v.length >> 1] : NaN; };
  const m = Object.fromEntries(['userspace', 'fast', 'nft'].map((l) => [l, { bps: med(l, 'bps'), pps: med(l, 'director_pps') }]));
  for (const [l, v] of Object.entries(m)) console.log(l.padEnd(10), (v.bps / 1e9).toFixed(2), 'Gbit/s', (v.pps / 1e3).toFixed(0), 'kpackets/s received by the director (medians of', rows.filter((r) => r.label === l).length, 'runs)');
  const r = (a, b, k) => (m[a][k] / m[b][k]).toFixed(2);
  console.log('bytes/s: fast / userspace =', r('fast', 'userspace', 'bps'), '  fast / plain nft DNAT =', r('fast', 'nft', 'bps'), '(target >= 0.8)');
  console.log('packets/s: fast / userspace =', r('fast', 'userspace', 'pps'), '  fast / plain nft DNAT =', r('fast', 'nft', 'pps'));
" "$OUT"
