#!/usr/bin/env bash
# wasmvsadm -R and -a against iptables-legacy, measured in one run inside a throw-away network namespace:
#   sudo bash bench/cli/run.sh [SERVICES] [DESTS]      (default 20000 8; root for unshare -n)
# Needs `npm run build` first, iptables-legacy, python3, bc, and the baseline
# scripts of ../shared/baselines (next to the repository, as in CI).
# Writes bench/out/cli.json and bench/REPORT-cli.md (bench/out/REPORT-cli.md for
# other sizes, so a small run never replaces the committed report).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
if [ -z "${WASMVS_BENCH_NETNS:-}" ]; then
  exec unshare -n env WASMVS_BENCH_NETNS=1 bash "$0" "$@"
fi
ip link set lo up
BASELINES="${WASMVS_BASELINES:-$ROOT/../shared/baselines}"
[ -f "$BASELINES/iptables_scale.sh" ] || BASELINES=/work/shared/baselines
[ -f "$BASELINES/iptables_scale.sh" ] || { echo "bench/cli: iptables_scale.sh not found (set WASMVS_BASELINES)" >&2; exit 2; }
exec node "$ROOT/bench/cli/bench.mjs" --baselines "$BASELINES" "$@"
