# Sourced by the gateway benches (from the repository root, after their `cd`).

CTFEED=dist/hosts/gateway/ctfeed.js

# Empty the conntrack table of network namespace $1 through our addon (no conntrack tool needed);
# needs a built $CTFEED (npm run build): the caller checks and says what happens without it.
ctflush_ns() {
  ip netns exec "$1" node --input-type=module -e "const { loadConntrack } = await import('$(pwd)/$CTFEED'); const c = new (loadConntrack())({}); c.flush(0, 0); c.close();"
}
