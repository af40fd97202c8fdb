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
# METHOD=dr (IPv4): direct routing instead. The real server holds the VIP on its lo
# and answers the client over a link of its own, so the director carries the
# client's half only (iperf3's data). The reference is then `route`: the kernel's
# own DR, a packet mark set by one nft rule and a policy route to the real server
# (what the fast path's DR rules reduce to), with no wasmvs; `fast` pays the DR
# flow map, its stale set and the service lookup on top (docs/gateway.md).
# Prints one JSON line per run, then the median of each path and the ratios.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-5}; OUT=${2:-bench/out/gateway-fastpath.jsonl}; ROUNDS=${ROUNDS:-3}
T=gfb$(( $$ % 10000 ))
CL=${T}c DIR=${T}d RS=${T}r
FAMILY=${FAMILY:-4} METHOD=${METHOD:-nat}
[[ $METHOD == nat || ( $METHOD == dr && $FAMILY == 4 ) ]] || { echo "fastpath.sh: METHOD=nat, or METHOD=dr with FAMILY=4" >&2; exit 2; }
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
if [[ $METHOD == dr ]]; then
  # The real server: the VIP on lo, never ARPed for, and its own leg to the client for the replies.
  ip link add ${T}c1 netns $CL type veth peer name ${T}r1 netns $RS
  ip -n $CL link set ${T}c1 up; ip -n $RS link set ${T}r1 up
  ip -n $RS addr add $VIP/32 dev lo
  ip -n $RS route add $CLA/32 dev ${T}r1
  for c in all default ${T}r0 ${T}r1; do
    ip netns exec $RS sysctl -qw net.ipv4.conf.$c.arp_ignore=1 net.ipv4.conf.$c.arp_announce=2 net.ipv4.conf.$c.rp_filter=0
  done
  # The client takes the VIP's replies on that leg.
  for c in all default ${T}c0 ${T}c1; do ip netns exec $CL sysctl -qw net.ipv4.conf.$c.rp_filter=0; done
fi
if [[ ${OFFLOAD:-on} == off ]]; then
  devs=("$CL ${T}c0" "$DIR ${T}d0" "$DIR ${T}d1" "$RS ${T}r0")
  [[ $METHOD == dr ]] && devs+=("$CL ${T}c1" "$RS ${T}r1")
  for p in "${devs[@]}"; do set -- $p; ip netns exec "$1" ethtool -K "$2" tso off gso off gro off >/dev/null; done
fi

adm() { node bin/wasmvsadm.js --socket "$W/gw.sock" "$@"; }
start_gw() {
  rm -f "$W/gw.rules"
  ip netns exec $DIR node bin/wasmvsd.js gateway --socket "$W/gw.sock" --state "$W/gw.rules" --queue $Q "$@" >"$W/gw.log" 2>&1 &
  GW=$!
  for _ in $(seq 100); do adm -L -n >/dev/null 2>&1 && break; sleep 0.1; done
  adm -A -t "$SVC" -s rr
  if [[ $METHOD == dr ]]; then adm -a -t "$SVC" -r "$REAL" -g; else adm -a -t "$SVC" -r "$REAL" -m; fi
  sleep 0.5
}
stop_gw() { kill "$GW"; wait "$GW" || true; GW=""; }
rx() { cat /sys/class/net/$1/statistics/rx_packets; }

pkts() { ip netns exec $DIR cat /sys/class/net/${T}d0/statistics/rx_packets /sys/class/net/${T}d1/statistics/rx_packets | paste -sd+ | bc; }

# The kernel's own DR (METHOD=dr's `route`): the VIP's packets marked, and routed by the mark to the real server.
plain_dr() {
  if [[ $1 == 1 ]]; then
    for t in "ip raw" "ip mangle"; do ip netns exec $DIR nft delete table $t 2>/dev/null || true; done
    ip netns exec $DIR sysctl -qw $FWD=1
    ip netns exec $DIR nft -f - <<EOF2
table ip benchdr {
  chain pre { type filter hook prerouting priority mangle; policy accept; ip daddr $VIP tcp dport 5201 meta mark set 0x77; }
}
EOF2
    ip -n $DIR route add $VIP/32 via $RIP dev ${T}d1 table 177
    # Ahead of the local table, which holds the VIP (as the gateway's own DR rules are).
    ip -n $DIR rule add fwmark 0x77 lookup 177 pref 10
    ip -n $DIR rule del pref 0 lookup local; ip -n $DIR rule add pref 100 lookup local
  else
    ip -n $DIR rule add pref 0 lookup local; ip -n $DIR rule del pref 100 lookup local
    ip -n $DIR rule del pref 10; ip -n $DIR route flush table 177
    ip netns exec $DIR nft delete table ip benchdr
    ip netns exec $DIR sysctl -qw $FWD=0
  fi
}

# One measurement: $1 = label (userspace | fast | nft | route).
run() {
  local label=$1
  case $label in
    userspace) start_gw --fast-path off ;;
    fast)
      start_gw --fast-path on
      want='fast path on'; [[ $FAMILY == 6 ]] && want='fast path on for IPv4 and IPv6'
      grep -q "$want" "$W/gw.log" || { echo "fast path did not come on: $(cat "$W/gw.log")" >&2; exit 1; } ;;
    route) plain_dr 1 ;;
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
  local bind=$RIP; [[ $METHOD == dr ]] && bind=$VIP
  ip netns exec $RS iperf3 -s -1 -B $bind >/dev/null 2>&1 & local s=$!
  sleep 0.3
  local a b; a=$(pkts)
  ip netns exec $CL iperf3 -c $VIP -t "$SECS" -J >"$W/iperf.json" || true
  b=$(pkts)
  wait $s 2>/dev/null || true
  local queued=null
  if [[ $label == nft ]]; then
    ip netns exec $DIR nft delete table $NFT benchdnat
    ip netns exec $DIR sysctl -qw $FWD=0
  elif [[ $label == route ]]; then
    plain_dr 0
  else
    stop_gw
    queued=$(grep -o 'gateway: packets=[0-9]*' "$W/gw.log" | tail -1 | cut -d= -f2)
  fi
  node -e "
    const j = JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8'));
    const bps = Math.round(j.end?.sum_received?.bits_per_second ?? 0);
    console.log(JSON.stringify({ label: process.argv[2], method: process.argv[8], family: Number(process.argv[7]), offload: process.argv[6], seconds: Number(process.argv[3]), bps, director_rx_packets: Number(process.argv[4]),
      director_pps: Math.round(Number(process.argv[4]) / Number(process.argv[3])), queued: process.argv[5] === 'null' ? null : Number(process.argv[5]) }));
  " "$W/iperf.json" "$label" "$SECS" "$((b - a))" "${queued:-null}" "${OFFLOAD:-on}" "$FAMILY" "$METHOD" | tee -a "$OUT"
}

: >"$OUT"
DEFAULT_LABELS="userspace fast nft"; [[ $METHOD == dr ]] && DEFAULT_LABELS="userspace fast route"
for round in $(seq "$ROUNDS"); do
  for label in ${LABELS:-$DEFAULT_LABELS}; do run "$label"; done
done
node -e "
  const rows = require('fs').readFileSync(process.argv[1], 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const med = (l, k) => { const v = rows.filter((r) => r.label === l).map((r) => r[k]).sort((a, b) => a - b); return v.length ? v[v.length >> 1] : NaN; };
  // The kernel's own path for the method: plain nft DNAT (NAT), a marked policy route (DR).
  const ref = process.argv[2] === 'dr' ? 'route' : 'nft', refName = ref === 'route' ? 'the kernel\'s plain DR route' : 'plain nft DNAT';
  const m = Object.fromEntries(['userspace', 'fast', ref].map((l) => [l, { bps: med(l, 'bps'), pps: med(l, 'director_pps') }]));
  for (const [l, v] of Object.entries(m)) console.log(l.padEnd(10), (v.bps / 1e9).toFixed(2), 'Gbit/s', (v.pps / 1e3).toFixed(0), 'kpackets/s received by the director (medians of', rows.filter((r) => r.label === l).length, 'runs)');
  const r = (a, b, k) => (m[a][k] / m[b][k]).toFixed(2);
  console.log('bytes/s: fast / userspace =', r('fast', 'userspace', 'bps'), '  fast /', refName, '=', r('fast', ref, 'bps'), ref === 'nft' ? '(target >= 0.8)' : '');
  console.log('packets/s: fast / userspace =', r('fast', 'userspace', 'pps'), '  fast /', refName, '=', r('fast', ref, 'pps'));
" "$OUT" "$METHOD"
