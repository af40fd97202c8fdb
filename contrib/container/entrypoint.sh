#!/bin/sh
# Entrypoint of the wasmvsd image: the same command line as the systemd units
# (contrib/systemd), the same FHS paths. The mode is the first argument
# (proxy, the default, or gateway); further arguments go to wasmvsd.
#   /etc/wasmvs/wasmvsd.rules   --config, re-read on SIGHUP (mount it read-only)
#   /var/lib/wasmvs/            --state, the rules as applied (a volume)
#   /run/wasmvs/wasmvsd.sock    --socket, for `wasmvsadm` (docker exec, or the
#                               directory mounted from the host)
# wasmvsd replaces this shell (exec), so it is PID 1 and gets the engine's
# SIGTERM (stop) and SIGHUP (`kill -s HUP`) itself.
set -eu
mode=proxy
case "${1:-}" in
  proxy|gateway) mode=$1; shift ;;
  -*|'') ;;
  *) exec "$@" ;;  # any other command (a shell, wasmvsadm) runs as given
esac
umask 077
mkdir -p /run/wasmvs /var/lib/wasmvs /etc/wasmvs
chmod 0700 /run/wasmvs /var/lib/wasmvs
# No configuration mounted: start from an empty one (the state file still applies).
[ -e /etc/wasmvs/wasmvsd.rules ] || : > /etc/wasmvs/wasmvsd.rules
if [ "$mode" = gateway ]; then set -- --fail-open "$@"; fi
exec wasmvsd "$mode" --socket /run/wasmvs/wasmvsd.sock --state /var/lib/wasmvs/wasmvsd.rules \
  --config /etc/wasmvs/wasmvsd.rules "$@"
