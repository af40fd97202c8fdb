#!/usr/bin/env bash
# New TCP connections per second through a NAT director (the fast path), same
# traffic for every path: bench/gateway/connrate.c's client keeps INFLIGHT
# connections open (connect, 5-byte request, 5-byte reply, the server closes)
# to VIP:80 -> two NAT real servers :8080 (VIP local on the director's lo, as
# fastpath.sh), counted for SECONDS after a 1 s warm-up, at most MAXCONNS:
#   fast       wasmvsd gateway --fast-path on (the NEW packet through NFQUEUE and the core, the ct mark
#              picks the DNAT; conntrack carries the rest), the queue read and decided on a thread of its
#              own on the native core (--queue-threads on, the default)
#   cnfq       the C NFQUEUE consumer of shared/baselines/nfq_bench.c (one verdict per packet: it must
#              answer each SYN before the next can arrive) on the same queue and the same
#              `--ctstate NEW` rule, plain nft DNAT (round robin over the two real servers) doing the NAT
#   nft        the same nft DNAT with no queue (the kernel's own ceiling)
#   fastnode   fast with --queue-threads off (the queue read and decided on Node's thread; LABELS=... to
#              include it)
#   userspace  wasmvsd gateway --fast-path off (every packet through the core; LABELS=... to include it)
#   cnfq1s     diagnostic (LABELS=... to include it): cnfq with the fast path's conntrack timeout policy on
#              its DNAT rule (TCP TIME_WAIT and CLOSE 1 s instead of 120 s and 10 s), so its entries die and
#              are reaped inside the round as the fast path's do; no event listener, so no destroy events
# Root; its own namespaces (198.18.0.0/15), removed at exit. Run it under the bench lock:
#   ROUNDS=3 flock /tmp/wasmvs-bench.lock bash bench/gateway/connrate.sh SECONDS OUT.jsonl [INFLIGHT] [MAXCONNS]
# Knobs: GW_NODE_FLAGS="--cpu-prof --cpu-prof-dir=DIR" (node flags of the gateway's process, e.g. a
# profile), GW_ENV="NAME=VALUE ..." (its environment), KEEP_LOG=FILE (its log of the last run kept),
# CHANGES=N (fast and userspace rounds: N times, from 1.5 s into the round, a third real server
# 198.18.41.4:8080 is added with `wasmvsadm -a`, and deleted with `-d` 0.3 s later, as a health
# checker does under load; each row then carries "changes" and the gateway's counter line).
# Prints one JSON line per run (rounds interleave the paths, a fresh
# gateway and an empty conntrack table each), then the medians and ratios.
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/gateway/common.sh
SECS=${1:-5}; OUT=${2:-bench/out/gateway-connrate.jsonl}; INFLIGHT=${3:-32}; MAXCONNS=${4:-200000}; ROUNDS=${ROUNDS:-3}
BASE=${BASELINES:-$(pwd)/../shared/baselines}
T=gcr$(( $$ % 10000 ))
CL=${T}c DIR=${T}d RS=${T}r
VIP=198.18.42.1 R1=198.18.41.2 R2=198.18.41.3 R3=198.18.41.4 Q=0 CHANGES=${CHANGES:-0}
W=$(mktemp -d)
mkdir -p "$(dirname "$OUT")"
PIDS=() GW=""
cleanup() {
  [[ -n $GW ]] && kill "$GW" 2>/dev/null && wait "$GW" 2>/dev/null || true
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true
  for n in $CL $DIR $RS; do ip netns del "$n" 2>/dev/null || true; done
  [[ -n ${KEEP_LOG:-} ]] && cp "$W/gw.log" "$KEEP_LOG" 2>/dev/null; rm -rf "$W"
}
trap cleanup EXIT
gcc -O2 -Wall -o "$W/connrate" bench/gateway/connrate.c
gcc -O2 -o "$W/nfq_bench" "$BASE/nfq_bench.c" -lnetfilter_queue -lnfnetlink

for n in $CL $DIR $RS; do ip netns add "$n"; ip -n "$n" link set lo up; done
ip link add ${T}c0 netns $CL type veth peer name ${T}d0 netns $DIR
ip link add ${T}d1 netns $DIR type veth peer name ${T}r0 netns $RS
ip -n $CL addr add 198.18.40.2/24 dev ${T}c0; ip -n $CL link set ${T}c0 up
ip -n $DIR addr add 198.18.40.1/24 dev ${T}d0; ip -n $DIR link set ${T}d0 up
ip -n $DIR addr add 198.18.41.1/24 dev ${T}d1; ip -n $DIR link set ${T}d1 up
ip -n $RS addr add $R1/24 dev ${T}r0; ip -n $RS addr add $R2/24 dev ${T}r0; ip -n $RS addr add $R3/24 dev ${T}r0; ip -n $RS link set ${T}r0 up
ip -n $DIR addr add $VIP/32 dev lo
ip -n $CL route add $VIP/32 via 198.18.40.1
ip -n $RS route add default via 198.18.41.1
# Every connection its own client port (the server closes first: TIME_WAIT is the server's).
ip netns exec $CL sysctl -qw net.ipv4.ip_local_port_range="10000 65000"
ip netns exec $RS sysctl -qw net.core.somaxconn=4096 net.ipv4.tcp_max_syn_backlog=4096
ip netns exec $DIR sysctl -qw net.netfilter.nf_conntrack_acct=1 2>/dev/null || true

# The director's conntrack table emptied between runs (entries linger 120 s in TIME_WAIT), through our addon.
ctflush() {
  [[ -f $CTFEED ]] || { echo "connrate: no built ctfeed.js (npm run build)" >&2; exit 1; }
  ctflush_ns $DIR
}
ctcount() { ip netns exec $DIR cat /proc/sys/net/netfilter/nf_conntrack_count; }
# id_sequence (packets ever queued) and the two drop counters of queue Q.
qstat() { ip netns exec $DIR awk -v q=$Q '$1 == q { print $8, $6, $7 }' /proc/net/netfilter/nfnetlink_queue 2>/dev/null || true; }
# utime and stime (clock ticks) of a process.
cpu() { awk '{ print $14, $15 }' "/proc/$1/stat" 2>/dev/null || echo 0 0; }
# The whole machine's busy and idle clock ticks (every process, softirq and kernel thread: the client, the
# servers and the kernel's conntrack work too; other jobs on the machine as well, so read it beside load1).
mcpu() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat; }
adm() { node bin/wasmvsadm.js --socket "$W/gw.sock" "$@"; }
start_gw() {
  rm -f "$W/gw.rules" "$W/gw.sock"
  ip netns exec $DIR env ${GW_ENV:-} node ${GW_NODE_FLAGS:-} bin/wasmvsd.js gateway --socket "$W/gw.sock" --state "$W/gw.rules" --queue $Q "$@" >"$W/gw.log" 2>&1 &
  GW=$!
  for _ in $(seq 100); do adm -L -n >/dev/null 2>&1 && break; sleep 0.1; done
  adm -A -t $VIP:80 -s rr
  adm -a -t $VIP:80 -r $R1:8080 -m
  adm -a -t $VIP:80 -r $R2:8080 -m
  sleep 0.5
}
stop_gw() { kill "$GW"; wait "$GW" || true; GW=""; }
nft_dnat() {
  ip netns exec $DIR sysctl -qw net.ipv4.ip_forward=$1
  if [[ $1 == 1 ]]; then
    # $2 = 1s: the fast path's ct timeout policy (fastpath.ts natRule) on the DNAT rule too.
    local tw="" set=""
    [[ ${2:-} == 1s ]] && tw='ct timeout tw1s { protocol tcp; l3proto ip; policy = { time_wait : 1, close : 1 }; }' set='ct timeout set "tw1s"'
    ip netns exec $DIR nft -f - <<EOF2
table ip benchdnat {
  $tw
  chain pre { type nat hook prerouting priority dstnat; policy accept; ip daddr $VIP tcp dport 80 $set dnat to numgen inc mod 2 map { 0 : $R1 . 8080, 1 : $R2 . 8080 }; }
}
EOF2
  else ip netns exec $DIR nft delete table ip benchdnat; fi
}
# The gateway's own fast-path rule, for the C consumer: conntrack's NEW packets of the VIP to the queue.
nfq_rule() { ip netns exec $DIR iptables -t mangle "$1" PREROUTING -d $VIP/32 -p tcp --dport 80 -m conntrack --ctstate NEW -j NFQUEUE --queue-num $Q --queue-bypass; }

# One measurement: $1 = label.
run() {
  local label=$1 consumer=""
  ctflush
  case $label in
    fast|fastnode)
      if [[ $label == fastnode ]]; then start_gw --fast-path on --queue-threads off; else start_gw --fast-path on; fi # its log lines are written asynchronously: bounded wait
      for _ in $(seq 50); do grep -q 'fast path on' "$W/gw.log" && break; sleep 0.1; done
      grep -q 'fast path on' "$W/gw.log" || { echo "fast path did not come on: $(cat "$W/gw.log")" >&2; exit 1; }
      if [[ $label == fast ]]; then for _ in $(seq 50); do grep -q 'thread of its own' "$W/gw.log" && break; sleep 0.1; done; fi
      if [[ $label == fast ]] && ! grep -q 'thread of its own' "$W/gw.log"; then echo "queue threads did not come on: $(cat "$W/gw.log")" >&2; exit 1; fi
      consumer=$GW ;;
    userspace) start_gw --fast-path off; consumer=$GW ;;
    cnfq|cnfq1s)
      if [[ $label == cnfq1s ]]; then nft_dnat 1 1s; else nft_dnat 1; fi
      nfq_rule -A
      ip netns exec $DIR "$W/nfq_bench" 1 128 $((SECS + 8)) >"$W/nfq.out" 2>&1 & consumer=$!; PIDS+=($consumer)
      sleep 0.3 ;;
    nft)
      # iptables-nft's built-in chains a gateway or C consumer run left behind (empty, still hooked): gone.
      for t in raw mangle; do ip netns exec $DIR nft delete table ip $t 2>/dev/null || true; done
      nft_dnat 1 ;;
    *) echo "unknown label $label" >&2; exit 2 ;;
  esac
  ip netns exec $RS "$W/connrate" server $R1 8080 $((SECS + 8)) 2>/dev/null & local s1=$!
  ip netns exec $RS "$W/connrate" server $R2 8080 $((SECS + 8)) 2>/dev/null & local s2=$!
  PIDS+=($s1 $s2)
  sleep 0.3
  local q0 c0="0 0" m0 load; q0=$(qstat); [[ -n $consumer ]] && c0=$(cpu "$consumer"); m0=$(mcpu)
  load=$(cut -d' ' -f1 /proc/loadavg)
  local chg="" s3=""
  if [[ $CHANGES -gt 0 && ( $label == fast || $label == userspace ) ]]; then
    ip netns exec $RS "$W/connrate" server $R3 8080 $((SECS + 8)) 2>/dev/null & s3=$!; PIDS+=($s3)
    ( sleep 1.5
      for _ in $(seq "$CHANGES"); do adm -a -t $VIP:80 -r $R3:8080 -m; sleep 0.3; adm -d -t $VIP:80 -r $R3:8080; sleep 0.3; done ) & chg=$!
  fi
  ip netns exec $CL "$W/connrate" client $VIP 80 "$SECS" "$MAXCONNS" "$INFLIGHT" 1 >"$W/client.json"
  [[ -n $chg ]] && wait "$chg"
  [[ -n $s3 ]] && { kill "$s3" 2>/dev/null || true; wait "$s3" 2>/dev/null || true; }
  local q1 c1="0 0" m1 ct; q1=$(qstat); [[ -n $consumer ]] && c1=$(cpu "$consumer"); m1=$(mcpu); ct=$(ctcount)
  kill $s1 $s2 2>/dev/null || true; wait $s1 $s2 2>/dev/null || true
  local extra='{}'
  case $label in
    fast|fastnode|userspace)
      stop_gw
      extra=$(node -e "const l = require('fs').readFileSync(process.argv[1], 'utf8'); const m = l.match(/gateway: packets=.*/g);
        console.log(JSON.stringify({ summary: m ? m[m.length - 1] : null }))" "$W/gw.log") ;;
    cnfq|cnfq1s) kill "$consumer" 2>/dev/null || true; wait "$consumer" 2>/dev/null || true; nfq_rule -D; nft_dnat 0 ;;
    nft) nft_dnat 0 ;;
  esac
  node -e "
    const [file, label, q0, q1, c0, c1, ct, load, extra, m0, m1] = process.argv.slice(1);
    const c = JSON.parse(require('fs').readFileSync(file, 'utf8'));
    const q = (s) => (s.trim() ? s.trim().split(/\s+/).map(Number) : [0, 0, 0]);
    const [a, b] = [q(q0), q(q1)];
    const [u0, s0] = c0.split(' ').map(Number), [u1, s1] = c1.split(' ').map(Number);
    const ticks = u1 + s1 - u0 - s0;
    // The machine's busy and idle ticks over the same time (all CPUs).
    const [mb0, mi0] = m0.split(' ').map(Number), [mb1, mi1] = m1.split(' ').map(Number);
    // The consumer's CPU while the client ran (warm-up included), per connection started: user and
    // system time (the verdict's sendmsg carries the packet on through the director in the consumer's context).
    console.log(JSON.stringify({ label, ...(Number(process.env.CHANGES) > 0 && (label === 'fast' || label === 'userspace') ? { changes: Number(process.env.CHANGES) } : {}), ...c, queued: b[0] - a[0], queue_drops: b[1] - a[1] + b[2] - a[2],
      consumer_cpu_s: ticks / 100, consumer_cpu_us_per_conn: c.started ? Math.round(ticks * 1e4 / c.started) : null,
      consumer_user_us_per_conn: c.started ? Math.round((u1 - u0) * 1e4 / c.started) : null,
      machine_cpu_us_per_conn: c.started ? Math.round((mb1 - mb0) * 1e4 / c.started) : null,
      machine_idle: Math.round((mi1 - mi0) / (mb1 - mb0 + mi1 - mi0) * 100) / 100,
      conntrack_entries: Number(ct), load1: Number(load), ...JSON.parse(extra) }));
  " "$W/client.json" "$label" "$q0" "$q1" "$c0" "$c1" "$ct" "$load" "$extra" "$m0" "$m1" | tee -a "$OUT"
}

: >"$OUT"
for round in $(seq "$ROUNDS"); do
  for label in ${LABELS:-fast cnfq nft}; do run "$label"; done
done
node -e "
  const rows = require('fs').readFileSync(process.argv[1], 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const med = (l, k) => { const v = rows.filter((r) => r.label === l).map((r) => r[k]).sort((a, b) => a - b); return v.length ? v[(v.length - 1) >> 1] : NaN; };
  const labels = [...new Set(rows.map((r) => r.label))];
  for (const l of labels) console.log(l.padEnd(10), String(med(l, 'cps')).padStart(7), 'connections/s  p50', med(l, 'p50_us'), 'us  p99', med(l, 'p99_us'),
    'us  consumer', med(l, 'consumer_cpu_us_per_conn') ?? '-', 'us CPU/conn  machine', med(l, 'machine_cpu_us_per_conn'), 'us/conn idle', med(l, 'machine_idle'), ' (median of', rows.filter((r) => r.label === l).length, 'runs:',
    rows.filter((r) => r.label === l).map((r) => r.cps).join(' ') + ')');
  const r = (a, b) => (med(a, 'cps') / med(b, 'cps')).toFixed(2);
  if (labels.includes('cnfq')) console.log('fast / C NFQUEUE consumer =', r('fast', 'cnfq'), '(target >= 0.9)');
  if (labels.includes('cnfq') && labels.includes('fastnode')) console.log('fast, on Node\'s thread / C NFQUEUE consumer =', r('fastnode', 'cnfq'), '  queue threads / Node\'s thread =', r('fast', 'fastnode'));
  if (labels.includes('cnfq1s')) console.log('fast / C consumer with 1 s TIME_WAIT (diagnostic) =', r('fast', 'cnfq1s'), '  C 1 s / C =', r('cnfq1s', 'cnfq'));
  if (labels.includes('nft')) console.log('fast / plain nft DNAT =', r('fast', 'nft'), '  C consumer / plain nft DNAT =', r('cnfq', 'nft'));
" "$OUT"
