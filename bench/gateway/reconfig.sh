#!/usr/bin/env bash
# Reconfiguring at scale: loading N services and then changing one, through
# `wasmvsd gateway` (fast path on) against kube-proxy-shaped iptables rules
# (shared/baselines/iptables_scale.sh, iptables-nft and iptables-legacy), in
# throw-away namespaces, same run:
#   ROUNDS=3 flock /tmp/wasmvs-bench.lock bash bench/gateway/reconfig.sh OUT.jsonl [N...]   (root; default N = 100 20000)
# wasmvs: N services on scattered VIPs, two NAT real servers each, one
# `wasmvsadm -R`; "ready" is until the gateway's ipset holds every VIP (the
# rules are in place); then CHANGES back-to-back `-e` weight changes and
# CHANGES `-a` of a new real server, each timed as the operator sees it
# (wasmvsadm's wall time, process start included), and the daemon's CPU per
# change (user + system ticks over the changes and a settle of 2 s, less its
# idle rate, measured over 3 s before, for as long). Every loop is bounded.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-bench/out/gateway-reconfig.jsonl}; shift || true
SIZES=("$@"); [ ${#SIZES[@]} -gt 0 ] || SIZES=(100 20000)
CHANGES=${CHANGES:-10}
BASE=${BASELINES:-$(pwd)/../shared/baselines}
[ -f "$BASE/iptables_scale.sh" ] || BASE=/work/shared/baselines
[ -f dist/cli/wasmvsd.js ] || { echo "bench/gateway/reconfig.sh: run npm run build first" >&2; exit 2; }
NS=rcf$$; T=$(mktemp -d); G=
cleanup() { [ -n "$G" ] && kill "$G" 2>/dev/null; wait 2>/dev/null || true; ip netns del $NS 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
now() { date +%s.%N; }
num() { printf "%.4f" "$(echo "scale=6; $1" | bc)"; }
sub() { num "$1 - $2"; }
vip() { local a=$(( (($1 - 1) * 40503 + 7) & 65535 )); echo "198.19.$(( a >> 8 )).$(( a & 255 ))"; }
: > "$OUT"
for round in $(seq 1 "${ROUNDS:-1}"); do
for N in "${SIZES[@]}"; do
  for mode in nft legacy; do
    line=$(unshare -n bash "$BASE/iptables_scale.sh" "$N" $mode)
    echo "{\"impl\":\"kube-iptables-$mode\",\"round\":$round,$(echo "$line" | sed -E 's/^[a-z]+ //; s/([a-z_]+)=([0-9.]+)s?/"\1":\2/g; s/ /,/g')}" | tee -a "$OUT"
  done

  ip netns add $NS; ip -n $NS link set lo up
  for ((s = 1; s <= N; s++)); do
    v=$(vip $s); echo "-A -t $v:80 -s wlc"; echo "-a -t $v:80 -r 198.18.41.2:8080 -m"; echo "-a -t $v:80 -r 198.18.41.3:8080 -m"
  done > "$T/rules"
  rm -f "$T/sock" "$T/state"
  ip netns exec $NS node bin/wasmvsd.js gateway --socket "$T/sock" --state "$T/state" --queue 3 > "$T/gw.log" 2>&1 & G=$!
  for i in $(seq 1 100); do [ -S "$T/sock" ] && break; sleep 0.1; done
  [ -S "$T/sock" ] || { echo "wasmvsd gateway did not start: $(cat "$T/gw.log")" >&2; exit 1; }
  adm() { node bin/wasmvsadm.js --socket "$T/sock" "$@"; }
  t0=$(now); adm -R < "$T/rules"; t1=$(now)
  ready=null
  for i in $(seq 1 600); do
    n=$(ip netns exec $NS ipset list -t wasmvs-gw4-fresh 2>/dev/null | sed -n 's/Number of entries: //p' || true)
    # Below 17 VIPs the rules name them one by one (no set): ready when the last VIP is in the chain.
    if [ "${n:-0}" -ge "$N" ] || ip netns exec $NS iptables -t mangle -S WASMVS-GW 2>/dev/null | grep -q "$(vip "$N")/32"; then ready=$(sub "$(now)" "$t0"); break; fi
    sleep 0.05
  done
  sleep 2
  c0=$(ticks $G); i0=$(now); sleep 3; idle=$(( $(ticks $G) - c0 )); idle_s=$(sub "$(now)" "$i0")
  v1=$(vip 1)
  c0=$(ticks $G); e0=$(now)
  for w in $(seq 2 $((CHANGES + 1))); do adm -e -t "$v1:80" -r 198.18.41.2:8080 -m -w $w; done
  e1=$(now)
  for i in $(seq 1 "$CHANGES"); do adm -a -t "$v1:80" -r "198.18.42.$i:8080" -m; done
  e2=$(now); sleep 2; c1=$(ticks $G); w=$(sub "$(now)" "$e0")
  hz=$(getconf CLK_TCK)
  # less what the daemon spends idle (its once-a-second timers: expiry, rate estimation, the conntrack feed) over as long
  cpu_ms=$(num "(($c1 - $c0) - $idle * $w / $idle_s) * 1000 / $hz / (2 * $CHANGES)")
  idle_ms_s=$(num "$idle * 1000 / $hz / $idle_s")
  echo "{\"impl\":\"wasmvs-gateway-fast\",\"round\":$round,\"services\":$N,\"restore_ack\":$(sub "$t1" "$t0"),\"ready\":$ready,\"edit_each\":$(num "($e1 - $e0) / $CHANGES"),\"add_each\":$(num "($e2 - $e1) / $CHANGES"),\"daemon_cpu_ms_per_change\":$cpu_ms,\"daemon_idle_cpu_ms_per_s\":$idle_ms_s,\"load1\":$(cut -d' ' -f1 /proc/loadavg)}" | tee -a "$OUT"
  kill $G; wait $G || true; G=
  ip netns del $NS
done
done
node -e "
  const rows = require('fs').readFileSync(process.argv[1], 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const med = (xs) => { const s = xs.filter((x) => typeof x === 'number').sort((a, b) => a - b); return s.length ? s[(s.length - 1) >> 1] : NaN; };
  const get = (impl, n, k) => med(rows.filter((r) => r.impl === impl && r.services === n).map((r) => r[k]));
  const sizes = [...new Set(rows.map((r) => r.services))].sort((a, b) => a - b);
  for (const n of sizes) {
    const g = (k) => get('wasmvs-gateway-fast', n, k);
    console.log(n + ' services: wasmvs -R ack ' + g('restore_ack') + ' s, ready ' + g('ready') + ' s, -e ' + g('edit_each') + ' s, -a ' + g('add_each') + ' s, daemon CPU ' + g('daemon_cpu_ms_per_change') + ' ms/change (idle ' + g('daemon_idle_cpu_ms_per_s') + ' ms/s)');
    for (const m of ['nft', 'legacy']) {
      const k = (x) => get('kube-iptables-' + m, n, x);
      console.log('  iptables-' + m + ': restore ' + k('full_restore') + ' s, add one rule ' + k('add_one_rule') + ' s, restore +1 ' + k('full_restore_plus_one') +
        ' s; wasmvs -a / iptables -A = ' + (g('add_each') / k('add_one_rule')).toFixed(2) + ', ready / restore = ' + (g('ready') / k('full_restore')).toFixed(2));
    }
  }
" "$OUT"
