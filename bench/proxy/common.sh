# Sourced by bench/proxy/*.sh (from the repository root): the tools a script needs, the build and the
# naive Node proxy baseline checked, loopback up, a scratch dir $T and the background $PIDS cleaned on exit.
# Usage: proxy_bench_setup NAME BUILT_FILE TOOL...
proxy_bench_setup() {
  local name=$1 built=$2 t; shift 2
  NODE_PROXY=${NODE_PROXY:-$(pwd)/../shared/baselines/node_proxy.mjs}
  for t in "$@"; do command -v "$t" >/dev/null || { echo "bench/proxy/$name: $t is missing (apt-get install $t)"; exit 2; }; done
  [ -f "$built" ] || { echo "bench/proxy/$name: run \`npm run build\` first"; exit 2; }
  [ -f "$NODE_PROXY" ] || { echo "bench/proxy/$name: $NODE_PROXY is missing"; exit 2; }
  ip link set lo up
  T=$(mktemp -d)
  PIDS=()
  trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$T"' EXIT
}

# HAProxy `mode tcp` configuration: nbthread $1 (default 1), then one `listen` per "BIND_PORT:SERVER_PORT"
# argument on 127.0.0.1; TIMEOUT (default 60s) for client and server. The same settings for every bench.
haproxy_cfg() {
  local n=${1:-1} l; shift
  printf 'global\n  nbthread %s\n  maxconn 9000\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client %s\n  timeout server %s\n' "$n" "${TIMEOUT:-60s}" "${TIMEOUT:-60s}"
  for l in "$@"; do printf 'listen l%s\n  bind 127.0.0.1:%s\n  server s1 127.0.0.1:%s\n' "${l%%:*}" "${l%%:*}" "${l##*:}"; done
}

# The paths of round $1 (1, 2, ...) in turn: NAMES rotated by one more place each round, so no path always
# runs right after the same neighbour (a busy JS proxy's garbage and timers outlast its own measurement).
rotated() {
  local r=$1; shift
  local a=("$@") i
  for ((i = 0; i < ${#a[@]}; i++)); do printf '%s ' "${a[$(( (i + r - 1) % ${#a[@]} ))]}"; done
}
